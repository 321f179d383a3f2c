"""Held-out accuracy per skill, scored by the same verifiers the run trains on."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from accelerate.utils import broadcast_object_list
from transformers import TrainerCallback

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
        if cuda_state is not None:
            torch.cuda.set_rng_state(cuda_state, device)
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

    def __init__(self, trainer, evaluate: Callable[[Any], dict[str, float]], every_steps: int | None = None,
                 before: dict[str, float] | None = None):
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
