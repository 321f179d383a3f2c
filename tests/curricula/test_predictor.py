import io
import itertools
import math

import numpy as np
import pytest

from curricula.calibration import Calibration, reliability_figure
from curricula.config import PredictorConfig
from curricula.frontier import count_successes
from curricula.predictor import (
    PassRatePredictor,
    beta_mean_var,
    count_group_successes,
    draw_generator,
    expected_power,
    metadata_groups,
    p_signal,
    signal_at,
    thompson_pass_rates,
)

BASE_VAR = 0.25 / 3  # variance of Beta(1, 1): the uninformed level (base_strength 2)


def config(**kw):
    return PredictorConfig(enabled=True, **kw)


# -- pure arithmetic -----------------------------------------------------------------------------
def test_uninformed_prior_plus_three_of_eight_is_beta_4_6():
    # Pooling switched off (a level's own evidence is outweighed by a huge shrinkage): textbook Beta.
    p = PassRatePredictor(config(shrinkage=1e12), num_prompts=3)
    np.testing.assert_allclose(np.stack(p.posterior([0, 1], step=0)), [[1, 1], [1, 1]])
    p.observe([0], [3], [8], step=0)
    alpha, beta = p.posterior([0], step=1)
    np.testing.assert_allclose([alpha[0], beta[0]], [4.0, 6.0], atol=1e-9)
    mean, var = beta_mean_var(alpha, beta)
    np.testing.assert_allclose([mean[0], var[0]], [0.4, 4 * 6 / (10**2 * 11)], atol=1e-9)


def test_own_evidence_adds_exactly_on_top_of_the_pooled_prior():
    p = PassRatePredictor(config(half_life=None), num_prompts=3)
    p.observe([0], [3], [8], step=0)
    # Pool level after one group of 3/8 (hand): W=1, mean 0.375, no spread left after the binomial
    # noise 0.375*0.625/7; shrunk 1:1 to (0.5, 1/12): mean 0.4375, variance 1/24.
    strength = 0.4375 * 0.5625 / (1 / 24) - 1  # 4.90625
    prior = np.stack(p.prior([0, 1], step=1))
    np.testing.assert_allclose(prior[:, 1], [strength * 0.4375, strength * 0.5625])
    posterior = np.stack(p.posterior([0, 1], step=1))
    np.testing.assert_allclose(posterior - prior, [[3.0, 0.0], [5.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, 2.0), (4.0, 6.0), (2.1875, 2.8125), (0.15, 2.9)])
@pytest.mark.parametrize("g", [1, 2, 3, 5])
def test_p_signal_matches_beta_binomial_enumeration(alpha, beta, g):
    def log_b(a, b):
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    # P(K = k) for K ~ BetaBinomial(g, alpha, beta); a signal is 0 < K < g.
    mass = [math.comb(g, k) * math.exp(log_b(k + alpha, g - k + beta) - log_b(alpha, beta)) for k in range(g + 1)]
    assert sum(mass) == pytest.approx(1.0)
    assert float(p_signal(alpha, beta, g)) == pytest.approx(sum(mass[1:g]), abs=1e-12)
    assert float(expected_power(alpha, beta, g)) == pytest.approx(mass[g], abs=1e-12)


def test_p_signal_hand_values_and_point_mass_enumeration():
    assert float(p_signal(1, 1, 2)) == pytest.approx(1 / 3)  # 1 - 2 E[p^2] = 1 - 2/3
    assert float(p_signal(1, 1, 8)) == pytest.approx(7 / 9)  # 1 - 2/(8+1)
    np.testing.assert_allclose(p_signal([1, 4], [1, 6], [2, 3]), [1 / 3, 1 - (4 * 5 * 6 + 6 * 7 * 8) / (10 * 11 * 12)])
    # A known pass rate: enumerate all 2^5 outcome sequences.
    p, g = 0.3, 5
    brute = sum(
        math.prod(p if o else 1 - p for o in seq) for seq in itertools.product([0, 1], repeat=g) if 0 < sum(seq) < g
    )
    assert float(signal_at(p, g)) == pytest.approx(brute)
    assert float(p_signal(0.3 * 1e7, 0.7 * 1e7, g)) == pytest.approx(brute, abs=1e-6)


def test_thompson_draws_are_fixed_by_seed_and_step():
    a, b = np.array([1.0, 4.0, 0.2]), np.array([1.0, 6.0, 7.8])
    first = thompson_pass_rates(a, b, draw_generator(seed=7, step=3))
    again = thompson_pass_rates(a, b, draw_generator(seed=7, step=3))
    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, thompson_pass_rates(a, b, draw_generator(seed=7, step=4)))
    assert not np.array_equal(first, thompson_pass_rates(a, b, draw_generator(seed=8, step=3)))


