"""Frontier filter vs plain TRL GRPO on the toy world, side by side in one run.

    python scripts/bench_frontier.py                 # 3 seeds x 3 arms x 60 steps
    python scripts/bench_frontier.py --seeds 0 --steps 20   # quick look
    python scripts/bench_frontier.py --arms trl rlvr-predict --seeds 0 1 2 3 4 --one-pass

Arms: ``trl`` (plain `GRPOTrainer`), ``rlvr`` (frontier filter: drops on confidence bounds,
zero-variance masking, over-sampling), ``rlvr-skip`` (the same plus GRESO-style skipping
of prompts on a zero-variance streak before rollout) and ``rlvr-predict`` (the predictive
frontier, ``curricula.predictor``: a pass-rate predictor pooled over each prompt's skill picks
every batch from a window read ahead in the sampler's order; the frontier filter's drop rules
and zero-variance masking stay on as its safety net; no over-sampling). ``rlvr-oracle`` is an
upper bound, not a method: ``rlvr-predict`` whose posteriors are each candidate's pass rate
measured on the current policy (16 rollouts per candidate per step, not counted as tokens; see
`rlvr.benchmarks.frontier.install_oracle`), asking how far perfect foresight takes selection.
``rlvr-answer`` is reported apart, never a default: ``rlvr-predict`` whose prior is the policy's
likelihood of each candidate's reference answer (one forward pass over the window per step,
counted in (c); `install_answer_likelihood`), near exact on exact-match tasks like these and weak
on real reasoning traces.

Protocols: by default the pool holds ``--n-per-skill`` prompts per skill and prompts repeat
(several epochs); ``--one-pass`` sizes the pool to ``--pool-factor`` (default 2) x steps x batch
prompts, so TRL sees each prompt at most once (the usual RLVR protocol, and the one where history-only filters take no
decision). ``--world`` picks the world (`WORLDS`): ``toy`` (the shipped default) or ``accident``
(another skill and difficulty mix, `rlvr.toy.variants`); another one plugs in with an entry
there. ``--variant NAME:key=value,...`` adds an arm ``predict-NAME`` (rlvr-predict with other
`PredictorConfig` fields, or `FrontierConfig` fields the predictor lacks, e.g.
``os:oversample=true``), so several settings run beside one TRL arm. All start from the same warmed-up toy
model, see the same prompts (all skills, the hopeless one included) with the same seeds and
the same optimizer-step budget. Prints, for each rlvr arm beside TRL:

(a) share of *generated* rollouts in groups with no learning signal (zero-variance groups,
    over-sampled ones included), rlvr beside TRL's;
(b) rollout tokens (prompt + completion, as TRL counts `num_input_tokens_seen`) until the
    held-out accuracy on the target skills first reaches the best accuracy plain TRL reaches
    during training (same seed), as a ratio rlvr / TRL; and (b') the same against a less noisy
    mark: until the running mean of 3 held-out points reaches TRL's final running mean (the
    best point of a noisy curve is often one lucky evaluation);
(c) the filter's bookkeeping time as a share of training time;
(d) held-out accuracy on the easy skills before and after (does dropping hopeless prompts
    protect them?);
(e) rollout tokens over the whole run, rlvr / TRL (over-sampling spends more per step).
"""

# The logic (worlds, arms, measurements, printout, plot) lives in `rlvr.benchmarks.frontier`.
from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from rlvr.benchmarks.frontier import main  # noqa: E402  (after the telemetry switch)

if __name__ == "__main__":
    sys.exit(main(description=__doc__))
