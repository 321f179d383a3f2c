"""The curriculum controller: everything the trainer's TRL hooks ask of the curriculum, as values.

`rlvr.trainer.CurriculumGRPOTrainer` is a thin adapter: TRL calls it at fixed hooks (before
generation, after rewards, inside the batch, at checkpoints), and at each hook it hands this
controller plain values (the step's gathered groups, generated token counts) and gets plain values
back (a `StepOutcome`: decisions to audit, which groups carry no signal, counts, metrics to log).
The controller holds the online filters (`curricula.base.OnlineFilter`: the frontier filter and
the predictive frontier) and the run's running totals, and nothing about TRL, tensors or processes:
every process calls it with the same gathered input, so every process takes the same decisions.

State lives here once: the filters' own state (``state_dict`` per filter) and the totals
(`state_dict` / `load_state_dict`), saved with every checkpoint by the trainer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from curricula.base import (
    Decision,
    GroupResult,
    OnlineFilter,
    step_counts,
    zero_variance,
    zero_variance_mask_decisions,
)
from curricula.frontier import EASY, HARD, FrontierFilter
from curricula.predictive import PredictiveFrontier


@dataclass(frozen=True)
class StepOutcome:
    """What one generation step's groups led to.

    Args:
        decisions: Every decision of the step, in audit order (the filters' in filter order,
            then one ``masked`` record per zero-variance group when masking is on).
        zero_variance: One flag per group (global order): all its scored rewards are equal, so it
            carries no GRPO advantage.
        counts: The step's counts (`curricula.base.step_counts`), already added to the totals.
        metrics: Values to log at this step (the filters' levels, the step's signal shares and
            the predictor's calibration of these groups).
    """

    decisions: list[Decision]
    zero_variance: list[bool]
    counts: Counter
    metrics: dict[str, float] = field(default_factory=dict)


class CurriculumController:
    """The online filters of a run and its running totals (see the module docstring).

    Args:
        frontier: The frontier filter (drops, re-probes, pre-rollout skipping), or ``None``.
        predictive: The predictive frontier (pre-rollout selection), or ``None``.
        mask_zero_variance: Record a ``masked`` decision for every zero-variance group (the
            trainer takes those groups out of the loss).
        extra: More online filters that observe every step after the two above (e.g.
            `curricula.difficulty.ForgettingTracker`); each needs a unique ``name`` and a
            JSON-serialisable ``state_dict``.
    """

    def __init__(
        self,
        frontier: FrontierFilter | None = None,
        predictive: PredictiveFrontier | None = None,
        mask_zero_variance: bool = False,
        extra: Sequence[OnlineFilter] = (),
    ):
        self.frontier, self.predictive = frontier, predictive
        self.mask_zero_variance = mask_zero_variance
        self.extra = list(extra)
        # Keys of the extra filters' `metrics()`: levels (the filter's state after a step), so a
        # trainer logs their latest value rather than an average over its logging window.
        self.level_keys: set[str] = set()
        for f in self.extra:
            if not isinstance(f, OnlineFilter):
                raise TypeError(
                    f"{type(f).__name__} is not an online filter: it needs name, observe(groups, step, "
                    "epoch), metrics(), state_dict() and load_state_dict() (curricula.base.OnlineFilter)"
                )
        names = [f.name for f in self.extra]
        if len(set(names)) != len(names) or {"frontier", "predictor"} & set(names):
            raise ValueError(f"online filters need unique names (not frontier or predictor); got {names}")
        # groups, zero_variance_groups, rollouts, signal_rollouts, substituted, generated_tokens, ...
        self.totals: Counter = Counter()
        self.generated_tokens_by_skill: Counter = Counter()

    @property
    def filters(self) -> list[OnlineFilter]:
        """The online filters that observe every generation step's groups, in decision order."""
        return [f for f in (self.frontier, self.predictive) if f is not None] + self.extra

    def observe(self, groups: list[GroupResult], step: int, epoch: float) -> StepOutcome:
        """Feed one generation step's groups (gathered over all processes) to every filter."""
        decisions: list[Decision] = []
        calibration: dict[str, float] = {}
        for f in self.filters:
            if f is self.predictive:  # no decisions (it chose before rollout); its step calibration,
                calibration = f.learn(groups, step)  # scored before it learns (prequential)
            else:
                decisions += f.observe(groups, step=step, epoch=epoch)
        zero = [zero_variance(g.rewards) for g in groups]
        if self.mask_zero_variance:
            decisions += zero_variance_mask_decisions(groups, zero)
        counts = step_counts(groups, zero, decisions)
        self.totals.update(counts)
        return StepOutcome(decisions, zero, counts, self._step_metrics(counts, calibration))

    def _step_metrics(self, counts: Counter, calibration: dict[str, float]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.frontier is not None:
            metrics.update(self.frontier.metrics())
            metrics["curriculum/readmitted"] = sum(v for k, v in self.totals.items() if k.startswith("readmitted:"))
        if self.predictive is not None:
            metrics.update({**self.predictive.metrics(), **calibration})
        for f in self.extra:
            levels = f.metrics()
            self.level_keys.update(levels)
            metrics.update(levels)
        metrics["curriculum/zero_variance_share"] = counts["zero_variance_groups"] / max(counts["groups"], 1)
        metrics["curriculum/signal_share"] = counts["signal_rollouts"] / max(counts["rollouts"], 1)
        return metrics

    def count_generated(self, lengths: list[tuple[str, int]]) -> None:
        """Add one generation's completion tokens, given (skill, tokens) per completion over all
        processes ('' = no skill column)."""
        for skill, n in lengths:
            self.totals["generated_tokens"] += n
            if skill:
                self.generated_tokens_by_skill[skill] += n

    # -- before rollout and in over-sampling: counted here, decided by pure functions ------------
    def record_selection(self, deferred: int, skipped: int) -> dict[str, float]:
        """Count a pre-rollout selection's deferred and skipped prompts; its skip metrics."""
        self.totals["deferred"] += deferred
        self.totals["skipped"] += skipped
        return self.skip_metrics(skipped)

    def record_substitution(self, substituted: int, skipped: int) -> dict[str, float]:
        """Count a batch's substituted and skipped prompts (`curricula.substitution`); its skip metrics."""
        self.totals["substituted"] += substituted
        self.totals["skipped"] += skipped
        return self.skip_metrics(skipped)

    def record_oversampling(self, rounds: int, extra_groups: int, cap_hit: bool) -> dict[str, float]:
        """Count one batch's over-sampling (`curricula.oversample`): extra groups generated and
        whether the generation cap stopped it; its metrics."""
        if extra_groups:
            self.totals["oversampled_groups"] += extra_groups
        if cap_hit:
            self.totals["oversample_cap_hit"] += 1
        return {"curriculum/oversample_rounds": rounds}

    def skip_metrics(self, skipped: int) -> dict[str, float]:
        """Metrics of a step's pre-rollout skips (empty unless the frontier filter skips)."""
        if self.frontier is None or not self.frontier.config.skip_zero_variance:
            return {}
        return {
            "curriculum/skipped": skipped,
            "curriculum/skip_explore_easy": self.frontier.explore[EASY],
            "curriculum/skip_explore_hard": self.frontier.explore[HARD],
        }

    def summary(self) -> dict:
        """The run's curriculum figures so far (pool, deferrals, skips, signal shares)."""
        out: dict = {}
        if self.frontier is not None:
            counts = self.frontier.counts()
            out.update(
                active_pool=counts["active"],
                dropped_too_hard=counts["too_hard"],
                dropped_too_easy=counts["too_easy"],
                pool_size=self.frontier.pool_size,
            )
        if self.predictive is not None:
            out.update(deferred=self.totals["deferred"], **self.predictive.metrics())
        return {
            **out,
            "skipped": self.totals["skipped"],
            "zero_variance_share": self.totals["zero_variance_groups"] / max(self.totals["groups"], 1),
            "signal_share": self.totals["signal_rollouts"] / max(self.totals["rollouts"], 1),
        }

    # -- checkpoints: the counters (the filters save their own state) -----------------------------
    def state_dict(self) -> dict:
        return {"totals": dict(self.totals), "generated_tokens_by_skill": dict(self.generated_tokens_by_skill)}

    def load_state_dict(self, state: dict) -> None:
        self.totals = Counter(state.get("totals", {}))
        self.generated_tokens_by_skill = Counter(state.get("generated_tokens_by_skill", {}))
