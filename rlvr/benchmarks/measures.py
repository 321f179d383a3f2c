"""Pure measurements on held-out curves (no model): what `rlvr.benchmarks.frontier` reports.

A curve is a list of ``(rollout tokens so far, held-out accuracy)`` points; its first point is
the accuracy before training, at 0 tokens.
"""

from __future__ import annotations

import statistics


def running_mean(curve, width: int = 3):
    """(tokens, mean accuracy of this and the previous ``width - 1`` points)."""
    return [
        (tokens, statistics.mean(acc for _, acc in curve[max(0, i - width + 1) : i + 1]))
        for i, (tokens, _) in enumerate(curve)
    ]


def tokens_to_reach(curve, target: float):
    """Tokens at the first point whose accuracy reaches ``target`` (up to 1e-9), else None."""
    for tokens, acc in curve:
        if acc >= target - 1e-9:
            return tokens
    return None


def trained_points(curve):
    """The points after training started (the 0-token point is the model before training)."""
    return [point for point in curve if point[0] > 0]


def token_ratio(reached, baseline):
    """``reached / baseline``, None when either never reached its mark (or the baseline is 0)."""
    return None if reached is None or not baseline else reached / baseline


def mean(xs):
    """Mean of the values that are not None; nan when none is."""
    xs = [x for x in xs if x is not None]
    return statistics.mean(xs) if xs else float("nan")


def trl_marks(trl_curve) -> dict:
    """The marks an arm is measured against, from plain TRL's curve (same seed): ``best`` (the
    best held-out accuracy after training starts) and the tokens TRL took to reach it
    (``tokens``); ``smooth_best`` (TRL's final 3-point running mean, a less noisy mark) and the
    tokens its running mean took to reach it (``smooth_tokens``)."""
    trained = trained_points(trl_curve)
    best = max(acc for _, acc in trained)
    smooth = running_mean(trained)
    return {
        "best": best,
        "tokens": tokens_to_reach(trained, best),
        "smooth_best": smooth[-1][1],
        "smooth_tokens": tokens_to_reach(smooth, smooth[-1][1]),
    }


def versus_trl(curve, marks: dict) -> dict:
    """(b) and (b') of one arm's curve against `trl_marks`: ``reached`` (tokens to TRL's best
    accuracy, None if never), ``ratio`` (that over TRL's tokens) and ``smooth_ratio`` (tokens for
    the arm's running mean to reach TRL's final running mean, over TRL's)."""
    trained = trained_points(curve)
    reached = tokens_to_reach(trained, marks["best"])
    smooth = tokens_to_reach(running_mean(trained), marks["smooth_best"])
    return {
        "reached": reached,
        "ratio": token_ratio(reached, marks["tokens"]),
        "smooth_ratio": token_ratio(smooth, marks["smooth_tokens"]),
    }
