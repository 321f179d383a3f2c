"""The contract every curriculum filter follows.

A filter watches what the trainer already produces (rollout groups and their rewards) and
answers two questions: which prompts should not be sampled now, and why. Each answer is a
`Decision`; the trainer writes every decision to the audit log (`curricula.audit`), so a user can
later see which prompts were filtered, when, and for what reason.

Filters keep their state in one place (e.g. the pass-rate table) and expose it through
``state_dict()`` / ``load_state_dict()`` so a resumed run continues exactly where it stopped.
Scoring functions (confidence bounds, metrics) are pure functions kept apart from that state.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# Decisions a filter can take about a prompt (the audit log's `decision` column).
KEPT = "kept"
DROPPED = "dropped"
READMITTED = "readmitted"
MASKED = "masked"
PROBED = "probed"
SKIPPED = "skipped"  # not rolled out this step (history-based skip), not dropped
DEFERRED = "deferred"  # left out of this step's batch by pre-rollout selection, re-offered later
DECISIONS = (KEPT, DROPPED, READMITTED, MASKED, PROBED, SKIPPED, DEFERRED)


def is_success(reward: float | None, threshold: float) -> bool:
    """A scored reward (not None, not NaN: the verifier failed) of at least ``threshold``."""
    return reward is not None and not math.isnan(reward) and reward >= threshold


def count_successes(rewards: list[float | None], threshold: float) -> tuple[int, int, int]:
    """(successes, scored trials, unscored) of one group; None and NaN rewards are unscored."""
    scored = [r for r in rewards if r is not None and not math.isnan(r)]
    successes = sum(1 for r in scored if r >= threshold)
    return successes, len(scored), len(rewards) - len(scored)


def zero_variance(rewards: list[float]) -> bool:
    """True when a group carries no GRPO advantage: fewer than two scored rewards, or all equal."""
    scored = [r for r in rewards if not math.isnan(r)]
    return len(scored) < 2 or max(scored) - min(scored) < 1e-6


@dataclass
class GroupResult:
    """One prompt's GRPO group at one generation step: the rewards of its completions.

    Args:
        prompt_id: The row's stable ``id``.
        rewards: The weighted total reward of each completion; ``nan`` = unscored (every
            verifier returned None or failed), which is neither a success nor a failure.
        columns: The row's user columns worth auditing (``skill``, ``source``, ...).
        prompt_hash: A content hash of the prompt text.
    """

    prompt_id: str
    rewards: list[float]
    columns: dict[str, Any] = field(default_factory=dict)
    prompt_hash: str = ""


@dataclass
class Decision:
    """One filter decision about one prompt, as the audit log stores it.

    Args:
        filter: The filter's name (``"frontier"``, ``"zero_variance"``, ...).
        prompt_id: The row's stable ``id``.
        decision: One of `DECISIONS`.
        reason: A short machine-readable code (``too_hard``, ``too_easy``, ``zero_variance``,
            ``reprobe_success``, ``pool_floor``...).
        message: A sentence a person can read, with the numbers behind it.
        stats: The statistics the decision used (counts, bounds, thresholds).
        columns: User columns of the prompt (``skill``, ``source``...), for grouping.
        prompt_hash: Content hash of the prompt.
    """

    filter: str
    prompt_id: str
    decision: str
    reason: str
    message: str
    stats: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, Any] = field(default_factory=dict)
    prompt_hash: str = ""


@runtime_checkable
class OnlineFilter(Protocol):
    """What every online filter implements: the trainer calls `observe` once per generation step
    with every group of that step (gathered across processes, so every process sees the same
    input and takes the same decisions), audits the decisions it returns, and saves
    `state_dict` with each checkpoint (`load_state_dict` on resume). `FrontierFilter` and the
    predictive frontier (`curricula.predictive.PredictiveFrontier`) are the two today; the
    trainer's `curricula.controller.CurriculumController` loops over them). After each step the
    controller logs `metrics` (the filter's levels: pool sizes, running calibration)."""

    name: str

    def observe(self, groups: list[GroupResult], step: int, epoch: float) -> list[Decision]: ...

    def metrics(self) -> dict[str, float]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@runtime_checkable
class PromptFilter(OnlineFilter, Protocol):
    """An online filter that excludes prompts: the trainer asks `is_excluded` before a prompt is
    generated for, and lets an excluded prompt through for a re-probe when `wants_probe`."""

    def is_excluded(self, prompt_id: str) -> bool: ...

    def wants_probe(self, prompt_id: str, step: int) -> bool: ...


def _reward_for_audit(x: float):
    return None if math.isnan(x) else round(x, 4)


def zero_variance_mask_decisions(groups: list[GroupResult], zero: list[bool]) -> list[Decision]:
    """One ``masked`` record per zero-variance group (``zero[i]`` flags ``groups[i]``): the
    group is taken out of the loss because all its rewards are equal, so it has no advantage."""
    return [
        Decision(
            filter="zero_variance",
            prompt_id=g.prompt_id,
            decision=MASKED,
            reason="zero_variance",
            message=f"masked from the loss: all {len(g.rewards)} rewards equal ({_reward_for_audit(g.rewards[0])})",
            stats={"rewards": [_reward_for_audit(r) for r in g.rewards]},
            columns=g.columns,
            prompt_hash=g.prompt_hash,
        )
        for g, is_zero in zip(groups, zero)
        if is_zero
    ]


def group_results(rows: list[tuple[str, str, dict]], rewards: list[float], group_size: int) -> list[GroupResult]:
    """A generation batch as groups: ``rows[i]`` = (prompt id, prompt hash, columns) of completion
    ``i``, ``rewards[i]`` its total reward; every ``group_size`` consecutive rows are one prompt's
    group (TRL's layout). A batch that breaks the layout is an error that says so."""
    if len(rows) != len(rewards):
        raise RuntimeError(
            f"Gathered {len(rows)} prompt ids but {len(rewards)} reward rows: "
            "TRL's reward gathering changed; rlvr's trainer needs updating."
        )
    groups = []
    for start in range(0, len(rows), group_size):
        ids = {r[0] for r in rows[start : start + group_size]}
        if len(ids) != 1:
            raise RuntimeError(
                f"Rows {start}..{start + group_size - 1} of the gathered batch hold prompts {sorted(ids)}; "
                "expected one prompt per group of num_generations rows. TRL's batch layout "
                "changed; rlvr's trainer needs updating."
            )
        prompt_id, phash, columns = rows[start]
        groups.append(GroupResult(prompt_id, rewards[start : start + group_size], columns, phash))
    return groups


def step_counts(groups: list[GroupResult], zero: list[bool], decisions: list[Decision]) -> Counter:
    """One generation step's counts, added to a run's running totals: ``groups``,
    ``zero_variance_groups`` (``zero[i]`` flags ``groups[i]``), ``rollouts``, ``signal_rollouts``
    (rollouts of groups with a signal) and one ``"decision:reason"`` count per kind of decision."""
    counts = Counter(
        groups=len(groups),
        zero_variance_groups=sum(zero),
        rollouts=sum(len(g.rewards) for g in groups),
        signal_rollouts=sum(len(g.rewards) for g, z in zip(groups, zero) if not z),
    )
    counts.update(f"{d.decision}:{d.reason}" for d in decisions)
    return counts
