"""``rlvr toy`` and ``python -m rlvr.toy``: load the shipped toy world (or build one) and print its
pass-rate table (``--hard-skill-rates``: the accident world's hard-skill rates)."""

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
    parser.add_argument(
        "--hard-skill-rates",
        action="store_true",
        help="with --world accident: print the hard skill's exact and lenient pass rates and its "
        "frequent-guess share (rlvr.toy.accident.hard_skill_rates) instead of the pass-rate table",
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m rlvr.toy``."""
    parser = argparse.ArgumentParser(prog="python -m rlvr.toy", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    from rlvr.errors import run_command  # a ToyWorldError is one line on stderr, status 2

    return run_command(parser.prog, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    from rlvr.toy import build_toy_world, format_pass_rate_table, load_pass_rates, measure_world, recipe_hash
    from rlvr.toy.shipped import ToyWorldError, ship_world
    from rlvr.toy.world import shipped_dir

    world = getattr(args, "world", None)
    if getattr(args, "hard_skill_rates", False) and world != "accident":
        raise ToyWorldError("--hard-skill-rates needs --world accident (the only world with a hard skill).")
    source = "built" if args.ship else args.source
    path = build_toy_world(
        args.cache_dir, seed=args.seed, force=args.rebuild, progress=not args.quiet, source=source, world=world
    )
    if args.ship:
        path = ship_world(path, recipe_hash(args.seed, world), args.seed, dest=shipped_dir(world))
        print(f"Shipped the world built in the cache to {path}")
    if getattr(args, "hard_skill_rates", False):
        return print_hard_skill_rates(path)
    if args.remeasure:
        from curricula.models import load_causal_lm

        rates = measure_world(*load_causal_lm(path, pad_to_eos=False), world)
    else:
        rates = load_pass_rates(path)
    print(path)
    print(format_pass_rate_table(rates))
    return 0


def print_hard_skill_rates(path) -> int:
    """The accident world's hard skill, measured on the model at ``path`` (formerly
    ``python -m rlvr.toy.accident``)."""
    import json

    from curricula.models import load_causal_lm
    from rlvr.toy.accident import hard_skill_rates

    rates = hard_skill_rates(*load_causal_lm(path, pad_to_eos=False))
    print(path)
    print(json.dumps(rates, indent=1))
    return 0
