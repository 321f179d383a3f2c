"""Progress of `rlvr compare`: which arms run first, and a time-left estimate that holds.

The estimate used to be "remaining arms x mean seconds of the finished arms of their method,
falling back to the mean of all finished arms". Arms were started in plan order (seed 0's SFT
arms, then its GRPO arms, ..., the probe last), so for the first arms every GRPO and probe arm
was costed at the SFT mean: in the 5-seed showdown of 2026-12-03 (_notes/showdown5.log) the
first 34 lines said ~650-770 s left, and the line after the first GRPO arm said ~2462 s; the
estimate then kept climbing to ~3560 s (GRPO arms cost ~10x an SFT arm).

Now (1) one *pilot* arm of each cost kind (method, and whether it is a probe arm) starts first,
so every kind is measured early; (2) until each kind still to run has one measurement the
estimate says so instead of guessing; (3) a kind's cost is the mean of its finished arms at the
same budget when there are some, else of the kind. Results do not depend on the order in which
arms run (each trains its own copy of the warm model with its own seed).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence


def cost_kind(arm) -> tuple[str, bool]:
    """Arms of one kind cost about the same: SFT takes fixed steps, GRPO a fixed token budget;
    probe arms train on their own pool and filter."""
    return (arm.method, arm.regime == "probe")


def schedule(arms: Sequence) -> list[int]:
    """Indices of ``arms`` in the order to start them: the first arm of each kind, then the rest
    in plan order."""
    pilots, seen = [], set()
    for i, arm in enumerate(arms):
        if cost_kind(arm) not in seen:
            seen.add(cost_kind(arm))
            pilots.append(i)
    chosen = set(pilots)
    return pilots + [i for i in range(len(arms)) if i not in chosen]


class TimeLeft:
    """Seconds left for the unfinished arms, from the finished arms' durations."""

    def __init__(self, arms: Sequence, workers: int):
        self.arms, self.workers = list(arms), max(1, workers)
        self.seconds: dict[int, float] = {}

    def finished(self, index: int, seconds: float) -> None:
        self.seconds[index] = seconds

    def expected(self, arm) -> float | None:
        same_kind = [
            (self.arms[i].budget, s) for i, s in self.seconds.items() if cost_kind(self.arms[i]) == cost_kind(arm)
        ]
        if not same_kind:
            return None
        same_budget = [s for budget, s in same_kind if budget == arm.budget]
        return statistics.fmean(same_budget or [s for _, s in same_kind])

    def estimate(self) -> float | None:
        """Seconds left (the unfinished arms' expected costs spread over the workers), or `None`
        while some kind still to run has no finished arm."""
        left = [self.expected(arm) for i, arm in enumerate(self.arms) if i not in self.seconds]
        if any(cost is None for cost in left):
            return None
        return sum(left) / min(self.workers, max(1, len(left)))


class ArmProgress:
    """One line per finished arm (through ``say``) and, on a terminal, a tqdm bar whose
    right-hand side is `TimeLeft`'s estimate (tqdm's own rate would average cheap and dear arms)."""

    def __init__(self, arms: Sequence, workers: int, say: Callable[[str], None], bar: bool | None = None):
        self.time_left, self.say, self.start = TimeLeft(arms, workers), say, time.perf_counter()
        self.done = 0
        self.bar = None
        if bar is not False:
            from tqdm.auto import tqdm

            # disable=None: drawn on a terminal only; logs and pipes get the lines alone.
            self.bar = tqdm(
                total=len(arms),
                unit="arm",
                file=sys.stderr,
                dynamic_ncols=True,
                disable=None if bar is None else False,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {postfix}]",
            )
            self.bar.set_postfix_str("time left: after one arm of each kind")

    def finished(self, index: int, seconds: float, line: str) -> None:
        self.done += 1
        self.time_left.finished(index, seconds)
        eta = self.time_left.estimate()
        left = "time left: after one arm of each kind" if eta is None else f"~{math.ceil(eta)}s left"
        text = f"[{self.done}/{len(self.time_left.arms)}] {line} ({time.perf_counter() - self.start:.0f}s, {left})"
        if self.bar is not None and not self.bar.disable:
            self.bar.set_postfix_str(left, refresh=False)
            self.bar.update(1)
            self.bar.write(text, file=sys.stderr)
        else:
            self.say(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
