"""Do prompts the policy almost never solves hurt GRPO? The too-hard probe on rare-success prompts.

    python scripts/rare_success_probe.py                      # 5 seeds, ~2.5 min on 2 cores
    python scripts/rare_success_probe.py --seeds 0 --grpo-tokens 6000   # quick look

The toy world's hopeless skill (mul3x3) has a pass rate of exactly 0, so its GRPO groups are
all-wrong and carry no advantage: they cost tokens but cannot teach anything, good or bad. The
harm the literature describes comes from prompts solved *rarely*: a lucky success in a group of
failures gets a large advantage. This script builds such a pool from the warm model itself:

1. samples ``--k`` completions of every train prompt of the candidate skills (default mul1x2,
   sub, add2) and keeps, as skill ``rare``, the prompts with a pass rate in ``(0, --rare-max]``
   (the original skill goes to the ``source`` column);
2. adds ``--per-skill`` ordinary prompts of every other skill, minus the rare ones;
3. runs `rlvr compare`'s too-hard probe on that pool with ``hopeless_skill: rare`` and equal
   generated tokens: plain TRL GRPO, rlvr's frontier filter, and the pool without the rare
   prompts; then prints the report's probe section (retention = held-out accuracy on the skills
   the model had, shortcut indicators, tokens spent on rare prompts, drops).

Outputs go to ``--out`` (pool.jsonl, config.yaml, results.jsonl, report.md and plots).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def pick_rare(rows: list[dict], rates: dict[str, float], rare_max: float) -> list[dict]:
    """The rows whose measured pass rate is in (0, rare_max], relabelled ``skill: rare`` with
    their own skill kept as ``source``; in input order."""
    return [{**row, "skill": "rare", "source": row["skill"]} for row in rows if 0.0 < rates[str(row["id"])] <= rare_max]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--candidates",
        nargs="+",
        default=["mul1x2", "sub", "add2"],
        help="skills whose train prompts are searched for rare successes",
    )
    p.add_argument("--candidates-per-skill", type=int, default=128)
    p.add_argument("--k", type=int, default=64, help="samples per candidate prompt for its pass rate")
    p.add_argument("--rare-max", type=float, default=0.08, help="highest pass rate that counts as rare")
    p.add_argument("--max-rare", type=int, default=32, help="rare prompts in the pool (the first ones)")
    p.add_argument("--per-skill", type=int, default=16, help="ordinary prompts per skill in the pool")
    p.add_argument(
        "--skills",
        nargs="+",
        default=["copy", "add1", "add2", "sub", "mul1x2"],
        help="the skills the model had (ordinary prompts; retention is measured on them)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--grpo-tokens", type=int, default=24000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="runs/rare_probe")
    args = p.parse_args(argv)

    from curricula.difficulty import PassRateScorer, sample_rollouts
    from curricula.models import load_causal_lm
    from rlvr.compare import load_config, log, run_compare, write_report
    from rlvr.toy import build_toy_world, toy_dataset

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    world = build_toy_world(progress=False)
    model, tokenizer = load_causal_lm(world, pad_to_eos=False)
    train = toy_dataset("train", n_per_skill=max(args.candidates_per_skill, args.per_skill), seed=0).to_list()

    def first(skill: str, n: int, exclude=frozenset()) -> list[dict]:
        return [r for r in train if r["skill"] == skill and r["id"] not in exclude][:n]

    candidates = [r for s in args.candidates for r in first(s, args.candidates_per_skill)]
    log(f"sampling {args.k} completions of {len(candidates)} candidate prompts ...")
    rollouts = sample_rollouts(model, tokenizer, candidates, samples_per_prompt=args.k, seed=0)
    rates = dict(zip((str(r["id"]) for r in candidates), PassRateScorer(rollouts=rollouts)(candidates)))
    rare = pick_rare(candidates, rates, args.rare_max)[: args.max_rare]
    if not rare:
        raise SystemExit(f"no candidate prompt has a pass rate in (0, {args.rare_max}]; raise --rare-max or --k")
    rare_ids = {r["id"] for r in rare}
    ordinary = [r for s in args.skills for r in first(s, args.per_skill, exclude=rare_ids)]
    pool = ordinary + rare
    with open(out / "pool.jsonl", "w") as f:
        for row in pool:
            f.write(json.dumps({**row, "pass_rate": rates.get(str(row["id"]))}) + "\n")
    by_source = {s: sum(r["source"] == s for r in rare) for s in args.candidates}
    log(
        f"pool: {len(ordinary)} ordinary + {len(rare)} rare prompts (pass rate in (0, {args.rare_max}] of "
        f"{args.k}: {by_source}; mean {sum(rates[str(r['id'])] for r in rare) / len(rare):.3f})"
    )

    config = load_config(
        None,
        pool=str(out / "pool.jsonl"),
        methods=[],
        seeds=args.seeds,
        grpo_tokens=args.grpo_tokens,
        workers=args.workers,
        probe={"hopeless_skill": "rare", "max_rows_per_skill": None},
    )
    results = run_compare(config, out, progress=log)
    report = write_report(results, out)
    text = report.read_text()
    start = text.find("## Too-hard probe")
    print(text[start:] if start >= 0 else text)
    print(f"report: {report} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
