"""Confidence bounds for a pass rate: pure functions of (successes, trials, confidence).

Decisions about a prompt use a bound, never the point estimate: 0 successes in 4 rollouts is
what a prompt with a 10% pass rate shows 66% of the time, so "0/4" says little.
"""

from __future__ import annotations

import math
from functools import lru_cache


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), through the incomplete beta function (O(1) in n)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return _betainc(n - k, k + 1, 1.0 - p)


def _binom_cdf_slope(k: int, n: int, p: float) -> float:
    """d/dp P(X <= k) for X ~ Binomial(n, p): minus n times the Binomial(n - 1, p) mass at k."""
    log_mass = math.lgamma(n) - math.lgamma(k + 1) - math.lgamma(n - k) + k * math.log(p) + (n - 1 - k) * math.log1p(-p)
    return -n * math.exp(log_mass)


def _solve_decreasing(f, slope, start: float, tol: float = 1e-12) -> float:
    """Root of a decreasing function on (0, 1): Newton steps, kept inside a shrinking bracket
    (a step that would leave it bisects instead). A handful of steps where bisection needs 32."""
    lo, hi, p = 0.0, 1.0, start
    for _ in range(100):
        value = f(p)
        if value > 0:
            lo = p
        else:
            hi = p
        d = slope(p)
        step_to = p - value / d if d < 0 else None
        if step_to is None or not lo < step_to < hi:
            step_to = (lo + hi) / 2
        if abs(step_to - p) < tol:
            return step_to
        p = step_to
    return p


@lru_cache(maxsize=1 << 16)  # pure, and (successes, trials) pairs recur every step
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
    start = min(max(wilson_upper(successes, trials, confidence), 1e-9), 1.0 - 1e-9)
    return _solve_decreasing(
        lambda p: binom_cdf(successes, trials, p) - alpha, lambda p: _binom_cdf_slope(successes, trials, p), start
    )


def beta_lower(successes: int, trials: int, confidence: float) -> float:
    """One-sided Clopper-Pearson lower bound (mirror image of `beta_upper`)."""
    if trials == 0 or successes == 0:
        return 0.0
    return 1.0 - beta_upper(trials - successes, trials, confidence)


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(confidence)


@lru_cache(maxsize=1 << 16)  # pure, and (successes, trials) pairs recur every step
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
