"""Selection before rollout: fill each batch with the prompts most likely to carry a GRPO signal.

The sampler offers a candidate window ahead of its order (``window_factor`` times the batch's
prompt count). `select_batch` scores every candidate by the chance that a group of G rollouts is
not all-equal, under the predictor's posterior (a Thompson draw of the pass rate by default, so
uncertain prompts get explored), takes the best ``batch_size`` and defers the rest. Nothing is
starved: each deferral raises a prompt's score by ``deferral_bonus``, and a prompt deferred
``max_deferrals`` times is taken the next time it is offered. `CandidateWindow` is the sampler's
side: it builds each window from the deferred prompts that are due again, then fresh rows of the
order, and re-offers deferred prompts ``reoffer_after`` steps later.

Every choice is a function of (seed, step, salt, window, predictor state): every rank computes
the same batch from the same gathered window, and a resumed run (with the predictor's and the
window's state restored) makes the same choices again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from curricula.base import DEFERRED, KEPT, Decision
from curricula.predictor import (
    PassRatePredictor,
    beta_mean_var,
    draw_generator,
    p_signal,
    signal_at,
    thompson_pass_rates,
)


@dataclass
class Selection:
    """One step's pre-rollout choice.

    Args:
        chosen: Rows to roll out, in batch order (prompts at their deferral cap first).
        deferred: Rows of the window left out this step, in window order.
        decisions: One ``deferred`` record per deferred row, and one ``kept`` record per chosen row
            that had been deferred before (reason ``returned``, or ``deferral_cap`` when forced).
        metrics: Step metrics (``selection/...``) for the trainer's log.
    """

    chosen: np.ndarray
    deferred: np.ndarray
    decisions: list[Decision] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


def rank_candidates(
    alpha,
    beta,
    deferrals,
    num_generations: int,
    rng: np.random.Generator | None,
    max_deferrals: int,
    deferral_bonus: float,
    thompson: bool,
    signal: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order of the window's candidates, best first, with each one's signal score and draw.

    Prompts at their deferral cap come first (most deferred first); the rest by score = P(signal)
    (at a Thompson-drawn pass rate, or under the posterior) + ``deferral_bonus`` x deferrals; ties
    keep window order. Returns (order, score, drawn pass rate or posterior mean). ``rng`` is
    drawn from only with ``thompson``; ``signal`` is P(signal) under the posterior when the
    caller has it already (`p_signal` of the same alpha, beta and G).
    """
    alpha, beta = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    deferrals = np.asarray(deferrals, dtype=np.int64)
    if thompson:
        drawn = thompson_pass_rates(alpha, beta, rng)
        signal = signal_at(drawn, num_generations)
    else:
        drawn = beta_mean_var(alpha, beta)[0]
        signal = p_signal(alpha, beta, num_generations) if signal is None else signal
    score = signal + deferral_bonus * deferrals
    forced = deferrals >= max_deferrals
    position = np.arange(len(alpha))
    # np.lexsort sorts by the last key first: forced, then deferrals (forced only), then score.
    order = np.lexsort((position, -score, -np.where(forced, deferrals, 0), ~forced))
    return order, score, drawn


def select_batch(
    predictor: PassRatePredictor,
    window,
    batch_size: int,
    num_generations: int,
    step: int,
    seed: int,
    salt: int = 0,
    ids: Sequence[str] | None = None,
    columns: Callable[[int], dict] | None = None,
) -> Selection:
    """Choose ``batch_size`` rows of ``window`` to roll out at ``step``; defer the rest.

    Updates the predictor's deferral counts. ``salt`` separates several selections in one step
    (e.g. over-sampling rounds); ``ids`` maps a row to its prompt id and ``columns`` to its audit
    columns (``skill``...), both for the decisions.
    """
    window = np.asarray(list(dict.fromkeys(np.asarray(window, dtype=np.int64).tolist())), dtype=np.int64)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    config = predictor.config
    # P(signal) is ranked on (unless Thompson) and reported; the predictor keeps it for observe.
    alpha, beta, signal = predictor.posterior_signal(window, step, num_generations)
    deferrals = predictor.deferrals[window].astype(np.int64)
    order, score, drawn = rank_candidates(
        alpha,
        beta,
        deferrals,
        num_generations,
        draw_generator(seed, step, salt) if config.thompson else None,  # seeding costs more than ranking
        config.max_deferrals,
        config.deferral_bonus,
        config.thompson,
        signal,
    )
    take = order[:batch_size]
    left = np.sort(order[batch_size:])
    chosen, deferred = window[take], window[left]
    forced = deferrals[take] >= config.max_deferrals
    cut = float(score[take][~forced].min()) if (~forced).any() else float("nan")
    numbers = {"alpha": alpha, "beta": beta, "signal": signal, "score": score, "drawn": drawn, "deferrals": deferrals}
    describe = _Describer(predictor, window, numbers, num_generations, step, cut, ids, columns)
    decisions = [describe.deferred(i) for i in left.tolist()]
    returned = zip(take.tolist(), forced.tolist(), deferrals[take].tolist())
    decisions += [describe.returned(i, f) for i, f, waited in returned if waited > 0]
    predictor.note_selection(chosen, deferred)
    metrics = {
        "selection/window": float(len(window)),
        "selection/deferred": float(len(deferred)),
        "selection/forced": float(forced.sum()),
        "selection/p_signal_chosen": float(signal[take].mean()) if len(take) else float("nan"),
        "selection/p_signal_window": float(signal.mean()) if len(window) else float("nan"),
    }
    return Selection(chosen, deferred, decisions, metrics)


