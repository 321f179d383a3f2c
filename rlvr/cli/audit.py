"""``rlvr audit``: summarise, list or export a run's audit log (over `rlvr.audit_report`)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="The run's output directory (or its audit.jsonl).")
    p.add_argument("--dropped", action="store_true", help="List drop decisions only.")
    p.add_argument(
        "--decision",
        help="List decisions of one kind only (kept, dropped, readmitted, masked, probed, skipped, deferred).",
    )
    p.add_argument("--prompt", metavar="ID", help="One prompt's whole history.")
    p.add_argument("--steps", metavar="A:B", help="Records of steps A (inclusive) to B (exclusive).")
    p.add_argument("--filter", help="Records of one filter (frontier, zero_variance, ...).")
    p.add_argument("--run", default="latest", help="Run id, 'latest' (default) or 'all'.")
    p.add_argument("--format", default="table", choices=["table", "csv", "json", "parquet"])
    p.add_argument("--output", "-o", help="Write the listing to this file.")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="Plot per-skill pass-rate heatmaps (one colour scale, with a "
        "colorbar), the active pool and skips, drops by reason.",
    )
    p.add_argument(
        "--html",
        metavar="FILE.html",
        help="Write one self-contained page to browse the audit offline: "
        "a searchable, sortable prompt table and each prompt's timeline.",
    )


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ValueError as err:  # a bad --decision/--steps value or a corrupt log line
        if args.debug:
            raise
        from rlvr.errors import report_user_error

        return report_user_error("rlvr audit", err)


def _run(args: argparse.Namespace) -> int:
    from rlvr.audit_report import main

    return main(args)
