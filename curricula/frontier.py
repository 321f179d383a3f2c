"""The frontier filter: spend rollouts only on prompts the policy can sometimes solve.

Pass rates are estimated from the GRPO groups the trainer generates anyway. A prompt is
dropped as *too hard* once the upper confidence bound of its pass rate falls below ``low``
(GRPO would otherwise turn its rare accidental successes into huge advantages), and
optionally as *too easy* once the lower bound rises above ``high`` (its groups carry no
advantage). Dropped prompts are re-probed on a schedule, because the policy moves: a
too-hard prompt that starts succeeding comes back.

All state lives in one table, ``FrontierFilter.table`` (prompt id -> `PromptStats`), saved with
checkpoints through ``state_dict()``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

from curricula.base import DROPPED, KEPT, PROBED, READMITTED, Decision, GroupResult
from curricula.config import FrontierConfig
from curricula.stats import pass_rate_bounds

logger = logging.getLogger(__name__)

ACTIVE, TOO_HARD, TOO_EASY = "active", "too_hard", "too_easy"


@dataclass
class PromptStats:
    """What the filter knows about one prompt.

    ``trials``/``successes`` count scored rollouts since the prompt was (re)admitted; the
    ``total_*`` counters never reset and feed the audit's pass-rate history.
    """

    trials: int = 0
    successes: int = 0
    unscored: int = 0
    visits: int = 0
    total_trials: int = 0
    total_successes: int = 0
    status: str = ACTIVE
    dropped_step: int | None = None
    last_probe_step: int | None = None
    probes: int = 0

    @property
    def pass_rate(self) -> float:
        return self.successes / self.trials if self.trials else math.nan


def count_successes(rewards: list[float], threshold: float) -> tuple[int, int, int]:
    """(successes, scored trials, unscored) of one group; NaN rewards are unscored."""
    scored = [r for r in rewards if not math.isnan(r)]
    successes = sum(1 for r in scored if r >= threshold)
    return successes, len(scored), len(rewards) - len(scored)


class FrontierFilter:
    """Drops prompts whose pass rate is confidently below ``low`` (or above ``high``).

    Args:
        config: The `FrontierConfig`.
        prompt_ids: Every prompt id of the training pool (fixes the pool size for the floor).
    """

    name = "frontier"

    def __init__(self, config: FrontierConfig, prompt_ids: list[str]):
        self.config = config
        self.table: dict[str, PromptStats] = {pid: PromptStats() for pid in prompt_ids}
        self.pool_size = len(self.table)
        self.floor_warned = False

    # -- queries the trainer makes before generation --------------------------------------
    def is_excluded(self, prompt_id: str) -> bool:
        stats = self.table.get(prompt_id)
        return stats is not None and stats.status != ACTIVE

    def wants_probe(self, prompt_id: str, step: int) -> bool:
        """True when an excluded prompt is due for a re-probe at ``step``."""
        stats = self.table.get(prompt_id)
        if stats is None or stats.status == ACTIVE or self.config.reprobe_interval is None:
            return False
        since = max(s for s in (stats.dropped_step, stats.last_probe_step) if s is not None)
        return step - since >= self.config.reprobe_interval

    @property
    def active_count(self) -> int:
        return sum(1 for s in self.table.values() if s.status == ACTIVE)

    def counts(self) -> dict[str, int]:
        out = {ACTIVE: 0, TOO_HARD: 0, TOO_EASY: 0}
        for s in self.table.values():
            out[s.status] += 1
        return out

    # -- the decision step ------------------------------------------------------------------
    def observe(self, groups: list[GroupResult], step: int, epoch: float) -> list[Decision]:
        """Update the pass-rate table with one generation step's groups; return decisions."""
        decisions = []
        for group in groups:
            stats = self.table.setdefault(group.prompt_id, PromptStats())
            successes, trials, unscored = count_successes(group.rewards, self.config.success_threshold)
            stats.visits += 1
            stats.unscored += unscored
            stats.total_trials += trials
            stats.total_successes += successes
            if stats.status == ACTIVE:
                stats.trials += trials
                stats.successes += successes
                decisions.append(self._judge_active(group, stats, step))
            else:
                decisions.append(self._judge_probe(group, stats, successes, trials, step))
        return decisions

    def _stats(self, stats: PromptStats, lower: float, upper: float) -> dict:
        return {"successes": stats.successes, "trials": stats.trials, "unscored": stats.unscored,
                "visits": stats.visits, "pass_rate": round(stats.pass_rate, 4) if stats.trials else None,
                "lower": round(lower, 4), "upper": round(upper, 4), "low": self.config.low,
                "high": self.config.high, "confidence": self.config.confidence, "bound": self.config.bound,
                "active_pool": self.active_count, "pool_size": self.pool_size}

    def _decision(self, group: GroupResult, decision: str, reason: str, message: str, stats: dict) -> Decision:
        return Decision(filter=self.name, prompt_id=group.prompt_id, decision=decision, reason=reason,
                        message=message, stats=stats, columns=group.columns, prompt_hash=group.prompt_hash)

    def _judge_active(self, group: GroupResult, stats: PromptStats, step: int) -> Decision:
        cfg = self.config
        lower, upper = pass_rate_bounds(stats.successes, stats.trials, cfg.confidence, cfg.bound)
        numbers = self._stats(stats, lower, upper)
        counts = f"{stats.successes} of {stats.trials} correct over {stats.visits} visit(s)"
        verdict = None
        if stats.trials >= cfg.min_samples:
            if upper < cfg.low:
                verdict = (TOO_HARD, f"too hard: {counts}, upper bound {upper:.2f} < {cfg.low:g}")
            elif cfg.high is not None and lower > cfg.high:
                verdict = (TOO_EASY, f"too easy: {counts}, lower bound {lower:.2f} > {cfg.high:g}")
        if verdict is None:
            message = f"kept: {counts}, pass-rate bounds [{lower:.2f}, {upper:.2f}]"
            if stats.trials < cfg.min_samples:
                message += f", {stats.trials} < {cfg.min_samples} samples needed to decide"
            return self._decision(group, KEPT, "in_frontier" if stats.trials >= cfg.min_samples else "too_few_samples",
                                  message, numbers)
        status, message = verdict
        floor = math.ceil(cfg.min_active_fraction * self.pool_size)
        if self.active_count - 1 < floor:
            if not self.floor_warned:
                logger.warning("Frontier filter: the active pool is at its floor (%d of %d prompts); "
                               "no more prompts are dropped.", self.active_count, self.pool_size)
                self.floor_warned = True
            return self._decision(group, KEPT, "pool_floor",
                                  f"kept at pool floor: would drop ({message}), but only {self.active_count} of "
                                  f"{self.pool_size} prompts are active (floor {floor})", numbers)
        stats.status = status
        stats.dropped_step = step
        stats.last_probe_step = None
        numbers["active_pool"] = self.active_count
        return self._decision(group, DROPPED, status, message, numbers)

    def _judge_probe(self, group: GroupResult, stats: PromptStats, successes: int, trials: int, step: int) -> Decision:
        """An excluded prompt came through for a re-probe: readmit it if the policy has moved."""
        cfg = self.config
        stats.probes += 1
        stats.last_probe_step = step
        failures = trials - successes
        was = stats.status
        moved = successes >= cfg.readmit_min_successes if was == TOO_HARD else failures >= cfg.readmit_min_successes
        lower, upper = pass_rate_bounds(successes, trials, cfg.confidence, cfg.bound)
        numbers = {**self._stats(stats, lower, upper), "probe_successes": successes, "probe_trials": trials,
                   "dropped_step": stats.dropped_step, "was": was}
        kind = "too hard" if was == TOO_HARD else "too easy"
        if moved:
            # The policy has moved: judge the prompt on fresh evidence, not on the history that
            # dropped it (which would re-drop it after one unlucky visit).
            stats.status = ACTIVE
            stats.trials, stats.successes = trials, successes
            stats.dropped_step = None
            numbers["active_pool"] = self.active_count
            return self._decision(group, READMITTED, "reprobe_" + ("success" if was == TOO_HARD else "failure"),
                                  f"readmitted: {successes} of {trials} correct on re-probe at step {step} "
                                  f"(dropped at step {numbers['dropped_step']} as {kind})", numbers)
        return self._decision(group, PROBED, "reprobe_unchanged",
                              f"still {kind}: {successes} of {trials} correct on re-probe at step {step}", numbers)

    # -- checkpointing -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"table": {pid: asdict(s) for pid, s in self.table.items()}, "floor_warned": self.floor_warned}

    def load_state_dict(self, state: dict) -> None:
        self.table = {pid: PromptStats(**s) for pid, s in state["table"].items()}
        self.pool_size = len(self.table)
        self.floor_warned = state.get("floor_warned", False)
