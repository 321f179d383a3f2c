"""``rlvr compare``: train on each selector's subset of the toy pool and compare them.

    rlvr compare --config configs/showdown_toy.yaml --quick --out runs/showdown-quick
    rlvr compare --config configs/showdown_toy.yaml --out runs/showdown --seeds 0 1 2 3

Writes ``results.jsonl`` (one row per selector x budget x seed x metric), ``config.json``,
``report.md`` and ``report.png`` into ``--out``; ``rlvr report`` regenerates the last two.
"""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML file with the comparison's settings (its 'compare:' section).")
    parser.add_argument("--quick", action="store_true", help="Apply the config's 'quick:' section (a small run).")
    parser.add_argument("--out", required=True, help="Output folder.")
    parser.add_argument("--seeds", type=int, nargs="+", help="Override the seeds.")
    parser.add_argument("--selectors", nargs="+", help="Override the selectors.")
    parser.add_argument("--budgets", type=float, nargs="+", help="Override the budgets (fractions of the pool).")
    parser.add_argument("--steps", type=int, help="Override the optimizer steps per arm.")
    parser.add_argument("--target", dest="target_skill", help="Override the target skill.")
    parser.add_argument("--no-progress", action="store_true", help="No progress lines.")


def run(args: argparse.Namespace) -> int:
    import torch

    from rlvr.compare import load_config, log, run_compare, write_report

    torch.set_num_threads(1)
    overrides = {k: getattr(args, k) for k in ("seeds", "selectors", "budgets", "steps", "target_skill")
                 if getattr(args, k, None) is not None}
    config = load_config(args.config, quick=args.quick, **overrides)
    start = time.perf_counter()
    results = run_compare(config, args.out, progress=None if args.no_progress else log)
    report = write_report(results, args.out)
    print(f"results: {results}\nreport: {report} ({time.perf_counter() - start:.0f}s)")
    return 0
