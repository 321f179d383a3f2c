"""Held-out accuracy per skill, scored by the same verifiers the run trains on."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import torch

from rlvr.config import EvalConfig


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
    reward_funcs: Sequence[Callable], weights: Sequence[float], prompts: list, completions: list[str],
    completion_ids: list[list[int]], columns: dict[str, list],
) -> list[float]:
    """Sum of weight x reward per completion, as TRL computes it (None -> skipped; all None -> nan)."""
    totals = [0.0] * len(completions)
    scored = [False] * len(completions)
    for func, weight in zip(reward_funcs, weights):
        values = func(prompts=prompts, completions=completions, completion_ids=completion_ids,
                      log_metric=lambda *a, **k: None, log_extra=lambda *a, **k: None, trainer_state=None, **columns)
        for i, v in enumerate(values):
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                totals[i] += weight * float(v)
                scored[i] = True
    return [t if s else math.nan for t, s in zip(totals, scored)]


@torch.no_grad()
def sample_and_score(
    model, tokenizer, rows: list[dict], reward_funcs: Sequence[Callable], weights: Sequence[float],
    samples_per_prompt: int, temperature: float, max_new_tokens: int, batch_size: int = 64, seed: int = 0,
    progress: bool = False, with_completions: bool = False,
) -> list[list[float]] | tuple[list[list[float]], list[list[str]]]:
    """Sample completions for each row and score them: one list of weighted rewards per row
    (and, with ``with_completions``, the completions themselves, in the same layout).

    ``temperature == 0`` means greedy decoding. Deterministic for a given seed; the global
    torch RNG state is restored afterwards.
    """
    if not rows:
        return ([], []) if with_completions else []
    was_training = model.training
    model.eval()
    rng_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    columns = [k for k in rows[0] if k not in ("prompt", "completion")]
    sampling = {"do_sample": False} if temperature == 0 else {
        "do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
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
            texts = render_prompts([r["prompt"] for r in batch], tokenizer)
            # As TRL does: plain prompts get the tokenizer's special tokens (e.g. BOS); a rendered
            # chat template already contains them.
            chat = not isinstance(batch[0]["prompt"], str)
            enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=not chat)
            enc = {k: v.to(device) for k, v in enc.items()}
            out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **sampling)
            ids_list = []
            for row_ids in out[:, enc["input_ids"].shape[1]:].tolist():
                if tokenizer.eos_token_id in row_ids:
                    row_ids = row_ids[: row_ids.index(tokenizer.eos_token_id) + 1]
                ids_list.append(row_ids)
            completions = tokenizer.batch_decode(ids_list, skip_special_tokens=True)
            cols = {k: [r.get(k) for r in batch] for k in columns}
            rewards = weighted_rewards(reward_funcs, weights, [r["prompt"] for r in batch], completions, ids_list, cols)
            for owner, reward, completion in zip(owners, rewards, completions):
                out_rewards[owner].append(reward)
                out_completions[owner].append(completion)
    finally:
        torch.random.set_rng_state(rng_state)
        model.train(was_training)
    return (out_rewards, out_completions) if with_completions else out_rewards


def evaluate_skills(
    model, tokenizer, rows: list[dict], reward_funcs: Sequence[Callable], weights: Sequence[float],
    config: EvalConfig, max_new_tokens: int, seed: int = 0,
) -> dict[str, float]:
    """Accuracy per ``skill`` column (``"all"`` when rows have none) on ``rows``.

    A completion is correct when its weighted reward is at least ``config.success_threshold``.
    """
    per_skill: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        bucket = per_skill[str(row.get("skill", "all"))]
        if len(bucket) < config.max_prompts_per_skill:
            bucket.append(row)
    selected = [row for bucket in per_skill.values() for row in bucket]
    rewards = sample_and_score(model, tokenizer, selected, reward_funcs, weights, config.samples_per_prompt,
                               config.temperature, max_new_tokens, config.batch_size, seed)
    correct: dict[str, list[float]] = defaultdict(list)
    for row, row_rewards in zip(selected, rewards):
        for reward in row_rewards:
            ok = (not math.isnan(reward)) and reward >= config.success_threshold
            correct[str(row.get("skill", "all"))].append(float(ok))
    return {skill: sum(v) / len(v) for skill, v in sorted(correct.items())}


def format_accuracy_table(before: dict[str, float], after: dict[str, float] | None = None) -> str:
    """``skill | before | after | change`` as an aligned text table."""
    skills = sorted(set(before) | set(after or {}))
    width = max([5] + [len(s) for s in skills])
    if after is None:
        lines = [f"{'skill':<{width}}  accuracy"] + [f"{s:<{width}}  {before.get(s, float('nan')):8.3f}" for s in skills]
        return "\n".join(lines)
    lines = [f"{'skill':<{width}}  before   after   change"]
    for s in skills:
        b, a = before.get(s, float("nan")), after.get(s, float("nan"))
        lines.append(f"{s:<{width}}  {b:6.3f}  {a:6.3f}  {a - b:+7.3f}")
    return "\n".join(lines)