@dataclass
class _Describer:
    """Builds the audit records of one selection (kept apart so `select_batch` reads as the rule)."""

    predictor: PassRatePredictor
    window: np.ndarray
    numbers: dict
    num_generations: int
    step: int
    cut: float
    ids: Sequence[str] | None
    columns: Callable[[int], dict] | None

    def __post_init__(self):
        # Rounded once for the whole window: per-element numpy scalars cost more than the rule itself.
        n = self.numbers
        mean = n["alpha"] / (n["alpha"] + n["beta"])
        keys = ("predicted_pass_rate", "alpha", "beta", "p_signal", "score", "drawn_pass_rate")
        rounded = np.round(np.stack([mean, n["alpha"], n["beta"], n["signal"], n["score"], n["drawn"]]), 4)
        self.table = dict(zip(keys, rounded.tolist()))
        self.table["deferrals"] = n["deferrals"].tolist()
        self.table["visits"] = self.predictor.visits[self.window].tolist()
        self.rows = self.window.tolist()
        # The same for every record of this selection.
        self.common = {
            "cut": round(self.cut, 4),
            "max_deferrals": self.predictor.config.max_deferrals,
            "num_generations": self.num_generations,
            "window": len(self.window),
            # When a deferral comes due (`CandidateWindow.defer`): the audit says when, not only why.
            "reoffer_step": self.step + self.predictor.config.reoffer_after,
        }

    def _stats(self, i: int) -> dict:
        stats = {key: values[i] for key, values in self.table.items()}
        stats.update(self.common)
        stats["row"] = self.rows[i]
        return stats

    def _decision(self, i: int, stats: dict, decision: str, reason: str, message: str) -> Decision:
        row = stats["row"]
        return Decision(
            filter=self.predictor.name,
            prompt_id=str(self.ids[row]) if self.ids is not None else str(row),
            decision=decision,
            reason=reason,
            message=message,
            stats=stats,
            columns=dict(self.columns(row)) if self.columns is not None else {},
        )

    def deferred(self, i: int) -> Decision:
        s = self._stats(i)
        message = (
            f"deferred: predicted pass rate {s['predicted_pass_rate']:.2f} (Beta({s['alpha']:.2f}, "
            f"{s['beta']:.2f})), P(signal in {self.num_generations}) {s['p_signal']:.2f}; "
            f"{self._why_out(s['score'])}; {self._deferral_count(s['deferrals'], s['max_deferrals'])}; "
            f"offered again from step {s['reoffer_step']} (oldest first), or sooner once the order runs dry"
        )
        return self._decision(i, s, DEFERRED, "low_signal", message)

    def _why_out(self, score: float) -> str:
        # A batch filled by capped prompts has no cut (NaN), and a tie is not "below" the cut:
        # the audit read "below the batch's cut nan" and "0.78 below the batch's cut 0.78".
        if self.cut != self.cut:
            return f"score {score:.2f}; the batch was filled by prompts at their deferral cap"
        if round(score, 4) >= round(self.cut, 4):
            return f"score {score:.2f} tied with the batch's cut {self.cut:.2f} (ties keep window order)"
        return f"score {score:.2f} below the batch's cut {self.cut:.2f}"

    @staticmethod
    def _deferral_count(before: int, cap: int) -> str:
        if before >= cap:  # at its cap already: more capped prompts than slots ("1 of 0" before)
            return f"deferral {before + 1}, at its cap of {cap}: taken ahead of uncapped prompts when offered"
        return f"deferral {before + 1} of {cap} before it is taken regardless"

    def returned(self, i: int, forced: bool) -> Decision:
        s = self._stats(i)
        why = "at its deferral cap" if forced else f"on its score {s['score']:.2f}"
        message = (
            f"taken after {s['deferrals']} deferral(s), {why}: predicted pass rate "
            f"{s['predicted_pass_rate']:.2f}, P(signal in {self.num_generations}) {s['p_signal']:.2f}"
        )
        return self._decision(i, s, KEPT, "deferral_cap" if forced else "returned", message)


