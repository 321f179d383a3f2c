"""``python -m rlvr.toy``: load the shipped toy world (or build one) and print its pass-rate table."""

from __future__ import annotations

import argparse

from rlvr.cli import add_toy_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlvr.toy", description=__doc__)
    add_toy_arguments(parser)
    args = parser.parse_args(argv)
    from rlvr.errors import run_command  # a ToyWorldError is one line on stderr, status 2

    return run_command(parser.prog, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    from . import build_toy_world, format_pass_rate_table, load_pass_rates, measure_world, recipe_hash
    from .shipped import ship_world
    from .world import shipped_dir

    world = getattr(args, "world", None)
    source = "built" if args.ship else args.source
    path = build_toy_world(args.cache_dir, seed=args.seed, force=args.rebuild, progress=not args.quiet, source=source,
                           world=world)
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


if __name__ == "__main__":
    raise SystemExit(main())
