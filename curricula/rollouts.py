"""Sampling completions and scoring them with the run's verifiers, as TRL does in training.

Below `rlvr` because curricula's scorers (`curricula.difficulty.sample_rollouts`) and the
influence policy features sample the same way; `rlvr.evaluate` re-exports these names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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


def _sampling_options(temperature: float) -> dict:
    """``generate``'s sampling arguments: greedy at temperature 0, else plain sampling (no top-k/p)."""
    if temperature == 0:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}


def _generate(model, tokenizer, prompts: list, device, max_new_tokens: int, sampling: dict):
    """One generation batch: each completion's token ids (cut after the first EOS, kept) and text."""
    texts = render_prompts(prompts, tokenizer)
    # As TRL does: plain prompts get the tokenizer's special tokens (e.g. BOS); a rendered
    # chat template already contains them.
    chat = not isinstance(prompts[0], str)
    enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=not chat)
    enc = {k: v.to(device) for k, v in enc.items()}
    out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling)
    ids_list = []
    for row_ids in out[:, enc["input_ids"].shape[1] :].tolist():
        if tokenizer.eos_token_id in row_ids:
            row_ids = row_ids[: row_ids.index(tokenizer.eos_token_id) + 1]
        ids_list.append(row_ids)
    return ids_list, tokenizer.batch_decode(ids_list, skip_special_tokens=True)


@torch.no_grad()
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
    torch RNG states (CPU and GPU) are restored afterwards.
    """
    if not rows:
        return ([], []) if with_completions else []
    was_training = model.training
    model.eval()
    rng_state = torch.random.get_rng_state()
    device = next(model.parameters()).device
    # torch.manual_seed reseeds the GPUs too: keep the model's GPU state, or an evaluation during
    # training would change the training's sampling stream (other GPUs belong to other processes).
    cuda_state = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    torch.manual_seed(seed)
    columns = [k for k in rows[0] if k not in ("prompt", "completion")]
    sampling = _sampling_options(temperature)
    out_rewards: list[list[float]] = [[] for _ in rows]
    out_completions: list[list[str]] = [[] for _ in rows]
    per_batch = max(1, batch_size // max(1, samples_per_prompt))
    starts = range(0, len(rows), per_batch)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="sampling", unit="batch")
    try:
        for start in starts:
            chunk = list(range(start, min(start + per_batch, len(rows))))
            batch = [rows[i] for i in chunk for _ in range(samples_per_prompt)]
            owners = [i for i in chunk for _ in range(samples_per_prompt)]
            prompts = [r["prompt"] for r in batch]
            ids_list, completions = _generate(model, tokenizer, prompts, device, max_new_tokens, sampling)
            cols = {k: [r.get(k) for r in batch] for k in columns}
            rewards = weighted_rewards(reward_funcs, weights, prompts, completions, ids_list, cols)
            for owner, reward, completion in zip(owners, rewards, completions):
                out_rewards[owner].append(reward)
                out_completions[owner].append(completion)
    finally:
        torch.random.set_rng_state(rng_state)
        if cuda_state is not None:
            torch.cuda.set_rng_state(cuda_state, device)
        model.train(was_training)
    return (out_rewards, out_completions) if with_completions else out_rewards
