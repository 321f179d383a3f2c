"""Benchmark the compatibility filter: scoring throughput and memory as the data grows.

1. Throughput: the same encoded sequences (every view `rlvr compat` scores for a set of
   teacher-refined toy rows) are scored by `StudentLikelihood.score` and pushed through a plain
   batched ``torch.no_grad`` forward of the same model, in the same batches. Reported as
   tokens/s and their ratio (target >= 0.9x). The scorer's time includes building the padded
   batches and the cross-entropy; the plain forward gets its batches prebuilt.
2. Memory: `run_compat` over a JSONL file of N rows and of 10x N rows, each in a fresh
   subprocess; reports the growth of RSS (sampled every 20 ms) from just before the run (model
   loaded, code paths warmed on 8 rows) to its peak during the run. Streaming should make it flat.

    .venv/bin/python scripts/bench_compat.py                 # random toy-sized model
    .venv/bin/python scripts/bench_compat.py --student toy   # the warmed-up toy world
"""

import sys

from rlvr.benchmarks.compat import main

if __name__ == "__main__":
    sys.exit(main(description=__doc__.split("\n\n")[0]))
