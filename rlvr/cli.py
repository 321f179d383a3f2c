"""The `rlvr` command: ``rlvr train``, ``rlvr audit``, ``rlvr toy`` and the commands below.

Each subcommand is a thin layer over a function in the packages, so everything the command
line does is also importable. A subcommand module listed in `SUBCOMMANDS` exposes
``add_arguments(parser)`` and ``run(args) -> int``; it is imported only when used.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS = {
    "frontier": ("rlvr.frontier_cli", "Estimate pass rates offline and write the frontier-filtered dataset."),
    "compat": ("rlvr.compat_cli", "Score teacher-refined data with the student; keep what it can learn."),
    "influence": ("rlvr.influence.cli", "Gradient-influence scores of training data against target skills."),
    "compare": ("rlvr.compare_cli", "Influence vs difficulty: train on each selection and compare."),
    "report": ("rlvr.report_cli", "Regenerate a comparison report from its results file."),
}


def _module_exists(module: str) -> bool:
    """Whether ``module`` is installed, found without importing its package (`rlvr.influence`
    imports torch: seconds that every `rlvr audit` would pay for nothing)."""
    import importlib.util
    from pathlib import Path

    top, *packages, leaf = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None:
        return False
    folders = [Path(loc).joinpath(*packages) for loc in spec.submodule_search_locations or []]
    return any((f / f"{leaf}.py").is_file() or (f / leaf / "__init__.py").is_file() for f in folders)


def _module_subcommands(sub) -> dict:
    found = {}
    for name, (module, help_text) in SUBCOMMANDS.items():
        if not _module_exists(module):
            continue
        parser = sub.add_parser(name, help=help_text, description=help_text)
        found[name] = (module, parser)
    return found


def _audit_parser(sub) -> None:
    p = sub.add_parser("audit", help="Summarise or export a run's audit log.",
                       description="Which prompts were filtered, when, and why.")
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
    p.add_argument("--plot", metavar="FILE.png", help="Plot per-skill pass-rate heatmaps (one colour scale, with a "
                                                     "colorbar), the active pool and skips, drops by reason.")
    p.add_argument("--html", metavar="FILE.html", help="Write one self-contained page to browse the audit offline: "
                                                     "a searchable, sortable prompt table and each prompt's timeline.")


def add_toy_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``rlvr toy`` and ``python -m rlvr.toy`` (here, so that parsing imports no torch)."""
    parser.add_argument("--cache-dir", default=None, help="where built worlds go; default: $RLVR_CACHE or ~/.cache/rlvr")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--world", default=None,
                        help="the world variant: default, or accident (a hard skill with accidental successes); "
                             "see rlvr/toy/variants.py")
    parser.add_argument("--source", choices=("auto", "shipped", "built"), default=None,
                        help="the world shipped with the package, or one built from the recipe on this machine "
                             "(default: $RLVR_TOY_WORLD, else auto: the shipped one when it fits the seed and recipe)")
    parser.add_argument("--rebuild", "--force", dest="rebuild", action="store_true",
                        help="build from the recipe into the cache, even if cached (results differ across CPUs)")
    parser.add_argument("--ship", action="store_true",
                        help="copy the built world of the current recipe into the package (rlvr/toy/shipped_world/) "
                             "with a fresh manifest; for maintainers after a recipe change")
    parser.add_argument("--remeasure", action="store_true", help="measure the pass rates anew from the saved model")
    parser.add_argument("--quiet", action="store_true", help="no warm-up progress")


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a user error (see `rlvr.errors`) is one line on stderr and status 2."""
    from rlvr.errors import run_command

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":  # the recipe owns its own arguments (and reports its errors)
        from rlvr.train import cli as train_cli

        return train_cli(argv[1:])
    command = next((a for a in argv if not a.startswith("-")), None)
    prog = f"rlvr {command}" if command else "rlvr"
    # Read before parsing, so that an error while building a subcommand's parser honours it too.
    return run_command(prog, lambda: _run_subcommand(argv), debug="--debug" in argv)


def _run_subcommand(argv: list[str]) -> int:
    from rlvr.errors import DEBUG_HELP

    parser = argparse.ArgumentParser(prog="rlvr", description="RL with verifiable rewards and curriculum filtering.")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="Train with GRPO: rlvr train --config FILE [section.key=value ...]",
                   add_help=False)
    _audit_parser(sub)
    toy = sub.add_parser("toy", help="Load the shipped toy world (or build one) and print its pass-rate table.")
    add_toy_arguments(toy)
    modules = _module_subcommands(sub)
    command = argv[0] if argv else None
    if command in modules:
        module = importlib.import_module(modules[command][0])
        module.add_arguments(modules[command][1])
    for subparser in [*(p for _, p in modules.values()), sub.choices["audit"], toy]:
        # SUPPRESS: a subcommand's default must not overwrite `rlvr --debug <command>`.
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)

    args = parser.parse_args(argv)
    if args.command == "audit":
        from rlvr.audit_report import main as audit_main

        try:
            return audit_main(args)
        except ValueError as err:  # a bad --decision/--steps value or a corrupt log line
            if args.debug:
                raise
            from rlvr.errors import report_user_error

            return report_user_error("rlvr audit", err)
    if args.command in modules:
        return importlib.import_module(modules[args.command][0]).run(args)
    if args.command == "toy":
        from rlvr.toy.__main__ import run as toy_run

        return toy_run(args)
    return 1


if __name__ == "__main__":
    sys.exit(main())
