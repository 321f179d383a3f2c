"""Seeded supervised warm-up of the toy model (loss on answer tokens only)."""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Iterator, Mapping

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .tasks import SKILLS, TrainSampler

# Everything that shapes the warmed-up model. Its hash names the cache folder, so any change here
# (or to the model / tokenizer / task definitions, see world.RECIPE_VERSION) invalidates the cache.
WARMUP_RECIPE: dict = {
    "steps": 600,
    "batch_size": 128,
    "lr": 3e-3,
    "weight_decay": 0.01,
    "warmup_steps": 30,
    "min_lr_ratio": 0.1,
    "grad_clip": 1.0,
    # Share of each batch per skill. Every skill gets the same kind of training signal; the hard
    # ones stay hard because the task is hard for a 0.5M-parameter model after a short warm-up.
    "mix": {s: 1.0 for s in SKILLS},
}


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase, pairs: list[tuple[str, str]]
) -> dict[str, torch.Tensor]:
    """``<bos> prompt answer <eos>``, right-padded; labels are -100 except on answer + EOS."""
    rows, labels = [], []
    for prompt, answer in pairs:
        p = tokenizer(prompt)["input_ids"]  # with <bos>
        a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    label_t = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, lab) in enumerate(zip(rows, labels, strict=True)):
        input_ids[i, : len(r)] = torch.tensor(r)
        label_t[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(r)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": label_t}


def _batches(recipe: Mapping, seed: int) -> Iterator[list[tuple[str, str]]]:
    mix = {s: w for s, w in recipe["mix"].items() if w > 0}
    skills = list(mix)
    weights = [mix[s] for s in skills]
    samplers = {s: TrainSampler(s, seed=seed) for s in skills}
    rng = random.Random(f"rlvr.toy/mix/{seed}")
    while True:
        yield [samplers[s]() for s in rng.choices(skills, weights, k=recipe["batch_size"])]


@contextlib.contextmanager
def _deterministic():
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)


def warmup(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    recipe: Mapping | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train ``model`` in place with AdamW on the recipe's skill mix. Returns a small log."""
    recipe = dict(WARMUP_RECIPE if recipe is None else recipe)
    steps, warm = recipe["steps"], recipe["warmup_steps"]

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, steps - warm)
        floor = recipe["min_lr_ratio"]
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    model.train()
    opt = torch.optim.AdamW(
        model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"], betas=(0.9, 0.98)
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    batches = _batches(recipe, seed)
    losses: list[float] = []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]), _deterministic():
        torch.manual_seed(seed)
        for step in range(steps):
            batch = encode_pairs(tokenizer, next(batches))
            loss = model(**batch).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe["grad_clip"])
            opt.step()
            sched.step()
            losses.append(loss.item())
            if progress and (step + 1) % 50 == 0:
                recent = sum(losses[-50:]) / len(losses[-50:])
                elapsed = time.perf_counter() - start
                print(f"warm-up step {step + 1}/{steps}  loss {recent:.4f}  {elapsed:.0f}s", flush=True)
    model.eval()
    return {"steps": steps, "final_loss": sum(losses[-20:]) / len(losses[-20:]),
            "seconds": time.perf_counter() - start}
