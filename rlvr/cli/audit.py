"""``rlvr audit``: summarise, list or export a run's audit log (over `rlvr.audit_report`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="The run's output directory (or its audit.jsonl).")
    p.add_argument("--dropped", action="store_true", help="List drop decisions only.")
    p.add_argument("--decision", help="List decisions of one kind only (kept, dropped, readmitted, masked, "
                                      "probed, skipped).")
    p.add_argument("--prompt", metavar="ID", help="One prompt's whole history.")
    p.add_argument("--steps", metavar="A:B", help="Records of steps A (inclusive) to B (exclusive).")
    p.add_argument("--filter", help="Records of one filter (frontier, zero_variance, ...).")
    p.add_argument("--run", default="latest", help="Run id, 'latest' (default) or 'all'.")
    p.add_argument("--format", default="table", choices=["table", "csv", "json", "parquet"])
    p.add_argument("--output", "-o", help="Write the listing to this file.")
    p.add_argument("--plot", metavar="FILE.png", help="Plot pass rates, active pool and drops by reason.")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ValueError as err:  # a bad --decision/--steps value or a corrupt log line
        if args.debug:
            raise
        from rlvr.errors import report_user_error

        return report_user_error("rlvr audit", err)


def _run(args: argparse.Namespace) -> int:
    from curricula.audit import read_audit
    from rlvr.audit_report import plot, render, select, summary_table, unknown_prompt_message

    records = read_audit(args.run_dir)
    run_id = None if args.run == "all" else args.run
    if args.prompt is not None:
        missing = unknown_prompt_message(records, args.prompt, run_id, args.run_dir)
        if missing:
            print(f"rlvr audit: {missing}", file=sys.stderr)
            return 1
    chosen = select(records, run_id=run_id, dropped=args.dropped, prompt=args.prompt, steps=args.steps,
                    filter_name=args.filter, decision=args.decision)
    if args.plot:
        print(f"wrote {plot(chosen, args.plot)}")
    listing = (args.dropped or args.prompt is not None or args.steps is not None or args.filter is not None
               or args.decision is not None or args.format != "table")
    if not listing:
        print(summary_table(args.run_dir, run_id=run_id))
        return 0
    out = render(chosen, args.format)
    if args.output:
        Path(args.output).write_bytes(out if isinstance(out, bytes) else out.encode())
        print(f"wrote {len(chosen)} records to {args.output}")
    elif isinstance(out, bytes):
        raise ValueError("--format parquet needs --output FILE")
    else:
        sys.stdout.write(out)
    return 0