def test_success_counts_match_the_frontier_filter_nan_is_unscored():
    rewards = np.array([[1.0, np.nan, 0.0, 1.5], [np.nan] * 4, [0.2, 0.9, 0.99, 0.0]])
    s, n = count_group_successes(rewards, threshold=1.0)
    assert s.tolist() == [2, 0, 0] and n.tolist() == [3, 0, 4]
    for row, (si, ni) in zip(rewards.tolist(), zip(s, n)):
        assert count_successes(row, 1.0)[:2] == (si, ni)
    p = PassRatePredictor(config(), num_prompts=3)
    p.observe_rewards([0, 1, 2], rewards, step=0)
    assert p.level_stats[-1, 0] == 2.0  # the unscored group says nothing about the pool
    assert p.own[:, 1].tolist() == [0.0, 0.0]


# -- group priors ----------------------------------------------------------------------------
def test_group_prior_after_observations_of_a_skill():
    groups, keys = metadata_groups({"skill": ["hard"] * 10 + ["mid"] * 10}, ["skill"])
    assert keys == [("hard",), ("mid",)] and groups[:2].tolist() == [0, 0] and groups[10] == 1
    p = PassRatePredictor(config(half_life=None), num_prompts=20, groups=groups)
    p.observe([0, 1, 2, 10], [0, 0, 0, 4], [8, 8, 8, 8], step=0)
    # Pool level (hand): x = 0, 0, 0, 0.5; W=4, mean 0.125, E[x^2] 0.0625, noise (0.25/7)/4
    pool_spread = 0.0625 - 0.125**2 - (0.25 / 7) / 4
    pool_mean, pool_var = (0.5 + 0.5) / 5, (4 * pool_spread + BASE_VAR) / 5
    assert p.pool_moments(step=1) == pytest.approx((pool_mean, pool_var))  # (0.2, 0.0470)
    # hard: three all-wrong groups, no spread: mean 0.2/4 = 0.05, variance pool_var/4.
    mean, var = pool_mean / 4, pool_var / 4
    strength = mean * (1 - mean) / var - 1  # 3.04, under the cap of 8
    np.testing.assert_allclose(np.stack(p.prior([5], step=1))[:, 0], [strength * mean, strength * (1 - mean)])
    assert p.predicted_pass_rate([5], step=1)[0] == pytest.approx(0.05)
    # mid: one group of 4/8: mean (0.5 + 0.2)/2 = 0.35; its strength (8.7) is capped at 8.
    np.testing.assert_allclose(np.stack(p.prior([15], step=1))[:, 0], [8 * 0.35, 8 * 0.65])
    assert float(p_signal(*p.posterior([5], 1), 8)[0]) < 0.2 < 0.9 < float(p_signal(*p.posterior([15], 1), 8)[0])


def test_missing_metadata_falls_back_to_the_pool_and_unknown_columns_are_named():
    groups, keys = metadata_groups({"skill": ["a", None, "a"], "source": ["x", "x", "y"]}, ["skill", "source"])
    assert groups.tolist() == [0, -1, 1] and keys == [("a", "x"), ("a", "y")]
    with pytest.raises(ValueError, match=r"\['difficulty'\].*lacks"):
        metadata_groups({"skill": ["a"]}, ["skill", "difficulty"])


def test_pooled_evidence_decays_with_half_life():
    p = PassRatePredictor(config(half_life=50.0), num_prompts=4)
    p.observe([0], [0], [8], step=0)
    p.observe([1], [8], [8], step=50)
    assert p.level_stats[-1, :2].tolist() == pytest.approx([0.5 + 1.0, 0.0 + 1.0])  # (W, sum x)
    assert p.pool_moments(step=100)[0] == pytest.approx((0.5 + 0.5) / (0.75 + 1.0))


# -- the feature model -----------------------------------------------------------------------
def test_feature_model_predicts_first_visits_from_a_cluster():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((2, 32)) * 3
    labels = np.tile([0, 1], 100)
    features = centres[labels] + rng.standard_normal((200, 32)) * 0.3
    rates = np.where(labels == 0, 0.05, 0.9)
    p = PassRatePredictor(config(features=True, feature_dim=16), num_prompts=200, seed=1)
    world = np.random.default_rng(1)
    for step in range(20):
        rows = np.arange(step * 8, step * 8 + 8)
        p.observe(rows, world.binomial(8, rates[rows]), np.full(8, 8), step, features=features[rows])
    with pytest.raises(ValueError, match="width 5, the model was built on width 32"):
        p.set_features([0], np.zeros((1, 5)))
    unseen = np.arange(160, 200)
    p.set_features(unseen, features[unseen])
    predicted = p.predicted_pass_rate(unseen, step=20)
    assert predicted[labels[unseen] == 0].max() < 0.25 and predicted[labels[unseen] == 1].min() > 0.7
    assert p.features.variance() < BASE_VAR / 4  # it learned to trust itself