class CandidateWindow:
    """The sampler's candidate windows: deferred prompts due again first (oldest first, at most
    ``reoffer_slots`` of them), then fresh rows of the sampler's order; deferred prompts come due
    ``reoffer_after`` steps later, and fill the whole window once the order runs dry.

    State is the deferred queue (two int32 arrays, 8 bytes per waiting prompt) and the count of
    fresh rows taken, so a resumed run fast-forwards its order by ``fresh_taken`` and continues.

    Args:
        size: Rows per window (``window_factor`` x the batch's prompt count).
        reoffer_after: Steps a deferred prompt waits before it is offered again.
        reoffer_slots: Re-offered prompts per window at most while the order has rows
            (default: the whole window).
    """

    def __init__(self, size: int, reoffer_after: int, reoffer_slots: int | None = None):
        if size < 1 or reoffer_after < 1:
            raise ValueError(f"window size and reoffer_after must be >= 1, got {size} and {reoffer_after}")
        self.size, self.reoffer_after = size, reoffer_after
        self.reoffer_slots = size if reoffer_slots is None else min(max(int(reoffer_slots), 1), size)
        self.queue = np.empty(0, dtype=np.int32)
        self.due = np.empty(0, dtype=np.int32)  # non-decreasing: deferrals are appended step by step
        self.fresh_taken = 0

    @classmethod
    def from_config(cls, config, batch_size: int, pool_size: int | None = None) -> CandidateWindow:
        """The window of a `PredictorConfig` for batches of ``batch_size`` prompts, at most the
        pool (``pool_size``): a larger window would read several passes of the order per step."""
        size = max(int(round(config.window_factor * batch_size)), batch_size)
        return cls(
            size if pool_size is None else max(min(size, pool_size), 1),
            config.reoffer_after,
            max(int(round(config.reoffer_share * batch_size)), 1),
        )

    def build(self, step: int, fresh: Callable[[int], np.ndarray]) -> np.ndarray:
        """The window at ``step``; ``fresh(n)`` returns up to n next rows of the sampler's order."""
        ready = min(int(np.searchsorted(self.due, step, side="right")), self.reoffer_slots)
        parts = [self.queue[:ready].astype(np.int64)]
        new = np.asarray(fresh(self.size - ready), dtype=np.int64)
        self.fresh_taken += len(new)
        parts.append(new)
        early = min(self.size - ready - len(new), len(self.queue) - ready)  # the order ran dry
        parts.append(self.queue[ready : ready + max(early, 0)].astype(np.int64))
        used = ready + max(early, 0)
        self.queue, self.due = self.queue[used:], self.due[used:]
        return np.asarray(list(dict.fromkeys(np.concatenate(parts).tolist())), dtype=np.int64)

    def defer(self, rows, step: int) -> None:
        rows = np.asarray(rows, dtype=np.int32)
        self.queue = np.concatenate([self.queue, rows])
        self.due = np.concatenate([self.due, np.full(len(rows), step + self.reoffer_after, dtype=np.int32)])

    def state_dict(self) -> dict[str, np.ndarray]:
        return {
            "window_queue": self.queue.copy(),
            "window_due": self.due.copy(),
            "window_fresh_taken": np.array(self.fresh_taken, dtype=np.int64),
        }

    def load_state_dict(self, state: dict) -> None:
        self.queue = np.array(state["window_queue"], dtype=np.int32)
        self.due = np.array(state["window_due"], dtype=np.int32)
        self.fresh_taken = int(state["window_fresh_taken"])
