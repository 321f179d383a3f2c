"""Scale of the predictive frontier's bookkeeping at large pools (simulated, no model): the logic
of ``scripts/bench_scale.py`` (its docstring says what is measured).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence

import numpy as np

from curricula.base import GroupResult
from curricula.config import PredictorConfig
from curricula.predictive import PredictiveFrontier


class RowIds(Sequence):
    """Prompt ids "0".."n-1" without a list of n strings (a 10M-string list is 600+ MB)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return str(int(i))


class RowOf(Mapping):
    """id -> row for `RowIds`, computed, not stored."""

    def __init__(self, n: int):
        self.n = n

    def __getitem__(self, pid):
        return int(pid)

    def __contains__(self, pid):
        return pid.isdigit() and int(pid) < self.n

    def __iter__(self):
        return iter(map(str, range(self.n)))

    def __len__(self):
        return self.n


def checkpoint_bytes(frontier) -> int:
    """Size on disk of a filter's state as the trainer writes it (one ``.npz`` file): the
    `PredictiveFrontier`'s or the `FrontierFilter`'s."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "state.npz")
        np.savez(path, **frontier.state_dict())
        return os.path.getsize(path)


def step_summary(per_step: list[float]) -> dict:
    """Median and 95th percentile milliseconds of the steps after warm-up (the first 5 steps, or
    all but the last when there are fewer)."""
    steady = per_step[min(5, len(per_step) - 1) :]
    return {"median_ms": 1000 * statistics.median(steady), "p95_ms": 1000 * float(np.percentile(steady, 95))}


def simulate(pool: int, steps: int, batch: int, generations: int, skills: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    skill = rng.integers(0, skills, size=pool).astype(np.int32)
    skill_mean = np.linspace(0.02, 0.95, skills)  # graded difficulty, one hopeless skill
    pass_rate = np.clip(rng.beta(2.0, 2.0, size=pool) * 0.4 - 0.2 + skill_mean[skill], 0.0, 1.0).astype(np.float32)
    started = time.perf_counter()
    frontier = PredictiveFrontier(
        PredictorConfig(enabled=True),
        RowIds(pool),
        RowOf(pool),
        order=lambda epoch: np.random.default_rng([seed, epoch]).permutation(pool).astype(np.int32),
        batch_size=batch,
        num_generations=generations,
        groups=skill,
        seed=seed,
    )
    build = time.perf_counter() - started
    per_step = []
    for step in range(steps):
        started = time.perf_counter()
        selection, _ = frontier.select(step, seed, columns=lambda rows: lambda row: {"skill": int(skill[row])})
        chosen = selection.chosen
        selected = time.perf_counter()
        rewards = (rng.random((len(chosen), generations)) < pass_rate[chosen, None]).astype(float)  # the "model"
        scored = time.perf_counter()
        frontier.observe([GroupResult(str(r), list(g)) for r, g in zip(chosen.tolist(), rewards)], step)
        per_step.append((selected - started) + (time.perf_counter() - scored))
    return {
        "pool": pool,
        "build_s": build,
        "first_select_s": per_step[0] if per_step else None,  # includes drawing the pass's permutation
        **step_summary(per_step),
        "memory_bytes": frontier.nbytes_per_prompt(),
        "checkpoint_bytes": checkpoint_bytes(frontier) / pool,
    }


def frontier_filter_state(pool: int) -> dict:
    """Bytes per prompt of the frontier filter's state (the predictor's safety net: its drop,
    re-probe and skip rules) over ``pool`` prompts, in memory (its arrays, like
    `PassRatePredictor.nbytes_per_prompt`; the ids and id -> row map are the trainer's, shared)
    and in the checkpoint (its ``.npz`` file, as the trainer writes it)."""
    from curricula.config import FrontierConfig
    from curricula.frontier import FrontierFilter

    frontier = FrontierFilter(FrontierConfig(enabled=True), RowIds(pool), RowOf(pool))
    started = time.perf_counter()
    checkpoint = checkpoint_bytes(frontier)
    return {
        "memory_bytes": frontier.nbytes_per_prompt(),
        "checkpoint_bytes": checkpoint / pool,
        "save_s": time.perf_counter() - started,
    }


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """``scripts/bench_scale.py``'s command line (``description``: the script's docstring)."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pools", type=int, nargs="+", default=[10_000, 1_000_000, 10_000_000])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch", type=int, default=8, help="prompts per generation step (the toy bench: 8)")
    p.add_argument("--generations", type=int, default=8)
    p.add_argument("--skills", type=int, default=6)
    p.add_argument(
        "--step-seconds",
        type=float,
        default=1.0,
        help="a training step's time, for the share (the toy world on 2 CPU cores: ~0.5-1.5 s)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--frontier-pools",
        type=int,
        nargs="*",
        default=[10_000, 1_000_000],
        help="pool sizes at which the frontier filter's own state is measured too (none: skip)",
    )
    return p


def main(argv=None, description: str | None = None) -> int:
    args = build_parser(description).parse_args(argv)
    print(
        f"=== predictive frontier bookkeeping: {args.steps} steps x {args.batch} prompts x {args.generations} "
        f"generations, window {PredictorConfig.window_factor:g}x the batch ==="
    )
    print(
        f"     pool  ms/step (median, p95)  share of a {args.step_seconds:.1f} s step  bytes/prompt memory  checkpoint  "
        "once per pass (s)"
    )
    for pool in args.pools:
        r = simulate(pool, args.steps, args.batch, args.generations, args.skills, args.seed)
        share = r["median_ms"] / 1000 / args.step_seconds
        print(
            f"{pool:>9,}  {r['median_ms']:>8.2f} {r['p95_ms']:>8.2f}       {share:>12.2%}            "
            f"{r['memory_bytes']:>10.1f}  {r['checkpoint_bytes']:>10.1f}  {r['first_select_s']:>8.2f} "
            f"(+ {r['build_s']:.2f} to allocate)",
            flush=True,
        )
    print("(targets: bookkeeping <= 2% of step time, per-step cost independent of the pool, <= 32 B/prompt)")
    if args.frontier_pools:
        print("\n=== the frontier filter beside it (its safety net), state only ===")
        print("     pool  bytes/prompt memory  checkpoint (.npz)  save (s)")
    for pool in args.frontier_pools or []:
        r = frontier_filter_state(pool)
        print(
            f"{pool:>9,}  {r['memory_bytes']:>19.1f}  {r['checkpoint_bytes']:>17.1f}  {r['save_s']:>8.2f}", flush=True
        )
    return 0
