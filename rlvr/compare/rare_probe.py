"""The too-hard probe on rare-success prompts: do prompts the policy almost never solves hurt GRPO?

The toy world's hopeless skill (mul3x3) has a pass rate of exactly 0, so its GRPO groups are
all-wrong and carry no advantage: they cost tokens but cannot teach anything, good or bad. The
harm the literature describes comes from prompts solved *rarely*: a lucky success in a group of
failures gets a large advantage. `run_rare_probe` builds such a pool from the warm model itself:

1. samples ``k`` completions of every train prompt of the candidate skills and keeps, as skill
   ``rare``, the prompts with a pass rate in ``(0, rare_max]`` (the original skill goes to the
   ``source`` column);
2. adds ``per_skill`` ordinary prompts of every other skill, minus the rare ones;
3. runs `rlvr compare`'s too-hard probe on that pool with ``hopeless_skill: rare`` and equal
   generated tokens: plain TRL GRPO, rlvr's frontier filter, and the pool without the rare
   prompts (`rlvr.compare.run_compare`), and writes its report.

``python scripts/rare_success_probe.py`` is the command line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from curricula.records import rows_by_skill
from rewards.base import UserInputError
from rlvr.compare import load_config, log, run_compare, write_report


@dataclass
class RareProbeConfig:
    """What the rare-success probe samples and trains.

    Args:
        candidates: Skills whose train prompts are searched for rare successes.
        candidates_per_skill: Train prompts per candidate skill.
        k: Samples per candidate prompt for its pass rate.
        rare_max: Highest pass rate that counts as rare.
        max_rare: Rare prompts in the pool (the first ones).
        per_skill: Ordinary prompts per skill in the pool.
        skills: The skills the model had (ordinary prompts; retention is measured on them).
        seeds, grpo_tokens, workers: As in `rlvr.compare.CompareConfig`.
    """

    candidates: tuple[str, ...] = ("mul1x2", "sub", "add2")
    candidates_per_skill: int = 128
    k: int = 64
    rare_max: float = 0.08
    max_rare: int = 32
    per_skill: int = 16
    skills: tuple[str, ...] = ("copy", "add1", "add2", "sub", "mul1x2")
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    grpo_tokens: int = 24000
    workers: int = 2


def pick_rare(rows: list[dict], rates: dict[str, float], rare_max: float) -> list[dict]:
    """The rows whose measured pass rate is in (0, rare_max], relabelled ``skill: rare`` with
    their own skill kept as ``source``; in input order."""
    return [{**row, "skill": "rare", "source": row["skill"]} for row in rows if 0.0 < rates[str(row["id"])] <= rare_max]


def first_rows(rows: list[dict], skills: Iterable[str], n: int, exclude: Iterable = ()) -> list[dict]:
    """The first ``n`` rows of each of ``skills`` (in that order), leaving out the ids in ``exclude``."""
    excluded = set(exclude)
    by_skill = rows_by_skill([r for r in rows if r["id"] not in excluded], n, skills)
    return [row for skill in skills for row in by_skill.get(str(skill), [])]


def build_rare_pool(config: RareProbeConfig, world: str, progress: Callable[[str], None] = log) -> list[dict]:
    """The probe's pool: ordinary prompts of ``config.skills`` then the rare ones, each with its
    measured ``pass_rate`` (None for an ordinary prompt that was not a candidate)."""
    from curricula.difficulty import PassRateScorer, sample_rollouts
    from curricula.models import load_causal_lm
    from rlvr.toy import toy_dataset

    model, tokenizer = load_causal_lm(world, pad_to_eos=False)
    train = toy_dataset("train", n_per_skill=max(config.candidates_per_skill, config.per_skill), seed=0).to_list()
    candidates = first_rows(train, config.candidates, config.candidates_per_skill)
    progress(f"sampling {config.k} completions of {len(candidates)} candidate prompts ...")
    rollouts = sample_rollouts(model, tokenizer, candidates, samples_per_prompt=config.k, seed=0)
    rates = dict(zip((str(r["id"]) for r in candidates), PassRateScorer(rollouts=rollouts)(candidates)))
    rare = pick_rare(candidates, rates, config.rare_max)[: config.max_rare]
    if not rare:
        raise UserInputError(f"no candidate prompt has a pass rate in (0, {config.rare_max}]; raise --rare-max or --k")
    ordinary = first_rows(train, config.skills, config.per_skill, exclude={r["id"] for r in rare})
    by_source = {s: sum(r["source"] == s for r in rare) for s in config.candidates}
    progress(
        f"pool: {len(ordinary)} ordinary + {len(rare)} rare prompts (pass rate in (0, {config.rare_max}] of "
        f"{config.k}: {by_source}; mean {sum(rates[str(r['id'])] for r in rare) / len(rare):.3f})"
    )
    return [{**row, "pass_rate": rates.get(str(row["id"]))} for row in ordinary + rare]


def run_rare_probe(config: RareProbeConfig, out: str | Path, progress: Callable[[str], None] = log) -> Path:
    """Build the pool (``out/pool.jsonl``), run the too-hard probe on it (``out/results.jsonl``)
    and write the report; returns the report's path."""
    from rlvr.toy import build_toy_world

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pool = build_rare_pool(config, build_toy_world(progress=False), progress)
    with open(out / "pool.jsonl", "w") as f:
        for row in pool:
            f.write(json.dumps(row) + "\n")
    compare = load_config(
        None,
        pool=str(out / "pool.jsonl"),
        methods=[],
        seeds=list(config.seeds),
        grpo_tokens=config.grpo_tokens,
        workers=config.workers,
        probe={"hopeless_skill": "rare", "max_rows_per_skill": None},
    )
    results = run_compare(compare, out, progress=progress)
    return write_report(results, out)
