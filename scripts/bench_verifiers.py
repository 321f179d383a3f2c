"""Measure what the rewards package costs on top of the work it wraps.

1. The TRL adapter running the ``math`` verifier, against calling ``math_verify.parse`` and
   ``math_verify.verify`` directly on the same completion/answer pairs (target: <= 1.2x), in
   batches of 64 (8 prompts x 8 generations): in the worker-process pool (``math``'s default
   isolation, `rewards.isolation`), with its default worker count and with one worker (the
   pool's own cost, without the parallelism), and inline (``isolation="inline"``).
2. The code sandbox (`rewards.sandbox.run_python`) against a bare
   ``subprocess.run([sys.executable, "-c", program])`` of the same program.

Both sides of each comparison run in this process, alternating, and the best round of each is
reported (the least disturbed by the rest of the machine). Caches that would favour whichever
side runs second (sympy's, math-verify's parse caches) are cleared before every timed run; the
pool is a new one for every timed run (its workers' caches start empty), started and warmed up
(on other pairs) before the clock starts, as it is after the first step of a training run.

Usage: ``python scripts/bench_verifiers.py [--pairs 2000] [--programs 30] [--rounds 3]``
"""

from rlvr.benchmarks.verifiers import build_parser, run

if __name__ == "__main__":
    run(build_parser(__doc__.split("\n\n")[0]).parse_args())
