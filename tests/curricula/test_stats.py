import math

import pytest

from curricula.stats import beta_lower, beta_upper, binom_cdf, pass_rate_bounds, wilson_lower, wilson_upper


def test_zero_successes_upper_bound_is_closed_form():
    # 0 of n: the upper bound solves (1-p)^n = alpha.
    assert beta_upper(0, 24, 0.95) == pytest.approx(1 - 0.05 ** (1 / 24))
    assert beta_upper(0, 24, 0.95) == pytest.approx(0.1173, abs=1e-4)
    assert beta_upper(0, 4, 0.95) == pytest.approx(0.5271, abs=1e-4)


def test_general_bound_matches_beta_quantile():
    # Reference values: scipy.stats.beta.ppf(0.95, 2, 23) and beta.ppf(0.05, 20, 5).
    assert beta_upper(1, 24, 0.95) == pytest.approx(0.182892, abs=1e-5)
    assert beta_lower(20, 24, 0.95) == pytest.approx(0.658193, abs=1e-5)
    # The bound is where the binomial tail equals alpha.
    assert binom_cdf(1, 24, beta_upper(1, 24, 0.95)) == pytest.approx(0.05, abs=1e-6)


def test_bounds_bracket_the_estimate_and_shrink_with_samples():
    for bound in ("beta", "wilson"):
        lo8, hi8 = pass_rate_bounds(4, 8, 0.95, bound)
        lo80, hi80 = pass_rate_bounds(40, 80, 0.95, bound)
        assert lo8 < 0.5 < hi8 and lo80 < 0.5 < hi80
        assert hi80 - lo80 < hi8 - lo8


def test_wilson_is_symmetric_and_degenerate_cases():
    assert wilson_upper(3, 10, 0.9) == pytest.approx(1 - wilson_lower(7, 10, 0.9))
    assert beta_upper(5, 5, 0.95) == 1.0 and beta_lower(0, 5, 0.95) == 0.0
    assert pass_rate_bounds(0, 0, 0.95) == (0.0, 1.0)
    assert not math.isnan(wilson_upper(0, 1, 0.95))
