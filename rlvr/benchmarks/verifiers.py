"""Cost of the rewards package on top of the work it wraps: the TRL adapter running ``math``
against direct ``math_verify`` calls, and the code sandbox against a bare ``subprocess.run``.

Behind ``scripts/bench_verifiers.py`` (its docstring tells the method).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from fractions import Fraction

from rewards import VerifierSpec, isolation, make_reward_funcs
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
        gold = str(value.numerator) if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"
        shown = value if rng.random() < 0.75 else value + 1
        form = index % 4
        if form == 0:
            answer = f"$\\boxed{{{shown.numerator}/{shown.denominator}}}$"
        elif form == 1:
            answer = f"$\\frac{{{2 * shown.numerator}}}{{{2 * shown.denominator}}}$"
        elif form == 2:
            answer = f"{float(shown):.6g}" if shown.denominator in (1, 2, 4, 5, 8, 10) else f"{shown}"
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


def time_direct(pairs) -> tuple[float, float, float]:
    """(wall seconds, mean reward, CPU seconds) of math-verify called here on ``pairs``."""
    from math_verify import parse, verify

    clear_math_caches()
    started, cpu_started, correct = time.perf_counter(), time.process_time(), 0
    for completion, gold in pairs:
        correct += bool(verify(parse(gold), parse(completion)))
    return time.perf_counter() - started, correct / len(pairs), time.process_time() - cpu_started


def workers_cpu_s() -> float:
    """CPU seconds used so far by the current pool's worker processes."""
    import psutil  # an accelerate dependency

    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in isolation.get_pool().worker_pids())


def score_in_batches(reward_func, pairs) -> float:
    """Mean reward over ``pairs``, scored ``BATCH_SIZE`` at a time as TRL calls it."""
    metrics: list = []
    total = 0.0
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
    return total / len(pairs)


def adapter_timer(isolation_mode: str, workers: int | None = None):
    """A timer for the adapter running ``math`` inline or in a fresh pool of ``workers``."""

    def time_adapter(pairs) -> tuple[float, float, float]:
        (reward_func,), _ = make_reward_funcs([VerifierSpec("math", isolation=isolation_mode)])
        in_pool = isolation_mode == "process"
        if in_pool:
            isolation.configure_pool(workers=workers)  # a new pool: empty caches
            isolation.get_pool().start()
            score_in_batches(reward_func, math_pairs(2 * BATCH_SIZE, seed=1))  # warm-up
        clear_math_caches()
        workers_before = workers_cpu_s() if in_pool else 0.0
        started, cpu_started = time.perf_counter(), time.process_time()
        accuracy = score_in_batches(reward_func, pairs)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if in_pool:
            cpu += workers_cpu_s() - workers_before
        return seconds, accuracy, cpu

    return time_adapter


def bench_adapter(count: int, rounds: int) -> None:
    pairs = math_pairs(count)
    time_direct(math_pairs(50, seed=1))  # warm-up: imports, grammar loading
    default_workers = isolation.default_worker_count()
    timers = {
        "direct math_verify.parse/verify": time_direct,
        f"adapter, pool of {default_workers} workers": adapter_timer("process"),
        "adapter, pool of 1 worker": adapter_timer("process", workers=1),
        "adapter, inline": adapter_timer("inline"),
    }
    results: dict[str, list] = {label: [] for label in timers}
    for round_index in range(rounds):
        order = list(timers) if round_index % 2 == 0 else list(reversed(timers))
        for label in order:
            results[label].append(timers[label](pairs))
    isolation.shutdown_pool()
    best = {label: min(run[0] for run in runs) for label, runs in results.items()}
    best_cpu = {label: min(run[2] for run in runs) for label, runs in results.items()}
    direct, direct_cpu = best["direct math_verify.parse/verify"], best_cpu["direct math_verify.parse/verify"]
    print(f"(1) math: {count} completion/answer pairs, best of {rounds} rounds")
    print(f"    batches of {BATCH_SIZE} through the adapter; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.1f}")
    print(f"    {'':<34}  {'wall s':>7}  {'ms/pair':>7}  {'x direct':>8}  {'CPU s':>7}  {'x direct':>8}  reward")
    for label, seconds in best.items():
        cpu = best_cpu[label]
        print(
            f"    {label:<34}: {seconds:7.3f}  {seconds / count * 1e3:7.3f}  {seconds / direct:8.3f}"
            f"  {cpu:7.3f}  {cpu / direct_cpu:8.3f}  {results[label][0][1]:.3f}"
        )
    pool_label = f"adapter, pool of {default_workers} workers"
    pool_ratio = best[pool_label] / direct
    verdict = "met" if pool_ratio <= 1.2 else "NOT met"
    print(
        f"    {'ratio pool (default) / direct':<34}: {pool_ratio:.3f}x wall, "
        f"{best_cpu[pool_label] / direct_cpu:.3f}x CPU (all processes)  (target <= 1.2x: {verdict})"
    )


def bench_sandbox(count: int, rounds: int) -> None:
    lines = len(PROGRAM.strip().splitlines())
    print(f"(2) code sandbox: the same {lines}-line program, {count} runs per round, best of {rounds}")
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


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--pairs", type=int, default=2000, help="math completion/answer pairs")
    parser.add_argument("--programs", type=int, default=30, help="sandbox runs per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per comparison")
    return parser


def run(args: argparse.Namespace) -> None:
    """Both benchmarks, printed as they finish."""
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, euid {os.geteuid()}")
    started = time.perf_counter()
    bench_adapter(args.pairs, args.rounds)
    bench_sandbox(args.programs, args.rounds)
    print(f"total {time.perf_counter() - started:.1f} s")
