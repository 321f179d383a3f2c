"""Policy-gradient features: a prompt's feature from its GRPO group.

A GRPO group is ``G`` completions of one prompt with rewards; advantages are the rewards
standardised within the group (as TRL does). The group's feature is the projected gradient of
``(1/G) sum_j A_j NLL_j``, i.e. of minus the advantage-weighted log-likelihood of its
completions (`curricula.influence.features.policy_gradient_features`). The in-training check gets
groups from the trainer; offline, `sample_groups` generates and verifies them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from curricula.influence.batching import TokenSequence, prompt_token_ids
from curricula.influence.features import GradientFeaturizer, policy_gradient_features


@dataclass
class Group:
    """One prompt's completions (token ids, response only, EOS included if generated) and rewards."""

    row: dict
    completion_ids: list[list[int]]
    rewards: list[float]


def group_advantages(rewards: Sequence[float], scale: bool = True) -> torch.Tensor:
    """TRL's group advantages: ``(r - mean) / (std + 1e-4)``; unscored (NaN) rewards get 0."""
    values = torch.tensor([math.nan if r is None else float(r) for r in rewards], dtype=torch.float64)
    scored = values[~torch.isnan(values)]
    if len(scored) < 2:
        return torch.zeros(len(values))
    centred = values - scored.mean()
    if scale:
        centred = centred / (scored.std() + 1e-4)
    return torch.nan_to_num(centred, nan=0.0).float()


def group_sequences(tokenizer, groups: Sequence[Group]) -> tuple[list[TokenSequence], torch.Tensor, torch.Tensor]:
    """Completion rows of all groups: ``(sequences, advantages, group_index)``."""
    sequences, advantages, index = [], [], []
    for g, group in enumerate(groups):
        prompt = prompt_token_ids(tokenizer, group.row["prompt"])
        for completion, advantage in zip(group.completion_ids, group_advantages(group.rewards).tolist()):
            sequences.append(TokenSequence(prompt + list(completion), len(prompt)))
            advantages.append(advantage)
            index.append(g)
    return sequences, torch.tensor(advantages), torch.tensor(index, dtype=torch.long)


def group_features(featurizer: GradientFeaturizer, tokenizer, groups: Sequence[Group]) -> torch.Tensor:
    """``[n_groups, dim]`` policy-gradient features. Rows with zero advantage (every row of a
    zero-variance group) contribute nothing, so they are not even extracted."""
    sequences, advantages, index = group_sequences(tokenizer, groups)
    active = [i for i, (s, a) in enumerate(zip(sequences, advantages.tolist())) if a != 0 and s.response_length > 0]
    rows = torch.zeros(len(sequences), featurizer.dim)
    if active:
        features, _ = featurizer.features([sequences[i] for i in active])
        rows[active] = features
    return policy_gradient_features(rows, advantages, index, len(groups))


def sample_groups(
    model,
    tokenizer,
    rows: Sequence[dict],
    num_generations: int,
    reward: Callable[[list[dict], list[str]], list[float]],
    max_new_tokens: int = 16,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 64,
) -> list[Group]:
    """Sample ``num_generations`` completions per row and score them with ``reward``
    (`curricula.rollouts.sample_prompts`, ``batch_size // num_generations`` rows per batch).

    Args:
        reward: ``(rows, completions) -> rewards``, one row (repeated) per completion; see
            `verifier_reward` to use rlvr's verifiers.
    """
    from curricula.rollouts import SamplingSetup, sample_prompts

    rows = list(rows)
    setup = SamplingSetup(
        batch_size=max(1, batch_size // num_generations) * num_generations,
        max_new_tokens=max_new_tokens,
        # Prompt ids as the trainer tokenizes them; generation stops at the tokenizer's EOS only.
        encode=lambda prompts: [prompt_token_ids(tokenizer, p) for p in prompts],
        generate_options={"eos_token_id": tokenizer.eos_token_id},
        drop_pad=True,
    )
    samples = sample_prompts(
        model,
        tokenizer,
        [r["prompt"] for r in rows],
        num_generations,
        temperature,
        seed,
        lambda owners, _ids, completions: reward([rows[i] for i in owners], completions),
        setup,
    )
    return [Group(row, s.completion_ids, list(s.rewards)) for row, s in zip(rows, samples)]


def verifier_reward(verifiers: Sequence[str] = ("exact",)) -> Callable[[list[dict], list[str]], list[float]]:
    """A ``reward`` for `sample_groups` from rlvr verifier names (weighted as in training)."""
    from curricula.rollouts import weighted_rewards
    from rewards import make_reward_funcs

    funcs, weights = make_reward_funcs(list(verifiers))

    def reward(rows: list[dict], completions: list[str]) -> list[float]:
        columns = {k: [r.get(k) for r in rows] for k in rows[0] if k != "prompt"}
        return weighted_rewards(
            funcs, weights, [r["prompt"] for r in rows], completions, [[] for _ in completions], columns
        )

    return reward
