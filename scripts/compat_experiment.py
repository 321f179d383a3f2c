"""Does filtering teacher refinements by student compatibility help the student learn?

The toy world's warmed-up model is the student. For each seed:

1. Draw ``--n-per-skill`` training prompts per skill. The *original* data answers them, with
   ``--original-noise`` of the answers wrong (one character off). A toy teacher refines every
   row, always correctly: half in the student's notation ("82", *compatible*), half as a worked
   chain ("30+40=70,7+5=12,70+12=82", *past the frontier*), see `rlvr.toy.compat`.
2. Run the compatibility filter (`curricula.compat.run.run_compat`) with the student, twice:
   the default rule (Selective Reflection-Tuning + frontier) and the frontier + IFD rule alone.
3. SFT a copy of the student on each arm, the same number of steps and batch size for every arm
   (fixed compute; a smaller arm is repeated more often):

   (a) original   -- the original answers (noisy, in the student's notation)
   (b) refined    -- every refinement
   (c) compat     -- the refinements (or originals) the default compat rule keeps
   (d) compat_fi  -- the same filter with rules frontier + ifd_lt_1 (no r-IFD; see the note)

4. Held-out accuracy per skill (eval split, greedy decoding, answer = text after the last "=").

Writes ``OUT/results.json``, ``OUT/results.md`` (tables) and ``OUT/accuracy.png``.

    .venv/bin/python scripts/compat_experiment.py            # default run, ~5 min on 2 cores
    .venv/bin/python scripts/compat_experiment.py --quick    # < 2 min

Note on r-IFD in the toy world: the toy student was only ever trained on ``prompt answer<eos>``,
so any text before a prompt (the reverse template) makes the prompt *less* predictable and r-IFD
is above 1 for almost every row. The default rule then drops rows for a reason that says more
about the toy student than about the data; arm (d) shows the filter without it.
"""

import sys

from rlvr.benchmarks.compat_experiment import main

if __name__ == "__main__":
    sys.exit(main(description=__doc__.split("\n\n")[0]))
