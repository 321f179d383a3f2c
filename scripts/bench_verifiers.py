"""Measure what the rewards package costs on top of the work it wraps.

1. The TRL adapter running the ``math`` verifier, against calling ``math_verify.parse`` and
   ``math_verify.verify`` directly on the same completion/answer pairs (target: <= 1.2x).
2. The code sandbox (`rewards.sandbox.run_python`) against a bare
   ``subprocess.run([sys.executable, "-c", program])`` of the same program.

Both sides of each comparison run in this process, alternating, and the best round of each is
reported (the least disturbed by the rest of the machine). Caches that would favour whichever
side runs second (sympy's, math-verify's parse caches) are cleared before every timed run.

Usage: ``python scripts/bench_verifiers.py [--pairs 2000] [--programs 30] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rewards import VerifierSpec, make_reward_funcs
from rewards.sandbox import SandboxUnavailableError, run_python

BATCH_SIZE = 64  # completions per reward-function call, as in a GRPO step
PROGRAM = """
def add(a, b):
    return a + b

assert add(1, 2) == 3
assert add(-1, 1) == 0
print("ok")
"""


def math_pairs(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """Distinct (completion, gold answer) pairs in the forms math verifiers meet; ~1/4 wrong."""
    rng = random.Random(seed)
    pairs = []
    for index in range(count):
        value = Fraction(rng.randint(1, 500), rng.randint(1, 12))
        gold = (
            str(value.numerator)
            if value.denominator == 1
            else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
        )
        shown = value if rng.random() < 0.75 else value + 1
        form = index % 4
        if form == 0:
            answer = f"$\\boxed{{{shown.numerator}/{shown.denominator}}}$"
        elif form == 1:
            answer = f"$\\frac{{{2 * shown.numerator}}}{{{2 * shown.denominator}}}$"
        elif form == 2:
            answer = (
                f"{float(shown):.6g}" if shown.denominator in (1, 2, 4, 5, 8, 10) else f"{shown}"
            )
        else:
            answer = f"\\boxed{{\\dfrac{{{shown.numerator}}}{{{shown.denominator}}}}}"
        pairs.append((f"Step {index}: working it out carefully, the answer is {answer}.", gold))
    return pairs


def clear_math_caches() -> None:
    import sympy.core.cache
    from math_verify import parser

    sympy.core.cache.clear_cache()
    parser.parse_latex_cached.cache_clear()
    parser.parse_expr_cached.cache_clear()


def time_direct(pairs) -> tuple[float, float]:
    from math_verify import parse, verify

    clear_math_caches()
    started, correct = time.perf_counter(), 0
    for completion, gold in pairs:
        correct += bool(verify(parse(gold), parse(completion)))
    return time.perf_counter() - started, correct / len(pairs)


def time_adapter(pairs) -> tuple[float, float]:
    (reward_func,), _ = make_reward_funcs([VerifierSpec("math")])
    metrics: list = []
    clear_math_caches()
    started, total = time.perf_counter(), 0.0
    for start in range(0, len(pairs), BATCH_SIZE):
        batch = pairs[start : start + BATCH_SIZE]
        rewards = reward_func(
            prompts=["What is it?"] * len(batch),
            completions=[completion for completion, _ in batch],
            completion_ids=[[0]] * len(batch),
            answer=[gold for _, gold in batch],
            id=[f"p{start + i}" for i in range(len(batch))],
            trainer_state=None,
            log_extra=lambda column, values: None,
            log_metric=lambda name, value: metrics.append((name, value)),
        )
        total += sum(reward or 0.0 for reward in rewards)
    return time.perf_counter() - started, total / len(pairs)


def bench_adapter(count: int, rounds: int) -> None:
    pairs = math_pairs(count)
    time_direct(math_pairs(50, seed=1))  # warm-up: imports, grammar loading
    direct, adapter = [], []
    for round_index in range(rounds):
        order = (time_direct, time_adapter) if round_index % 2 == 0 else (time_adapter, time_direct)
        for timer in order:
            seconds, accuracy = timer(pairs)
            (direct if timer is time_direct else adapter).append((seconds, accuracy))
    best_direct, best_adapter = min(direct)[0], min(adapter)[0]
    ratio = best_adapter / best_direct
    verdict = "met" if ratio <= 1.2 else "NOT met"
    print(f"(1) math: {count} completion/answer pairs, best of {rounds} rounds")
    print(f"    batches of {BATCH_SIZE} through the adapter")
    for label, seconds, accuracy in (
        ("direct math_verify.parse/verify", best_direct, direct[0][1]),
        ("adapter (make_reward_funcs)", best_adapter, adapter[0][1]),
    ):
        per_pair_ms = seconds / count * 1e3
        print(
            f"    {label:<32}: {seconds:7.3f} s  ({per_pair_ms:.3f} ms/pair)  reward {accuracy:.3f}"
        )
    print(f"    {'ratio adapter/direct':<32}: {ratio:.3f}x  (target <= 1.2x: {verdict})")


def bench_sandbox(count: int, rounds: int) -> None:
    lines = len(PROGRAM.strip().splitlines())
    print(
        f"(2) code sandbox: the same {lines}-line program, {count} runs per round, best of {rounds}"
    )
    try:
        run_python(PROGRAM)  # warm-up, and the availability check
    except SandboxUnavailableError as err:
        print(f"    sandbox unavailable here: {err}")
        return

    def bare(flags):
        def run():
            subprocess.run([sys.executable, *flags, "-c", PROGRAM], capture_output=True, check=True)

        return run

    def sandboxed():
        result = run_python(PROGRAM)
        assert result.ok and result.stdout == "ok\n", result

    timers = {
        "bare subprocess.run(python -c)": bare([]),
        "bare subprocess.run(python -I -S -c)": bare(["-I", "-S"]),
        "sandbox run_python": sandboxed,
    }
    best = {label: float("inf") for label in timers}
    for _ in range(rounds):
        for label, run in timers.items():
            started = time.perf_counter()
            for _ in range(count):
                run()
            best[label] = min(best[label], (time.perf_counter() - started) / count)
    for label, seconds in best.items():
        print(f"    {label:<48}: {seconds * 1e3:7.2f} ms/run")
    sandbox_s = best.pop("sandbox run_python")
    for label, seconds in best.items():
        ratio_label = "ratio sandbox / " + label.removeprefix("bare ")
        print(f"    {ratio_label:<48}: {sandbox_s / seconds:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2000, help="math completion/answer pairs")
    parser.add_argument("--programs", type=int, default=30, help="sandbox runs per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per comparison")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, euid {os.geteuid()}")
    started = time.perf_counter()
    bench_adapter(args.pairs, args.rounds)
    bench_sandbox(args.programs, args.rounds)
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
