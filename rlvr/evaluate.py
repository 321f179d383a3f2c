"""Held-out accuracy per skill, scored by the same verifiers the run trains on."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence

from curricula.rollouts import render_prompts, sample_and_score, weighted_rewards
from rlvr.config import EvalConfig

__all__ = ["evaluate_skills", "format_accuracy_table", "render_prompts", "sample_and_score", "weighted_rewards"]


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
