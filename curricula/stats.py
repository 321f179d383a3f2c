"""Confidence bounds for a pass rate: pure functions of (successes, trials, confidence).

Decisions about a prompt use a bound, never the point estimate: 0 successes in 4 rollouts is
what a prompt with a 10% pass rate shows 66% of the time, so "0/4" says little.
"""

from __future__ import annotations

import math


def _log_binom_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return min(1.0, sum(math.exp(_log_binom_pmf(i, n, p)) for i in range(k + 1)))


def _bisect(f, lo: float, hi: float, iters: int = 60) -> float:
    """Root of a decreasing function on [lo, hi]."""
    for _ in range(iters):
        mid = (lo + hi) / 2
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def beta_upper(successes: int, trials: int, confidence: float) -> float:
    """One-sided Clopper-Pearson upper bound: the p at which seeing <= `successes` has
    probability 1 - confidence. Equals the Beta(s + 1, n - s) quantile at `confidence`."""
    if trials == 0:
        return 1.0
    if successes >= trials:
        return 1.0
    if successes == 0:  # closed form, also a handy check on the general path
        return 1.0 - (1.0 - confidence) ** (1.0 / trials)
    alpha = 1.0 - confidence
    return _bisect(lambda p: binom_cdf(successes, trials, p) - alpha, 0.0, 1.0)


def beta_lower(successes: int, trials: int, confidence: float) -> float:
    """One-sided Clopper-Pearson lower bound (mirror image of `beta_upper`)."""
    if trials == 0 or successes == 0:
        return 0.0
    return 1.0 - beta_upper(trials - successes, trials, confidence)


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(confidence)


def wilson_upper(successes: int, trials: int, confidence: float) -> float:
    """One-sided Wilson score upper bound."""
    if trials == 0:
        return 1.0
    z = _z(confidence)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return min(1.0, (centre + spread) / denom)


def wilson_lower(successes: int, trials: int, confidence: float) -> float:
    """One-sided Wilson score lower bound."""
    if trials == 0:
        return 0.0
    return max(0.0, 1.0 - wilson_upper(trials - successes, trials, confidence))


BOUNDS = {"beta": (beta_lower, beta_upper), "wilson": (wilson_lower, wilson_upper)}


def pass_rate_bounds(successes: int, trials: int, confidence: float, bound: str = "beta") -> tuple[float, float]:
    """(lower, upper) one-sided bounds of a pass rate at `confidence`."""
    lower, upper = BOUNDS[bound]
    return lower(successes, trials, confidence), upper(successes, trials, confidence)