# -- calibration -----------------------------------------------------------------------------
def test_calibration_hand_values_and_reliability_figure():
    cal = Calibration(bins=10)
    cal.add([0.25], [1], [4], [0.6], first_visit=[True], reference=0.5)
    m = cal.metrics()
    assert m["brier"] == pytest.approx((0.75**2 + 3 * 0.25**2) / 4)  # 0.1875
    assert m["brier_reference"] == pytest.approx(0.25) and m["brier_first_visit"] == m["brier"]
    assert m["brier_signal"] == pytest.approx(0.4**2) and m["ece"] == pytest.approx(0.0)
    cal.add([0.25, 0.9], [0, 0], [4, 0], [0.6, 0.5], first_visit=[False, False], reference=0.5)  # 2nd unscored
    m = cal.metrics()
    assert m["groups"] == 2 and m["mean_observed"] == pytest.approx(1 / 8)
    assert m["ece"] == pytest.approx(0.125) and m["brier_first_visit"] == pytest.approx(0.1875)
    data = cal.reliability()
    assert data["trials"][2] == 8 and data["observed"][2] == pytest.approx(0.125) and np.isnan(data["observed"][5])
    fig = reliability_figure(data, brier=m["brier"])
    assert len(fig.axes) == 2 and "Brier 0.125" in fig.axes[0].get_title()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_predictor_metrics_score_the_prediction_made_before_the_group():
    p = PassRatePredictor(config(), num_prompts=4)
    predicted = p.observe([0, 1], [8, 8], [8, 8], step=0)
    np.testing.assert_allclose(predicted, [0.5, 0.5])  # both scored against the uninformed prior
    m = p.metrics()
    assert m["predictor/brier"] == pytest.approx(0.25) and m["predictor/brier_first_visit"] == pytest.approx(0.25)
    assert m["predictor/observed_signal"] == 0.0 and m["predictor/predicted_signal"] == pytest.approx(7 / 9)


# -- state -----------------------------------------------------------------------------------
def _trained(seed=0, n=50):
    groups = np.arange(n) % 3
    p = PassRatePredictor(
        config(features=True, feature_dim=8, prompt_half_life=30.0), num_prompts=n, groups=groups, seed=seed
    )
    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((n, 12))
    for step in range(6):
        rows = rng.choice(n, 8, replace=False)
        p.observe(rows, rng.integers(0, 9, 8), np.full(8, 8), step, features=feats[rows])
        p.set_features(np.arange(n), feats)
        p.note_selection(rows[:2], rows[2:])
    return p


def test_state_round_trip_is_byte_exact_through_npz():
    p = _trained()
    buf = io.BytesIO()
    np.savez(buf, **p.state_dict())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as saved:
        restored = PassRatePredictor(p.config, p.num_prompts, groups=np.arange(50) % 3, seed=0)
        restored.load_state_dict(dict(saved))
    for key, value in p.state_dict().items():
        assert restored.state_dict()[key].tobytes() == value.tobytes(), key
    rows = np.arange(50)
    assert np.stack(restored.posterior(rows, 9)).tobytes() == np.stack(p.posterior(rows, 9)).tobytes()
    assert restored.features.predict(np.ones((1, 12))).tobytes() == p.features.predict(np.ones((1, 12))).tobytes()


def test_state_of_another_pool_is_refused_with_the_key():
    state = _trained().state_dict()
    other = PassRatePredictor(config(features=True, feature_dim=8), num_prompts=49)
    with pytest.raises(ValueError, match="'own' has shape"):
        other.load_state_dict(state)


def test_memory_per_prompt_is_at_most_32_bytes():
    n = 200_000
    p = PassRatePredictor(config(features=True), num_prompts=n, groups=np.arange(n) % 100)
    rng = np.random.default_rng(0)
    p.observe(np.arange(64), rng.integers(0, 9, 64), np.full(64, 8), step=0, features=rng.standard_normal((64, 256)))
    per_prompt = sum(getattr(p, k).nbytes for k in p._PER_PROMPT) / n
    assert per_prompt == 21.0
    assert p.nbytes_per_prompt() <= 22.0  # everything saved, the pool-independent parts included
    buf = io.BytesIO()
    np.savez(buf, **p.state_dict())
    assert len(buf.getvalue()) / n <= 32


def test_bad_observations_name_the_group_and_row():
    p = PassRatePredictor(config(), num_prompts=5)
    with pytest.raises(ValueError, match=r"group 1 \(row 3\): 9 successes out of 8"):
        p.observe([2, 3], [1, 9], [8, 8], step=0)
    with pytest.raises(IndexError, match="row 5 is outside the pool of 5"):
        p.observe([5], [1], [8], step=0)
    with pytest.raises(ValueError, match="max_prior_strength"):
        PredictorConfig(min_prior_strength=9.0, max_prior_strength=8.0)


