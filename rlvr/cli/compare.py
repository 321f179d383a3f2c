"""``rlvr compare``: train on each selector's subset of the pool and compare them.

    rlvr compare --config configs/showdown_toy.yaml --quick --out runs/showdown-quick
    rlvr compare --config configs/showdown_toy.yaml --out runs/showdown --workers 2
    rlvr compare --config my_showdown.yaml --out runs/mine     # model/pool/eval/target in the YAML
    rlvr compare --config configs/showdown_toy.yaml --probe-only --probe-reward digit_match --out runs/probe
    rlvr compare --config configs/showdown_toy.yaml --out runs/s "seeds=[0,1]" probe.enabled=false

Settings: `rlvr.compare.CompareConfig`'s defaults < ``--config`` (its ``compare:`` section, and
``quick:`` with ``--quick``) < ``KEY=VALUE`` overrides (`rlvr.cli.options`) < the flags below,
kept as short forms of one field each.

Writes ``results.jsonl`` (one row per method x regime x selector x budget x seed x metric),
``config.json``, ``report.md`` and its plots into ``--out``; ``rlvr report`` regenerates the
report from the results file alone.
"""

from __future__ import annotations

import argparse
import time

from rlvr.cli.options import add_config_arguments, parse_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, "compare", "seeds=[0,1] probe.enabled=false (see CompareConfig)")
    parser.add_argument("--quick", action="store_true", help="Apply the config's 'quick:' section (a small run).")
    parser.add_argument("--out", required=True, help="Output folder.")
    parser.add_argument("--seeds", type=int, nargs="+", help="Override the seeds.")
    parser.add_argument("--selectors", nargs="+", help="Override the selectors.")
    parser.add_argument("--budgets", type=float, nargs="+", help="Override the budgets (fractions of the pool).")
    parser.add_argument("--methods", nargs="+", choices=["sft", "grpo"], help="Override the training methods.")
    parser.add_argument("--regimes", nargs="+", choices=["targeted", "general"], help="Override the regimes.")
    parser.add_argument("--steps", type=int, help="Override the SFT optimizer steps per arm.")
    parser.add_argument("--grpo-tokens", dest="grpo_tokens", type=int, help="Override GRPO's generated tokens per arm.")
    parser.add_argument("--target", dest="target_skill", help="Override the target skill.")
    parser.add_argument("--workers", type=int, help="Arms trained in parallel processes.")
    parser.add_argument("--world", help="Override the toy world variant (default, accident).")
    parser.add_argument("--no-probe", action="store_true", help="Skip the too-hard probe.")
    parser.add_argument("--probe-only", action="store_true", help="Run the too-hard probe alone (methods: []).")
    parser.add_argument(
        "--probe-reward",
        nargs="+",
        metavar="VERIFIER",
        help="Verifiers rewarding the probe's rollouts (e.g. digit_match); evaluation keeps the config's.",
    )
    parser.add_argument("--no-progress", action="store_true", help="No progress lines.")


def run(args: argparse.Namespace) -> int:
    import torch

    from rewards import UserInputError
    from rlvr.compare import load_config, log, run_compare, write_report
    from rlvr.errors import report_user_error

    torch.set_num_threads(1)
    # KEY=VALUE overrides, then the older flags (kept: each sets one CompareConfig field).
    overrides = parse_overrides(args.overrides, "compare")
    overrides |= {
        k: getattr(args, k)
        for k in (
            "seeds",
            "selectors",
            "budgets",
            "methods",
            "regimes",
            "steps",
            "grpo_tokens",
            "target_skill",
            "workers",
            "world",
        )
        if getattr(args, k, None) is not None
    }
    if args.probe_only:
        if args.no_probe:
            raise UserInputError("--probe-only and --no-probe contradict each other.")
        overrides["methods"] = []
    try:
        config = load_config(args.config, quick=args.quick, **overrides)
        if args.no_probe:
            config.probe.enabled = False
        if args.probe_reward:
            config.probe.verifiers = list(args.probe_reward)
            config.__post_init__()  # resolve the names now
    except (ValueError, KeyError, FileNotFoundError) as err:
        if getattr(args, "debug", False):
            raise
        return report_user_error("rlvr compare", err)
    start = time.perf_counter()
    results = run_compare(config, args.out, progress=None if args.no_progress else log)
    report = write_report(results, args.out)
    print(f"results: {results}\nreport: {report} ({time.perf_counter() - start:.0f}s)")
    return 0
