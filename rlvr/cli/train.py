"""``rlvr train`` and ``accelerate launch scripts/train_grpo.py``: the command line of the GRPO
recipe (`rlvr.train`).

The recipe parses its own arguments rather than going through the shared subcommand parser:
besides ``--config`` and ``section.key=value`` overrides it takes TRL-style ``--key value`` flags
(`rlvr.recipe.split_flags`), which argparse cannot know in advance.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from rlvr.errors import DEBUG_HELP
from rlvr.train import run_recipe  # first: it sets the Hugging Face environment before any HF import


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlvr train",
        description="Train a policy with GRPO (TRL) and rlvr's curriculum filters.",
        epilog="Overrides: section.key=value, e.g. grpo.max_steps=5 data.train=prompts.jsonl; or TRL-style flags, "
        "e.g. --learning_rate 1e-5 --max_steps=5 --reward_funcs math format (applied after the overrides).",
    )
    parser.add_argument("--config", required=True, help="YAML run config (see configs/toy.yaml).")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        help="Resume from a checkpoint directory, or from the latest in grpo.output_dir (no value). "
        "Refuses a checkpoint of another config or run (see --force).",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="Start anew in an output directory that holds a previous run: delete that run's files "
        "(checkpoints, audit and error logs, summary, final model; see rlvr/run_dir.py).",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="With --resume: resume from a checkpoint even if another config or run wrote it.",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; ``--resume section.key=value`` is ``--resume`` followed by an override
    (argparse would take the override for the checkpoint path, its optional value)."""
    from rlvr.config import SECTIONS
    from rlvr.recipe import split_flags

    parser = build_arg_parser()
    argv, flags = split_flags(
        list(sys.argv[1:] if argv is None else argv), set(parser._option_string_actions), SECTIONS
    )
    args = parser.parse_args(argv)
    args.overrides = [*args.overrides, *flags]
    if args.resume not in (None, "auto") and "=" in args.resume and not Path(args.resume).exists():
        args.overrides.insert(0, args.resume)
        args.resume = "auto"
    return args


def train(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` and run the recipe; returns the run's summary. Errors propagate (`main`
    reports them)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_recipe(args)


def main(argv: list[str] | None = None) -> int:
    """The recipe, with a user error (config, data, verifier spec) reported as one line on stderr
    and exit status 2."""
    from rlvr.errors import run_command

    argv = list(sys.argv[1:] if argv is None else argv)

    def train_once() -> None:
        train(argv)

    status = run_command("rlvr train", train_once, debug="--debug" in argv)
    if status == 0:
        # A finished multi-process run ends here, skipping the interpreter finalization in which
        # gloo's teardown can abort or hang; one process returns at once. Never after an error: a
        # peer may still be inside a collective.
        from rlvr.distributed import finish_distributed_process

        finish_distributed_process()
    return status