# -- the step's posteriors, reused ------------------------------------------------------------
def _replay(select_first: bool, duplicates: bool):
    """A predictor fed the same groups, querying its posteriors before each observation or not."""
    n, rng = 40, np.random.default_rng(3)
    p = PassRatePredictor(config(prompt_half_life=20.0, half_life=30.0), num_prompts=n, groups=np.arange(n) % 4)
    predicted = []
    for step in range(12):
        window = rng.choice(n, 16, replace=False)
        rows = np.concatenate([window[:6], window[:2]]) if duplicates else window[:8]
        if select_first:  # what selection does: the window's posteriors and P(signal), then observe
            p.posterior_signal(window, step, 8)
        trials = np.where(np.arange(len(rows)) == step % 8, 6, 8)  # sometimes unscored rollouts
        predicted.append(p.observe(rows, rng.integers(0, 7, len(rows)), trials, step))
    return p, predicted


@pytest.mark.parametrize("duplicates", [False, True])
def test_observe_after_selection_is_byte_identical_to_observe_alone(duplicates):
    fresh, fresh_predicted = _replay(select_first=False, duplicates=duplicates)
    reused, reused_predicted = _replay(select_first=True, duplicates=duplicates)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(fresh_predicted, reused_predicted))
    for name, value in fresh.state_dict().items():
        assert value.tobytes() == reused.state_dict()[name].tobytes(), name


def test_a_state_change_forgets_the_step_posteriors():
    p = PassRatePredictor(config(), num_prompts=4)
    before = p.posterior([0, 1], step=3)
    p.observe([2], [8], [8], step=3)  # the pool level moved: rows 0 and 1 have a new prior
    after = p.observe([0, 1], [0, 0], [8, 8], step=3)
    assert not np.allclose(after, before[0] / (before[0] + before[1]))
    p.load_state_dict(p.state_dict())
    assert p._recent == {}


def test_resolve_group_columns_takes_the_metadata_columns_present_or_checks_the_named_ones():
    from curricula.predictor import resolve_group_columns

    columns = ["id", "prompt", "difficulty", "topic", "skill"]
    assert resolve_group_columns(None, columns) == ["skill", "difficulty"]  # METADATA_COLUMNS' order
    assert resolve_group_columns(None, ["id", "prompt"]) == []
    assert resolve_group_columns(None, columns, not_categories=["difficulty"]) == ["skill"]  # a solve rate, say
    assert resolve_group_columns(["difficulty"], columns, not_categories=["difficulty"]) == ["difficulty"]
    assert resolve_group_columns(["topic"], columns) == ["topic"]
    assert resolve_group_columns([], columns) == []
    with pytest.raises(ValueError, match=r"names \['source'\].*'difficulty'"):
        resolve_group_columns(["source"], columns)


@pytest.mark.parametrize(
    "field, value",
    [
        ("window_factor", math.nan),
        ("window_factor", math.inf),
        ("deferral_bonus", math.nan),
        ("success_threshold", math.nan),
        ("base_strength", math.nan),
        ("reoffer_share", math.inf),
        ("half_life", math.nan),
    ],
)
def test_non_finite_values_are_refused_naming_the_field(field, value):
    # NaN passed every `<` check (a NaN window_factor was blamed on reoffer_share, a NaN
    # deferral_bonus made every score NaN) and an inf window_factor overflowed after the model loaded.
    with pytest.raises(ValueError, match=rf"predictor\.{field} must be"):
        PredictorConfig(**{field: value})


def test_frontier_refuses_a_nan_success_threshold():
    from curricula.config import FrontierConfig

    with pytest.raises(ValueError, match=r"frontier\.success_threshold must be a finite number"):
        FrontierConfig(success_threshold=math.nan)


def test_infinite_half_life_means_no_decay():
    assert PredictorConfig(half_life=math.inf).half_life == math.inf


def test_a_list_valued_group_column_names_the_column_and_row():
    from curricula.predictor import metadata_groups

    with pytest.raises(ValueError, match=r"column 'tags' row 1 holds \['b'\].*not a list"):
        metadata_groups({"skill": ["s", "s"], "tags": ["a", ["b"]]}, ["skill", "tags"])


def test_a_string_for_group_columns_is_refused_not_split_into_letters():
    with pytest.raises(ValueError, match=r"got the string 'skill' \(write \['skill'\]\)"):
        PredictorConfig(group_columns="skill")
    assert PredictorConfig(group_columns=("skill", "source")).group_columns == ["skill", "source"]
