"""The predictive frontier as one online filter: predictor + candidate window + selection.

`PredictiveFrontier` is what a trainer drives (``curricula.predictor`` in a run config):

- ``select(step, seed, batch_size)`` before a generation step: builds the candidate window from
  the sampler's own order (the permutation the sampler draws for each epoch, read ahead of the
  position the sampler is at, on into the next epoch's at the end of a pass) plus deferred
  prompts that are due again (at most ``reoffer_share`` x the batch per window), sets aside what the
  frontier filter's safety net says (dropped prompts leave the window, prompts the GRESO rule
  skips wait like deferred ones), and fills the batch with the prompts most likely to carry a
  GRPO signal (`curricula.selection.select_batch`). Every rank computes the same batch from the
  same state and (seed, step): no communication is needed for the choice.
- ``observe(groups, step, epoch)`` after rewards: every scored group updates the posteriors and
  the calibration sums (same gathered groups on every rank).
- ``state_dict()`` / ``load_state_dict()``: numpy arrays only (a checkpoint stores them with
  ``np.savez``); the sampler's order is recomputed from the seed, only the count of rows taken
  from it is stored.

Per step the work is O(window + batch), independent of the pool's size; the order of the
current pass (int32 per prompt) is drawn once per pass through the pool.

Adaptive group size, and what is taken from C-GRPO (``trl-cgrpo`` 0.2.0, read 2026-12-03): its
`CGRPOTrainer` samples each prompt in increments along a budget grid (2, 4, 8, ...) and stops at
the first budget whose split-conformal prediction set is a singleton, with thresholds calibrated
every ``recalibrate_every`` steps by generating on a held-out calibration set with the current
policy; groups stay rectangular because a stopped prompt is padded with one-token completions
whose reward is NaN (advantage 0) and whose tokens leave the completion mask and the loss
normaliser (token-normalised losses only; one process only). Taken: that masking is the way to
vary a group's effective size inside TRL's fixed ``num_generations`` (rlvr's zero-variance masking
already recounts the normaliser the same way). Not taken: the conformal budgets, which cost
calibration rollouts and staged generate calls; with one generate call per step, masking after
generation saves loss compute, not rollouts. Posterior-driven group sizes are not built here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from curricula.base import Decision, GroupResult, count_successes
from curricula.config import PredictorConfig
from curricula.predictor import PassRatePredictor
from curricula.selection import CandidateWindow, Selection, select_batch


def calibration_metrics(predicted: np.ndarray, successes: np.ndarray, trials: np.ndarray) -> dict[str, float]:
    """A step's ``predictor/step_predicted`` (mean predicted pass rate, weighted by scored
    rollouts) and ``predictor/step_observed``; empty when no group was scored."""
    scored = trials > 0
    if not scored.any():
        return {}
    weights = trials[scored]
    # np.average's own arithmetic, without its argument checks (a few groups, every step)
    mean = np.multiply(predicted[scored], weights, dtype=np.float64).sum() / weights.sum(dtype=np.float64)
    return {
        "predictor/step_predicted": float(mean),
        "predictor/step_observed": float(successes[scored].sum() / weights.sum()),
    }


@dataclass
class SetAside:
    """What the safety net (the frontier filter) takes out of a window before selection.

    Args:
        dropped: Rows the frontier excluded and does not want to re-probe now: left out, not
            deferred (the frontier re-probes them when the order reaches them again).
        skipped: Rows the frontier's GRESO rule skips at this step: they wait in the deferral
            queue like deferred prompts and come back ``reoffer_after`` steps later.
        decisions: The frontier's audit records of the skips.
    """

    dropped: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    skipped: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    decisions: list[Decision] = field(default_factory=list)


class PredictiveFrontier:
    """Pre-rollout selection from a pass-rate predictor, driven by a trainer (see module doc).

    Args:
        config: The `PredictorConfig`.
        pool_ids: Prompt id of every row of the training pool.
        row_of: Prompt id -> row index (built once by the caller; never scanned).
        order: ``order(epoch)`` -> the sampler's permutation of row indices for that epoch.
        batch_size: Distinct prompts per generation batch (over all processes).
        num_generations: Rollouts per prompt (G).
        groups: Group index per row for the pooled priors (`curricula.predictor.metadata_groups`).
        seed: The run's seed (the feature model's projection).
    """

    name = "predictor"

    def __init__(
        self,
        config: PredictorConfig,
        pool_ids: Sequence[str],
        row_of: Mapping[str, int],
        order: Callable[[int], np.ndarray],
        batch_size: int,
        num_generations: int,
        groups: np.ndarray | None = None,
        seed: int = 0,
    ):
        self.config = config
        self.pool_ids, self.row_of, self.order = pool_ids, row_of, order
        self.pool_size = len(pool_ids)
        self.batch_size, self.num_generations = int(batch_size), int(num_generations)
        self.predictor = PassRatePredictor(config, self.pool_size, groups, seed)
        self.window = CandidateWindow.from_config(config, self.batch_size, self.pool_size)
        self._order_epoch, self._order = -1, np.empty(0, dtype=np.int32)
        # Feature vectors of the rows chosen at this step, kept from `select` until `observe`
        # teaches the feature model with them (the same step; nothing to checkpoint).
        self._chosen_features: dict[int, np.ndarray] = {}

    # -- the sampler's order, read ahead ----------------------------------------------------------
    def _order_of(self, epoch: int) -> np.ndarray:
        if epoch != self._order_epoch:  # drawn once per pass through the pool
            self._order = np.asarray(self.order(epoch), dtype=np.int32)
            self._order_epoch = epoch
        return self._order

    def _fresh(self, n: int) -> np.ndarray:
        """The next ``n`` rows of the sampler's order, into the next epoch's permutation at the
        end of a pass (as the sampler itself goes on: a prompt recurs once per pass)."""
        taken, parts = self.window.fresh_taken, []
        while n > 0:
            epoch, position = divmod(taken, self.pool_size)
            part = self._order_of(epoch)[position : position + n]
            parts.append(part)
            n, taken = n - len(part), taken + len(part)
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, dtype=np.int64)

    # -- before generation -----------------------------------------------------------------------
    def select(
        self,
        step: int,
        seed: int,
        set_aside: Callable[[np.ndarray], SetAside] | None = None,
        columns: Callable[[np.ndarray], Callable[[int], dict]] | None = None,
        features: Callable[[np.ndarray], np.ndarray] | None = None,
        count: int | None = None,
        salt: int = 0,
    ) -> tuple[Selection, SetAside]:
        """This step's batch (``count`` rows, default ``batch_size``; fewer only if the pool is
        smaller).

        ``set_aside(window)`` is the safety net's verdict on the window; ``columns(rows)``
        returns a row -> audit columns function for the decisions; ``features(rows)`` returns a
        (rows, width) feature matrix for the feature model (``predictor.features``), called once
        per call on the candidates that remain after the safety net. ``count`` and ``salt``
        serve further selections in one step (over-sampling rounds: ``salt`` = the round), each
        from a new window further along the order.
        """
        count = self.batch_size if count is None else int(count)
        window, candidates, aside = self._candidates(step, set_aside, count)
        waiting = aside.skipped[~np.isin(aside.skipped, candidates)] if len(aside.skipped) else aside.skipped
        self.window.defer(waiting, step)  # skipped prompts wait like deferred ones
        if not len(candidates):
            return Selection(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)), aside
        describe = columns(candidates) if columns is not None else None
        vectors = self._features_of(candidates, features)
        selection = select_batch(
            self.predictor,
            candidates,
            count,
            self.num_generations,
            step,
            seed,
            salt=salt,
            ids=self.pool_ids,
            columns=describe,
        )
        self.window.defer(selection.deferred, step)
        if vectors is not None:
            position = {row: i for i, row in enumerate(candidates.tolist())}
            self._chosen_features = {row: vectors[position[row]] for row in selection.chosen.tolist()}
        self._trim_queue()
        selection.metrics["selection/queue"] = float(len(self.window.queue))
        waits = set(waiting.tolist())
        return selection, SetAside(
            aside.dropped, waiting, [d for d in aside.decisions if self.row_of[d.prompt_id] in waits]
        )

    def _candidates(self, step: int, set_aside, count: int) -> tuple[np.ndarray, np.ndarray, SetAside]:
        """(window, candidates, the safety net's verdict): the window less what the safety net
        sets aside, read further ahead in the order while fewer than ``count`` are left."""
        window = self.window.build(step, self._fresh)
        candidates, aside = self._apply_safety_net(window, set_aside)
        for _ in range(self._TOP_UPS):  # too few left: read further ahead in the order
            if len(candidates) >= count:
                break
            more = self._fresh(count)
            self.window.fresh_taken += len(more)
            more = more[~np.isin(more, window)]
            window = np.concatenate([window, more])
            more_candidates, more_aside = self._apply_safety_net(more, set_aside)
            candidates = np.concatenate([candidates, more_candidates])
            aside = SetAside(
                np.concatenate([aside.dropped, more_aside.dropped]),
                np.concatenate([aside.skipped, more_aside.skipped]),
                aside.decisions + more_aside.decisions,
            )
        if len(candidates) < min(count, len(window)):  # tiny pools: skipped, then dropped prompts fill in
            rest = window[~np.isin(window, candidates)]
            fill = np.concatenate([rest[np.isin(rest, aside.skipped)], rest[~np.isin(rest, aside.skipped)]])
            candidates = np.concatenate([candidates, fill[: count - len(candidates)]])
        return window, candidates, aside

    def _features_of(self, rows: np.ndarray, features) -> np.ndarray | None:
        """The candidates' feature vectors, with the feature model's prediction cached for each
        (None when the feature model is off or no feature function is given)."""
        self._chosen_features = {}
        if self.predictor.features is None or features is None:
            return None
        vectors = np.asarray(features(rows), dtype=np.float32)
        if vectors.shape[0] != len(rows):
            raise ValueError(f"features(rows) returned {vectors.shape[0]} vectors for {len(rows)} rows")
        self.predictor.set_features(rows, vectors)
        return vectors

    def _trim_queue(self) -> None:
        """At most one queue entry per prompt of the pool: the oldest go (the order offers every
        prompt again each pass, and a prompt's deferral count survives, so none starves)."""
        extra = len(self.window.queue) - self.pool_size
        if extra > 0:
            self.window.queue, self.window.due = self.window.queue[extra:], self.window.due[extra:]

    _TOP_UPS = 4  # extra reads ahead per step when the safety net leaves the window short

    @staticmethod
    def _apply_safety_net(window: np.ndarray, set_aside) -> tuple[np.ndarray, SetAside]:
        aside = set_aside(window) if set_aside is not None and len(window) else SetAside()
        if not len(aside.dropped) and not len(aside.skipped):  # the usual case: nothing set aside
            return window.copy(), aside
        out = np.isin(window, np.concatenate([aside.dropped, aside.skipped]))
        return window[~out], aside

    # -- after rewards -----------------------------------------------------------------------------
    def observe(self, groups: list[GroupResult], step: int, epoch: float = 0.0) -> list[Decision]:
        """Learn from every scored group of a generation step (same groups on every rank).

        Returns no decisions: the choice happens before rollout (`select`).
        """
        self.learn(groups, step)
        return []

    def learn(self, groups: list[GroupResult], step: int) -> dict[str, float]:
        """`observe`, returning the step's calibration (`step_calibration`'s numbers, from the
        predictions the predictor scores these groups with before it learns from them: the
        posteriors are computed once per step)."""
        rows, successes, trials = self._group_counts(groups)
        if not len(rows):
            return {}
        have = self._chosen_features
        vectors = np.stack([have[r] for r in rows.tolist()]) if have and all(r in have for r in rows.tolist()) else None
        predicted = self.predictor.observe(rows, successes, trials, step, features=vectors)
        return calibration_metrics(predicted, successes, trials)

    def step_calibration(self, groups: list[GroupResult], step: int) -> dict[str, float]:
        """How well this step's groups were foreseen: their mean predicted pass rate (weighted by
        scored rollouts) beside the observed one. Call before `observe` teaches the predictor
        with them; empty when no group was scored."""
        rows, successes, trials = self._group_counts(groups)
        return calibration_metrics(self.predictor.predicted_pass_rate(rows, step), successes, trials)

    def _group_counts(self, groups: list[GroupResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, successes, scored trials) of each group of a prompt in the pool.

        Counted per group in Python (`curricula.base.count_successes`, the twin of the
        predictor's vectorised `count_group_successes`): a step's few groups cost less so than
        as a padded reward matrix."""
        known = [g for g in groups if g.prompt_id in self.row_of]
        threshold = self.config.success_threshold
        counts = [count_successes(g.rewards, threshold) for g in known]
        rows = np.array([self.row_of[g.prompt_id] for g in known], dtype=np.int64)
        successes = np.array([c[0] for c in counts], dtype=np.int64)
        trials = np.array([c[1] for c in counts], dtype=np.int64)
        return rows, successes, trials

    def metrics(self) -> dict[str, float]:
        """Running calibration (``predictor/brier``, ``mean_predicted``, ``mean_observed``...)."""
        return self.predictor.metrics()

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        return {**self.predictor.state_dict(), **self.window.state_dict()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self.predictor.load_state_dict(state)
        self.window.load_state_dict(state)

    def nbytes_per_prompt(self) -> float:
        """State bytes per prompt in memory: the predictor's arrays, the deferral queue and the
        cached order of the current pass."""
        window = sum(v.nbytes for v in self.window.state_dict().values())
        return self.predictor.nbytes_per_prompt() + (window + self._order.nbytes) / max(self.pool_size, 1)
