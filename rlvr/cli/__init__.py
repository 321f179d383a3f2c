"""The `rlvr` command. One module per subcommand, here in ``rlvr/cli/``:

=========  =====================  ============================================================
command    module                 over
=========  =====================  ============================================================
train      `rlvr.cli.train`       `rlvr.train` (the recipe; its own argument parsing)
audit      `rlvr.cli.audit`       `rlvr.audit_report`
toy        `rlvr.cli.toy`         `rlvr.toy` (also ``python -m rlvr.toy``)
frontier   `rlvr.cli.frontier`    `curricula.frontier`, `rlvr.config`
compat     `rlvr.cli.compat`      `curricula.compat`
influence  `rlvr.cli.influence`   `rlvr.influence.pipeline`
compare    `rlvr.cli.compare`     `rlvr.compare`
report     `rlvr.cli.report`      `rlvr.compare.report`
=========  =====================  ============================================================

Each subcommand is a thin layer over functions in the packages, so everything the command line
does is also importable. A subcommand module exposes ``add_arguments(parser)`` and
``run(args) -> int``; it is imported only when used. ``rlvr train`` hands its arguments to
`rlvr.cli.train` unparsed (TRL-style ``--key value`` flags cannot be declared in advance).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS = {
    "audit": ("rlvr.cli.audit", "Summarise or export a run's audit log."),
    "toy": ("rlvr.cli.toy", "Load the shipped toy world (or build one) and print its pass-rate table."),
    "frontier": ("rlvr.cli.frontier", "Estimate pass rates offline and write the frontier-filtered dataset."),
    "compat": ("rlvr.cli.compat", "Score teacher-refined data with the student; keep what it can learn."),
    "influence": ("rlvr.cli.influence", "Gradient-influence scores of training data against target skills."),
    "compare": ("rlvr.cli.compare", "Influence vs difficulty: train on each selection and compare."),
    "report": ("rlvr.cli.report", "Regenerate a comparison report from its results file."),
}
DESCRIPTIONS = {"audit": "Which prompts were filtered, when, and why."}


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a user error (see `rlvr.errors`) is one line on stderr and status 2."""
    from rlvr.errors import run_command

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":  # the recipe owns its own arguments (and reports its errors)
        from rlvr.cli.train import main as train_main

        return train_main(argv[1:])
    command = next((a for a in argv if not a.startswith("-")), None)
    prog = f"rlvr {command}" if command else "rlvr"
    # Read before parsing, so that an error while building a subcommand's parser honours it too.
    return run_command(prog, lambda: _run_subcommand(argv), debug="--debug" in argv)


def _run_subcommand(argv: list[str]) -> int:
    args = parse_args(argv)
    return importlib.import_module(SUBCOMMANDS[args.command][0]).run(args)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The parsed arguments of one subcommand (not ``train``)."""
    from rlvr.errors import DEBUG_HELP

    command = next((a for a in argv if not a.startswith("-")), None)

    parser = argparse.ArgumentParser(prog="rlvr", description="RL with verifiable rewards and curriculum filtering.")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="Train with GRPO: rlvr train --config FILE [section.key=value ...]", add_help=False)
    parsers = {
        name: sub.add_parser(name, help=help_text, description=DESCRIPTIONS.get(name, help_text))
        for name, (_, help_text) in SUBCOMMANDS.items()
    }
    if command in SUBCOMMANDS:  # only the chosen command's module is imported
        module = importlib.import_module(SUBCOMMANDS[command][0])
        module.add_arguments(parsers[command])
        if hasattr(module, "translate_argv"):  # old flag spellings -> the shared KEY=VALUE form
            argv = module.translate_argv(argv)
    for subparser in parsers.values():
        # SUPPRESS: a subcommand's default must not overwrite `rlvr --debug <command>`.
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and all("=" in t and not t.startswith("-") for t in extra):
        args.overrides = [*args.overrides, *extra]  # KEY=VALUE overrides on both sides of a flag
    elif extra:
        parsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


if __name__ == "__main__":
    sys.exit(main())
