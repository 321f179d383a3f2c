"""Seeded supervised warm-up of the toy model (loss on answer tokens only).

A plain AdamW loop over a weighted mix of the skills' train splits. Arithmetic skills are learned
in sudden jumps whose timing varies a lot with the seed, so a fixed number of steps per skill would
leave ``add2`` anywhere between 0.05 and 0.95. Instead, a skill may have a *cap*: every
``probe_every`` steps the exact pass probability at temperature 1 is computed on a fixed probe set of
**train** prompts, and a skill whose probe rate reached its cap leaves the mix for good. That is the
"under-train some skills" knob, made robust to the seed: the capped skills stop half-learned, on
their way up, and remain learnable by RL. Held-out eval prompts are never looked at.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ._torch_utils import deterministic, num_threads
from .encoding import answer_probabilities, encode_pairs
from .tasks import TrainSampler, make_examples

# Everything that shapes the warmed-up model. Its hash names the cache folder, so any change here
# (or to the model / tokenizer / task definitions, see world.RECIPE_VERSION) invalidates the cache.
WARMUP_RECIPE: dict = {
    "steps": 2000,  # at most; training usually stops earlier (see "targets")
    "batch_size": 64,
    "lr": 1e-3,
    "weight_decay": 0.01,
    "warmup_steps": 50,
    "min_lr_ratio": 0.1,
    "grad_clip": 1.0,
    # Relative share of each batch per skill (renormalised over the skills still in the mix).
    "mix": {"copy": 3.0, "add1": 2.0, "add2": 2.0, "sub": 2.0, "mul1x2": 2.0, "mul3x3": 0.25},
    # Once a skill's pass probability on the train probe set reaches its cap, its share of the mix
    # is multiplied by capped_weight (0: it leaves the mix; a little keeps it from being forgotten).
    "caps": {"add2": 0.4, "sub": 0.4},
    "capped_weight": 0.25,
    # Training stops at the first probe where every target is met and the caps were reached
    # ("all" of them or "any" one).
    "targets": {"copy": 0.9, "add1": 0.8},
    "stop_after_caps": "all",
    "probe_every": 25,
    "probe_prompts": 64,
    # One thread: reproducible across machines (reductions split differently with more threads)
    # and robust to a busy machine, where two threads on two shared cores crawl. It costs ~1.4x
    # wall time on an idle 2-core machine.
    "num_threads": 1,
}


class _Mix:
    """Seeded stream of batches from the skills still in the mix."""

    def __init__(self, recipe: Mapping, seed: int):
        self.weights = {s: float(w) for s, w in recipe["mix"].items() if w > 0}
        self.samplers = {s: TrainSampler(s, seed=seed) for s in self.weights}
        self.rng = random.Random(f"rlvr.toy/mix/{seed}")
        self.batch_size = recipe["batch_size"]

    def scale(self, skill: str, factor: float) -> None:
        self.weights[skill] *= factor
        if self.weights[skill] <= 0:
            del self.weights[skill]

    def __call__(self) -> list[tuple[str, str]]:
        skills = list(self.weights)
        picks = self.rng.choices(skills, [self.weights[s] for s in skills], k=self.batch_size)
        return [self.samplers[s]() for s in picks]


def _probe_rates(model, tokenizer, probe: Mapping[str, list[dict]]) -> dict[str, float]:
    was_training = model.training
    rates = {}
    for skill, examples in probe.items():
        probs = answer_probabilities(model, tokenizer, examples)
        rates[skill] = sum(probs) / len(probs)
    model.train(was_training)
    return rates


def _lr_schedule(recipe: Mapping):
    """The learning-rate factor per step: linear warm-up over ``warmup_steps``, then a cosine decay
    to ``min_lr_ratio`` at ``steps``."""
    steps, warm = recipe["steps"], recipe["warmup_steps"]

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, steps - warm)
        floor = recipe["min_lr_ratio"]
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    return lr_at


def _train_step(model, tokenizer, opt, sched, pairs: list[tuple[str, str]], grad_clip: float) -> float:
    """One optimizer step on ``pairs`` (gradient clipped to ``grad_clip``); returns the loss."""
    loss = model(**encode_pairs(tokenizer, pairs)).loss
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    sched.step()
    return loss.item()


def _cap_skills(rates: dict[str, float], caps: dict, dropped_at: dict[str, int], mix: _Mix, weight, at: int) -> None:
    """Every skill whose probe rate reached its cap (for the first time) is recorded in
    ``dropped_at`` at step ``at`` and its share of ``mix`` multiplied by ``weight``."""
    for skill, cap in caps.items():
        if skill not in dropped_at and rates.get(skill, 0.0) >= cap:
            dropped_at[skill] = at
            mix.scale(skill, weight)


def _targets_met(rates: dict[str, float], caps: dict, targets: dict, dropped_at: dict, stop_after_caps: str) -> bool:
    """Whether warm-up is done: the caps were reached (``"all"`` of them or ``"any"`` one) and every
    target rate is met."""
    need_caps = all if stop_after_caps == "all" else any
    return need_caps(s in dropped_at for s in caps) and all(rates.get(s, 0.0) >= t for s, t in targets.items())


def _print_probe(at: int, steps: int, losses: list[float], seconds: float, rates, caps, dropped_at, done: bool) -> None:
    """The progress line of a probe, the skills capped at it, and the end when targets are met."""
    recent = sum(losses[-50:]) / len(losses[-50:])
    shown = "  ".join(f"{s} {r:.2f}" for s, r in rates.items())
    print(f"warm-up {at}/{steps}  loss {recent:.3f}  {seconds:.0f}s  train probe: {shown}", flush=True)
    for skill, step in dropped_at.items():
        if step == at:
            print(f"  {skill} reached its cap {caps[skill]}: its share is cut")
    if done:
        print("  targets met: warm-up done")


def warmup(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    recipe: Mapping | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train ``model`` in place on the recipe's skill mix. Returns a small JSON-able log."""
    recipe = dict(WARMUP_RECIPE if recipe is None else recipe)
    steps = recipe["steps"]
    caps = dict(recipe.get("caps") or {})
    targets = dict(recipe.get("targets") or {})

    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"], betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_schedule(recipe))
    mix = _Mix(recipe, seed)
    probe = {s: make_examples(s, recipe["probe_prompts"], "train", seed=seed + 10_000) for s in mix.weights}
    dropped_at: dict[str, int] = {}
    probe_log: list[dict] = []
    losses: list[float] = []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]), deterministic(), num_threads(recipe.get("num_threads")):
        torch.manual_seed(seed)
        for step in range(steps):
            losses.append(_train_step(model, tokenizer, opt, sched, mix(), recipe["grad_clip"]))
            if (step + 1) % recipe["probe_every"] == 0 or step + 1 == steps:
                rates = _probe_rates(model, tokenizer, probe)
                probe_log.append({"step": step + 1, **{s: round(r, 4) for s, r in rates.items()}})
                _cap_skills(rates, caps, dropped_at, mix, recipe.get("capped_weight", 0.0), step + 1)
                done = _targets_met(rates, caps, targets, dropped_at, recipe.get("stop_after_caps", "any"))
                if progress:
                    seconds = time.perf_counter() - start
                    _print_probe(step + 1, steps, losses, seconds, rates, caps, dropped_at, done)
                if done:
                    break
    model.eval()
    return {
        "steps": len(losses),
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
        "seconds": round(time.perf_counter() - start, 1),
        "dropped_at": dropped_at,
        "probe": probe_log,
    }
