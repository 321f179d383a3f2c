"""Sampling completions and scoring them with the run's verifiers, as TRL does in training.

Below `rlvr` because curricula's scorers (`curricula.difficulty.sample_rollouts`), the influence
policy features (`curricula.influence.policy.sample_groups`), compat's student samples
(`curricula.likelihood.StudentLikelihood.sample`) and the toy world's pass rates
(`rlvr.toy.evaluate`) all sample through `sample_prompts`; `rlvr.evaluate` re-exports these names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch


def render_prompts(prompts: Sequence[Any], tokenizer) -> list[str]:
    """Plain prompts pass through; chat prompts go through the tokenizer's chat template."""
    out = []
    for p in prompts:
        if isinstance(p, str):
            out.append(p)
        else:
            out.append(tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True))
    return out


def weighted_rewards(
    reward_funcs: Sequence[Callable],
    weights: Sequence[float],
    prompts: list,
    completions: list[str],
    completion_ids: list[list[int]],
    columns: dict[str, list],
) -> list[float]:
    """Sum of weight x reward per completion, as TRL computes it (None -> skipped; all None -> nan)."""
    totals = [0.0] * len(completions)
    scored = [False] * len(completions)
    for func, weight in zip(reward_funcs, weights):
        values = func(
            prompts=prompts,
            completions=completions,
            completion_ids=completion_ids,
            log_metric=lambda *a, **k: None,
            log_extra=lambda *a, **k: None,
            trainer_state=None,
            **columns,
        )
        for i, v in enumerate(values):
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                totals[i] += weight * float(v)
                scored[i] = True
    return [t if s else math.nan for t, s in zip(totals, scored)]


def sampling_options(temperature: float) -> dict:
    """``generate``'s sampling arguments: greedy at temperature 0, else plain sampling (no top-k/p)."""
    if temperature == 0:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}


def encode_prompts(tokenizer, prompts: list) -> list[list[int]]:
    """Each prompt's token ids, unpadded. As TRL does: plain prompts get the tokenizer's special
    tokens (e.g. BOS); a rendered chat template already contains them."""
    chat = not isinstance(prompts[0], str)
    return list(tokenizer(render_prompts(prompts, tokenizer), add_special_tokens=not chat)["input_ids"])


def left_pad(id_lists: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, left-padded with ``pad_id`` (generation needs left padding)."""
    width = max(map(len, id_lists))
    input_ids = torch.full((len(id_lists), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for i, ids in enumerate(id_lists):
        input_ids[i, width - len(ids) :] = torch.tensor(list(ids), dtype=torch.long)
        attention_mask[i, width - len(ids) :] = 1
    return input_ids, attention_mask


def cut_after_eos(ids: list[int], eos_id: int, pad_id: int | None = None) -> list[int]:
    """A completion's ids up to and including its first EOS; without EOS, all of them (less any
    ``pad_id``, when given)."""
    if eos_id in ids:
        return ids[: ids.index(eos_id) + 1]
    return ids if pad_id is None else [t for t in ids if t != pad_id]


@dataclass
class Samples:
    """One prompt's sampled completions: token ids (cut after the first EOS, kept), text, and each
    completion's score (empty without a ``score`` function)."""

    completion_ids: list[list[int]] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)


@dataclass
class SamplingSetup:
    """How `sample_prompts` turns prompts into completions, beyond temperature and seed.

    Args:
        batch_size: Completions per ``generate`` call; a prompt's samples may span two calls.
        max_new_tokens: A number, or a function of the batch's padded prompt width.
        encode: ``prompts -> token ids``, each prompt on its own (default `encode_prompts`).
        generate_options: More ``generate`` arguments (e.g. ``eos_token_id``).
        drop_pad: Drop pad tokens from a completion without EOS (see `cut_after_eos`).
        progress: A progress bar over the batches.
    """

    batch_size: int = 64
    max_new_tokens: int | Callable[[int], int] = 16
    encode: Callable[[list], list[list[int]]] | None = None
    generate_options: dict = field(default_factory=dict)
    drop_pad: bool = False
    progress: bool = False


