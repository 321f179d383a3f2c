"""Calibration of the pass-rate predictor: is a predicted 30% pass rate really 30%?

Each observed group is scored against the prediction made *before* it was observed (prequential
evaluation), so the numbers say how well first visits and revisits are foreseen. Everything is
kept as running sums (per reliability bin and overall), O(1) memory in the run's length:

- Brier score per rollout, ``(q - outcome)^2`` averaged over rollouts, beside the same score of a
  reference that predicts the pool-wide mean pass rate (the predictor should beat it);
- the same for first visits only;
- the Brier score of the predicted probability that a group carries a signal (not all-equal),
  which is what pre-rollout selection ranks on;
- per bin of predicted pass rate: mean prediction and observed pass rate (the reliability curve)
  and the expected calibration error over bins.
"""

from __future__ import annotations

import numpy as np

_TOTALS = (
    "groups",
    "trials",
    "brier",
    "brier_reference",
    "first_trials",
    "first_brier",
    "signal_brier",
    "signal_predicted",
    "signal_observed",
    "predicted",
    "successes",
)
_BINS = ("trials", "predicted", "successes", "groups")


def rollout_brier(predicted, successes, trials) -> np.ndarray:
    """Sum over a group's rollouts of (q - outcome)^2: s (1-q)^2 + (n-s) q^2."""
    q = np.asarray(predicted, dtype=np.float64)
    s, n = np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
    return s * (1.0 - q) ** 2 + (n - s) * q**2


class Calibration:
    """Running calibration sums of the predictor (see the module docstring).

    Args:
        bins: Equal-width bins of predicted pass rate for the reliability curve.
    """

    def __init__(self, bins: int = 10):
        self.bins = bins
        self.totals = np.zeros(len(_TOTALS))
        self.per_bin = np.zeros((len(_BINS), bins))

    def add(self, predicted, successes, trials, predicted_signal, first_visit, reference: float) -> None:
        """Score groups: ``predicted`` pass rate and P(signal) made before each was observed,
        its (successes, scored trials), whether it was the prompt's first visit, and the
        reference prediction (pool-wide mean). Groups with no scored rollout are not scored."""
        scored = np.asarray(trials) > 0
        q = np.asarray(predicted, dtype=np.float64)[scored]
        s = np.asarray(successes, dtype=np.float64)[scored]
        n = np.asarray(trials, dtype=np.float64)[scored]
        ps = np.asarray(predicted_signal, dtype=np.float64)[scored]
        first = np.asarray(first_visit, dtype=bool)[scored]
        brier = rollout_brier(q, s, n)
        signal = ((s > 0) & (s < n)).astype(np.float64)
        self.totals += [
            len(q),
            n.sum(),
            brier.sum(),
            rollout_brier(reference, s, n).sum(),
            n[first].sum(),
            brier[first].sum(),
            ((ps - signal) ** 2).sum(),
            ps.sum(),
            signal.sum(),
            (q * n).sum(),
            s.sum(),
        ]
        which = np.minimum((q * self.bins).astype(np.int64), self.bins - 1)
        # One np.add.at for the four rows (the same additions, in the same order, per bin).
        np.add.at(self.per_bin, (slice(None), which), np.stack([n, q * n, s, np.ones_like(q)]))

    def metrics(self) -> dict[str, float]:
        t = dict(zip(_TOTALS, self.totals))
        if not t["trials"]:
            return {"groups": 0.0}
        trials, groups = t["trials"], t["groups"]
        out = {
            "groups": groups,
            "brier": t["brier"] / trials,
            "brier_reference": t["brier_reference"] / trials,
            "brier_signal": t["signal_brier"] / groups,
            "predicted_signal": t["signal_predicted"] / groups,
            "observed_signal": t["signal_observed"] / groups,
            "mean_predicted": t["predicted"] / trials,
            "mean_observed": t["successes"] / trials,
            "ece": self.expected_calibration_error(),
        }
        if t["first_trials"]:
            out["brier_first_visit"] = t["first_brier"] / t["first_trials"]
        return {k: float(v) for k, v in out.items()}

    def expected_calibration_error(self) -> float:
        """Trial-weighted mean over bins of |mean prediction - observed pass rate|."""
        trials, predicted, successes, _ = self.per_bin
        seen = trials > 0
        if not seen.any():
            return float("nan")
        gap = np.abs(predicted[seen] - successes[seen]) / trials[seen]
        return float(np.sum(gap * trials[seen]) / trials.sum())

    def reliability(self) -> dict[str, np.ndarray]:
        """Per bin: ``edges`` (bins + 1), mean ``predicted`` and ``observed`` pass rate (NaN where
        empty), scored ``trials`` and ``groups``."""
        trials, predicted, successes, groups = self.per_bin
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "edges": np.linspace(0.0, 1.0, self.bins + 1),
                "predicted": predicted / trials,
                "observed": successes / trials,
                "trials": trials.copy(),
                "groups": groups.copy(),
            }

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"cal_totals": self.totals.copy(), "cal_bins": self.per_bin.copy()}

    def load_state_dict(self, state: dict) -> None:
        bins = np.asarray(state["cal_bins"], dtype=np.float64)
        if bins.shape != self.per_bin.shape:
            raise ValueError(
                f"predictor state 'cal_bins' has shape {bins.shape}, calibration_bins={self.bins} "
                f"needs {self.per_bin.shape}"
            )
        self.totals, self.per_bin = np.array(state["cal_totals"], dtype=np.float64), bins.copy()


def reliability_figure(reliability: dict, title: str = "pass-rate predictor calibration", brier: float | None = None):
    """A reliability plot from `Calibration.reliability` data: observed vs predicted pass rate per
    bin (marker area ~ scored rollouts) against the diagonal, and the rollouts per bin below.
    Pure: data in, a matplotlib ``Figure`` out (no pyplot state, no backend needed)."""
    from matplotlib.figure import Figure

    edges = np.asarray(reliability["edges"])
    trials = np.asarray(reliability["trials"], dtype=np.float64)
    seen = trials > 0
    predicted, observed = np.asarray(reliability["predicted"]), np.asarray(reliability["observed"])
    fig = Figure(figsize=(5.0, 5.6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect calibration")
    sizes = 20 + 280 * trials[seen] / max(trials.max(initial=0), 1.0)
    top.plot(predicted[seen], observed[seen], color="tab:blue", lw=1)
    top.scatter(predicted[seen], observed[seen], s=sizes, color="tab:blue", label="observed")
    label = title if brier is None else f"{title} (Brier {brier:.3f})"
    top.set(title=label, ylabel="observed pass rate", xlim=(0, 1), ylim=(0, 1))
    top.legend(loc="upper left")
    bottom.bar((edges[:-1] + edges[1:]) / 2, trials, width=np.diff(edges) * 0.9, color="tab:grey")
    bottom.set(xlabel="predicted pass rate (before the group was observed)", ylabel="rollouts")
    fig.tight_layout()
    return fig
