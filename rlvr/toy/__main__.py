"""``python -m rlvr.toy``: build (or load) the toy world and print its pass-rate table."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlvr.toy", description=__doc__)
    parser.add_argument("--cache-dir", default=None, help="default: $RLVR_CACHE or ~/.cache/rlvr")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--remeasure", action="store_true", help="measure the pass rates anew from the saved model")
    parser.add_argument("--quiet", action="store_true", help="no warm-up progress")
    args = parser.parse_args(argv)

    from . import build_toy_world, format_pass_rate_table, load_pass_rates, measure_world

    path = build_toy_world(args.cache_dir, seed=args.seed, force=args.force, progress=not args.quiet)
    if args.remeasure:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        rates = measure_world(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path))
    else:
        rates = load_pass_rates(path)
    print(path)
    print(format_pass_rate_table(rates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
