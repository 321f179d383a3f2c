"""Benchmark: gradient-feature extraction against a plain forward+backward and LESS's loop.

    .venv/bin/python scripts/bench_influence.py [--rows 256] [--batch-size 32] [--dim 8192]

On one model and one dataset (the toy model, warmed up if its cache exists, with LoRA r=8 on
q/k/v/o, the LESS setting), it prints side by side:

* feature extraction time per example relative to a plain batched forward+backward
  (target <= 1.5x);
* relative to a LESS-style per-example loop with a dense projection (target >= 10x faster);
* the fast path on every linear layer too, where the dense LESS projection would not fit;
* bytes stored per example;
* peak memory of extraction into a store for 1x and 10x rows (target: flat), each in a fresh
  process.

Every ratio is printed whatever it is; targets are marked met or missed.
"""

from rlvr.benchmarks.influence import main

if __name__ == "__main__":
    main(description=__doc__.split("\n\n")[0])