def _generate(model, tokenizer, encoded: list, setup: SamplingSetup, sampling: dict) -> tuple[list, list[str]]:
    """One generation batch from its prompts' token ids: each completion's token ids (see
    `cut_after_eos`) and text."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids, attention_mask = left_pad(encoded, pad)
    width = input_ids.shape[1]
    budget = setup.max_new_tokens(width) if callable(setup.max_new_tokens) else setup.max_new_tokens
    device = next(model.parameters()).device
    out = model.generate(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        max_new_tokens=budget,
        pad_token_id=pad,
        **sampling,
        **setup.generate_options,
    )
    drop = pad if setup.drop_pad else None
    ids_list = [cut_after_eos(row, tokenizer.eos_token_id, drop) for row in out[:, width:].tolist()]
    return ids_list, tokenizer.batch_decode(ids_list, skip_special_tokens=True)


@contextmanager
def sampling_state(model, seed: int | None):
    """Eval mode and, unless ``seed`` is None, the torch RNG seeded with ``seed``; on exit the
    model's mode and the global RNG states (CPU and the model's GPU) are restored."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    rng_state = torch.random.get_rng_state() if seed is not None else None
    # torch.manual_seed reseeds the GPUs too: keep the model's GPU state, or an evaluation during
    # training would change the training's sampling stream (other GPUs belong to other processes).
    cuda_state = torch.cuda.get_rng_state(device) if seed is not None and device.type == "cuda" else None
    if seed is not None:
        torch.manual_seed(seed)
    try:
        yield
    finally:
        if rng_state is not None:
            torch.random.set_rng_state(rng_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state(cuda_state, device)
        model.train(was_training)


@torch.no_grad()
def sample_prompts(
    model,
    tokenizer,
    prompts: Sequence,
    samples_per_prompt: int = 1,
    temperature: float = 1.0,
    seed: int | None = 0,
    score: Callable[[list[int], list[list[int]], list[str]], list[float]] | None = None,
    setup: SamplingSetup | None = None,
) -> list[Samples]:
    """``samples_per_prompt`` completions of each prompt, each scored by ``score`` (``(prompt
    indices, completion ids, completions) -> scores``, called once per generation batch).

    ``temperature == 0`` means greedy decoding. The model is in eval mode while sampling, and with a
    ``seed`` the run is deterministic and leaves the caller's RNG as it was (None: the caller's
    stream, advanced). Returns one `Samples` per prompt, in order.
    """
    setup = setup or SamplingSetup()
    if not len(prompts):
        return []
    owners = [i for i in range(len(prompts)) for _ in range(samples_per_prompt)]
    results = [Samples() for _ in prompts]
    sampling = sampling_options(temperature)
    # Each prompt is encoded once, not once per sample (every `encode` treats prompts one by one).
    encoded = setup.encode(list(prompts)) if setup.encode is not None else encode_prompts(tokenizer, list(prompts))
    starts = range(0, len(owners), setup.batch_size)
    if setup.progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="sampling", unit="batch")
    with sampling_state(model, seed):
        for start in starts:
            batch = owners[start : start + setup.batch_size]
            ids_list, completions = _generate(model, tokenizer, [encoded[i] for i in batch], setup, sampling)
            scores = score(batch, ids_list, completions) if score is not None else []
            for j, (owner, ids, completion) in enumerate(zip(batch, ids_list, completions)):
                results[owner].completion_ids.append(ids)
                results[owner].completions.append(completion)
                if score is not None:
                    results[owner].rewards.append(scores[j])
    return results


def sample_and_score(
    model,
    tokenizer,
    rows: list[dict],
    reward_funcs: Sequence[Callable],
    weights: Sequence[float],
    samples_per_prompt: int,
    temperature: float,
    max_new_tokens: int,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = False,
    with_completions: bool = False,
) -> list[list[float]] | tuple[list[list[float]], list[list[str]]]:
    """Sample completions for each row and score them: one list of weighted rewards per row
    (and, with ``with_completions``, the completions themselves, in the same layout).

    ``temperature == 0`` means greedy decoding. Deterministic for a given seed; the global
    torch RNG states (CPU and GPU) are restored afterwards. A batch holds ``batch_size //
    samples_per_prompt`` whole rows (at least one).
    """
    if not rows:
        return ([], []) if with_completions else []
    columns = [k for k in rows[0] if k not in ("prompt", "completion")]

    def score(owners: list[int], ids_list: list[list[int]], completions: list[str]) -> list[float]:
        batch = [rows[i] for i in owners]
        cols = {k: [r.get(k) for r in batch] for k in columns}
        return weighted_rewards(reward_funcs, weights, [r["prompt"] for r in batch], completions, ids_list, cols)

    per_batch = max(1, batch_size // max(1, samples_per_prompt)) * max(1, samples_per_prompt)
    setup = SamplingSetup(batch_size=per_batch, max_new_tokens=max_new_tokens, progress=progress)
    samples = sample_prompts(
        model, tokenizer, [r["prompt"] for r in rows], samples_per_prompt, temperature, seed, score, setup
    )
    rewards = [s.rewards for s in samples]
    return (rewards, [s.completions for s in samples]) if with_completions else rewards
