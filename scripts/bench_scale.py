"""Scale of the predictive frontier's bookkeeping: time per generation step and bytes per prompt,
at pool sizes from 10k to 10M prompts (simulated: no model, groups drawn from hidden pass rates).

    python scripts/bench_scale.py                       # 10k, 1M, 10M prompts
    python scripts/bench_scale.py --pools 1000000 --steps 100

Per step it runs exactly what `CurriculumGRPOTrainer` runs with ``curricula.predictor`` on:
`PredictiveFrontier.select` (window from the sampler's order + deferred prompts, posterior of
every candidate, Thompson draws, audit records of every deferral) and `PredictiveFrontier.observe`
(the batch's scored groups). Prints, per pool size:

- bookkeeping milliseconds per step (median and 95th percentile over the steps after warm-up),
  and as a share of ``--step-seconds`` (a generation step of the model being trained; the toy
  world's steps take 0.5-1.5 s on 2 CPU cores, a real model's far longer);
- bytes per prompt of state in memory (predictor arrays + the cached order of the current pass
  + the deferral queue) and in the checkpoint (the ``.npz`` file the trainer writes, on disk);
- the one-off cost per pass through the pool (drawing the sampler's permutation);
- at ``--frontier-pools`` sizes, the frontier filter's own state (the safety net that runs
  beside the predictor): bytes per prompt of its arrays in memory and of its ``.npz`` checkpoint.

The trainer's own ``id -> row`` dict and the dataset are not counted: they belong to the data,
not to the predictor (see the README's frontier section for what they cost).
"""

# The simulation and the table live in `rlvr.benchmarks.scale`.
from __future__ import annotations

import sys

from rlvr.benchmarks.scale import main

if __name__ == "__main__":
    sys.exit(main(description=__doc__))
