"""``rlvr report RESULTS --out DIR``: regenerate a comparison's report from its results file alone."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="A results.jsonl written by 'rlvr compare'.")
    parser.add_argument("--out", required=True, help="Folder for report.md and report.png.")


def run(args: argparse.Namespace) -> int:
    from rlvr.compare import write_report

    print(write_report(args.results, args.out))
    return 0
