"""Do prompts the policy almost never solves hurt GRPO? The too-hard probe on rare-success prompts.

    python scripts/rare_success_probe.py                      # 5 seeds, ~2.5 min on 2 cores
    python scripts/rare_success_probe.py --seeds 0 --grpo-tokens 6000   # quick look

Samples the warm toy model on the candidate skills' train prompts, keeps as skill ``rare`` the
prompts it solves with a pass rate in ``(0, --rare-max]``, and runs `rlvr compare`'s too-hard
probe on a pool of those plus ordinary prompts: plain TRL GRPO, rlvr's frontier filter, and the
pool without the rare prompts, at equal generated tokens; then prints the report's probe section
(retention = held-out accuracy on the skills the model had, shortcut indicators, tokens spent on
rare prompts, drops). What and why: `rlvr/compare/rare_probe.py`.

Outputs go to ``--out`` (pool.jsonl, config.yaml, results.jsonl, report.md and plots).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from rlvr.compare.rare_probe import RareProbeConfig, run_rare_probe  # noqa: E402
from rlvr.errors import run_command  # noqa: E402

DEFAULTS = RareProbeConfig()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--candidates",
        nargs="+",
        default=list(DEFAULTS.candidates),
        help="skills whose train prompts are searched for rare successes",
    )
    p.add_argument("--candidates-per-skill", type=int, default=DEFAULTS.candidates_per_skill)
    p.add_argument("--k", type=int, default=DEFAULTS.k, help="samples per candidate prompt for its pass rate")
    p.add_argument("--rare-max", type=float, default=DEFAULTS.rare_max, help="highest pass rate that counts as rare")
    p.add_argument("--max-rare", type=int, default=DEFAULTS.max_rare, help="rare prompts in the pool (the first ones)")
    p.add_argument("--per-skill", type=int, default=DEFAULTS.per_skill, help="ordinary prompts per skill in the pool")
    p.add_argument(
        "--skills",
        nargs="+",
        default=list(DEFAULTS.skills),
        help="the skills the model had (ordinary prompts; retention is measured on them)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULTS.seeds))
    p.add_argument("--grpo-tokens", type=int, default=DEFAULTS.grpo_tokens)
    p.add_argument("--workers", type=int, default=DEFAULTS.workers)
    p.add_argument("--out", default="runs/rare_probe")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    config = RareProbeConfig(
        candidates=tuple(args.candidates),
        candidates_per_skill=args.candidates_per_skill,
        k=args.k,
        rare_max=args.rare_max,
        max_rare=args.max_rare,
        per_skill=args.per_skill,
        skills=tuple(args.skills),
        seeds=tuple(args.seeds),
        grpo_tokens=args.grpo_tokens,
        workers=args.workers,
    )
    started = time.perf_counter()
    report = run_rare_probe(config, args.out)
    text = report.read_text()
    start = text.find("## Too-hard probe")
    print(text[start:] if start >= 0 else text)
    print(f"report: {report} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    sys.exit(run_command("rare_success_probe", main))
