"""Held-out accuracy per skill, scored by the same verifiers the run trains on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from accelerate.utils import broadcast_object_list
from transformers import TrainerCallback

from curricula.base import is_success
from curricula.records import rows_by_skill
from curricula.rollouts import render_prompts, sample_and_score, weighted_rewards
from rlvr.config import EvalConfig

__all__ = ["evaluate_skills", "format_accuracy_table", "render_prompts", "sample_and_score", "weighted_rewards"]


def evaluate_skills(
    model,
    tokenizer,
    rows: list[dict],
    reward_funcs: Sequence[Callable],
    weights: Sequence[float],
    config: EvalConfig,
    max_new_tokens: int,
    seed: int = 0,
) -> dict[str, float]:
    """Accuracy per ``skill`` column (``"all"`` when rows have none) on ``rows``.

    A completion is correct when its weighted reward is at least ``config.success_threshold``.
    """
    selected = [row for bucket in rows_by_skill(rows, config.max_prompts_per_skill).values() for row in bucket]
    rewards = sample_and_score(
        model,
        tokenizer,
        selected,
        reward_funcs,
        weights,
        config.samples_per_prompt,
        config.temperature,
        max_new_tokens,
        config.batch_size,
        seed,
    )
    correct: dict[str, list[float]] = defaultdict(list)
    for row, row_rewards in zip(selected, rewards):
        for reward in row_rewards:
            correct[str(row.get("skill", "all"))].append(float(is_success(reward, config.success_threshold)))
    return {skill: sum(v) / len(v) for skill, v in sorted(correct.items())}


def format_accuracy_table(before: dict[str, float], after: dict[str, float] | None = None) -> str:
    """``skill | before | after | change`` as an aligned text table."""
    skills = sorted(set(before) | set(after or {}))
    width = max([5] + [len(s) for s in skills])
    if after is None:
        lines = [f"{'skill':<{width}}  accuracy"] + [
            f"{s:<{width}}  {before.get(s, float('nan')):8.3f}" for s in skills
        ]
        return "\n".join(lines)
    lines = [f"{'skill':<{width}}  before   after   change"]
    for s in skills:
        b, a = before.get(s, float("nan")), after.get(s, float("nan"))
        lines.append(f"{s:<{width}}  {b:6.3f}  {a:6.3f}  {a - b:+7.3f}")
    return "\n".join(lines)


def accuracy_logs(accuracy: dict[str, float]) -> dict[str, float]:
    """``eval_accuracy/<skill>`` per skill plus ``eval_accuracy/mean`` (the unweighted mean over
    skills). The ``eval_`` prefix is transformers' convention: its backends rewrite it to
    ``eval/accuracy/...``, where a plain key would land under ``train/``."""
    logs = {f"eval_accuracy/{skill}": value for skill, value in accuracy.items()}
    if accuracy:
        logs["eval_accuracy/mean"] = sum(accuracy.values()) / len(accuracy)
    return logs


class HeldOutEvalCallback(TrainerCallback):
    """Logs held-out accuracy through the trainer at step 0, every ``every_steps`` steps and at
    the final step, so ``report_to`` backends plot it beside the train metrics.

    Args:
        trainer: A `rlvr.trainer.CurriculumGRPOTrainer` (its ``log_now`` writes the entries).
        evaluate: ``policy -> {skill: accuracy}``, run on the main process only (e.g.
            `evaluate_skills` with the run's rows and verifiers).
        every_steps: Measure every this many steps during training; ``None`` = only at the end.
        before: Accuracy measured before training (by the caller, on the untrained policy),
            logged at step 0; not logged again by a resumed run (its history already has it).

    ``after`` holds the accuracy measured at the final step (``None`` until then);
    ``measuring_after`` is true while that measurement runs (e.g. to label verifier errors).
    """

    def __init__(
        self,
        trainer,
        evaluate: Callable[[Any], dict[str, float]],
        every_steps: int | None = None,
        before: dict[str, float] | None = None,
    ):
        self.trainer = trainer
        self.evaluate = evaluate
        self.every_steps = every_steps
        self.before = before
        self.after: dict[str, float] | None = None
        self.after_step: int | None = None
        self.measuring_after = False

    def on_train_begin(self, args, state, control, **kwargs):
        before = self._shared(lambda: self.before or {})
        if state.global_step == 0 and before:
            self.trainer.log_now(accuracy_logs(before))

    def on_step_end(self, args, state, control, **kwargs):
        final = state.global_step >= state.max_steps or control.should_training_stop
        due = bool(self.every_steps) and state.global_step % self.every_steps == 0
        if not (final or due):
            return
        self.measuring_after = final
        try:
            accuracy = self._shared(lambda: self.evaluate(self.trainer.accelerator.unwrap_model(self.trainer.model)))
        finally:
            self.measuring_after = False
        if final:
            self.after, self.after_step = accuracy, state.global_step
        if accuracy:
            self.trainer.log_now(accuracy_logs(accuracy))

    def _shared(self, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
        """``measure()`` on the main process, sent to every process. The others wait in the
        broadcast (generation runs on one process: no collective inside it can desynchronise
        the ranks), and every process logs the same entry."""
        accelerator = self.trainer.accelerator
        result = measure() if accelerator.is_main_process else None
        if accelerator.num_processes > 1:
            result = broadcast_object_list([result])[0]
        return result
