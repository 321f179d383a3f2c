"""``rlvr toy`` and ``python -m rlvr.toy``: load the shipped toy world (or build one) and print its
pass-rate table."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``rlvr toy`` and ``python -m rlvr.toy`` (parsing them imports no torch)."""
    parser.add_argument(
        "--cache-dir", default=None, help="where built worlds go; default: $RLVR_CACHE or ~/.cache/rlvr"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--world",
        default=None,
        help="the world variant: default, or accident (a hard skill with accidental successes); "
        "see rlvr/toy/variants.py",
    )
    parser.add_argument(
        "--source",
        choices=("auto", "shipped", "built"),
        default=None,
        help="the world shipped with the package, or one built from the recipe on this machine "
        "(default: $RLVR_TOY_WORLD, else auto: the shipped one when it fits the seed and recipe)",
    )
    parser.add_argument(
        "--rebuild",
        "--force",
        dest="rebuild",
        action="store_true",
        help="build from the recipe into the cache, even if cached (results differ across CPUs)",
    )
    parser.add_argument(
        "--ship",
        action="store_true",
        help="copy the built world of the current recipe into the package (rlvr/toy/shipped_world/) "
        "with a fresh manifest; for maintainers after a recipe change",
    )
    parser.add_argument("--remeasure", action="store_true", help="measure the pass rates anew from the saved model")
    parser.add_argument("--quiet", action="store_true", help="no warm-up progress")


def main(argv: list[str] | None = None) -> int:
    """``python -m rlvr.toy``."""
    parser = argparse.ArgumentParser(prog="python -m rlvr.toy", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    from rlvr.errors import run_command  # a ToyWorldError is one line on stderr, status 2

    return run_command(parser.prog, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    from rlvr.toy import build_toy_world, format_pass_rate_table, load_pass_rates, measure_world, recipe_hash
    from rlvr.toy.shipped import ship_world
    from rlvr.toy.world import shipped_dir

    world = getattr(args, "world", None)
    source = "built" if args.ship else args.source
    path = build_toy_world(
        args.cache_dir, seed=args.seed, force=args.rebuild, progress=not args.quiet, source=source, world=world
    )
    if args.ship:
        path = ship_world(path, recipe_hash(args.seed, world), args.seed, dest=shipped_dir(world))
        print(f"Shipped the world built in the cache to {path}")
    if args.remeasure:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        rates = measure_world(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path), world)
    else:
        rates = load_pass_rates(path)
    print(path)
    print(format_pass_rate_table(rates))
    return 0
