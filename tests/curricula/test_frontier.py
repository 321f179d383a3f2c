import io
import json
import math

import numpy as np
import pytest

from curricula.base import GroupResult
from curricula.config import FrontierConfig
from curricula.frontier import FrontierFilter, rollout_probability

IDS = [f"p{i}" for i in range(10)]


def saved_and_loaded(state):
    """``state`` through ``np.savez`` and ``np.load``, as a checkpoint stores it."""
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer) as saved:
        return {k: saved[k] for k in saved.files}


def group(pid, successes, n=8, skill="add2"):
    return GroupResult(pid, [1.0] * successes + [0.0] * (n - successes), {"skill": skill}, "hash")


def test_one_visit_of_failures_never_drops_with_defaults():
    f = FrontierFilter(FrontierConfig(enabled=True), IDS)
    [d] = f.observe([group("p0", 0, n=4)], step=0, epoch=0.0)
    assert d.decision == "kept" and d.reason == "too_few_samples"
    [d] = f.observe([group("p0", 0, n=8)], step=1, epoch=0.0)
    assert d.decision == "kept" and not f.is_excluded("p0")


def test_three_visits_of_zero_drop_as_too_hard_with_the_numbers():
    f = FrontierFilter(FrontierConfig(enabled=True, low=0.15, confidence=0.95, min_samples=16), IDS)
    decisions = [f.observe([group("p1", 0)], step=s, epoch=0.0)[0] for s in range(3)]
    assert [d.decision for d in decisions] == ["kept", "kept", "dropped"]
    dropped = decisions[-1]
    assert dropped.reason == "too_hard"
    assert dropped.message == "too hard: 0 of 24 correct over 3 visit(s), upper bound 0.12 < 0.15"
    assert dropped.stats["upper"] == round(1 - 0.05 ** (1 / 24), 4)
    assert dropped.columns == {"skill": "add2"}
    assert f.is_excluded("p1") and f.active_count == 9


def test_mid_pass_rate_is_kept_and_easy_dropped_only_when_high_set():
    f = FrontierFilter(FrontierConfig(enabled=True, high=None), IDS)
    for s in range(4):
        f.observe([group("p2", 4), group("p3", 8)], step=s, epoch=0.0)
    assert not f.is_excluded("p2") and not f.is_excluded("p3")
    g = FrontierFilter(FrontierConfig(enabled=True, high=0.8), IDS)
    out = [g.observe([group("p3", 8)], step=s, epoch=0.0)[0] for s in range(2)]
    # 16 of 16: lower bound 0.05 ** (1 / 16) = 0.83 > 0.8.
    assert out[-1].decision == "dropped" and out[-1].reason == "too_easy"
    assert out[-1].message == "too easy: 16 of 16 correct over 2 visit(s), lower bound 0.83 > 0.8"


def test_unscored_rewards_are_not_failures():
    f = FrontierFilter(FrontierConfig(enabled=True, min_samples=16), IDS)
    nan_group = GroupResult("p4", [math.nan] * 8)
    for s in range(5):
        [d] = f.observe([nan_group], step=s, epoch=0.0)
    assert d.decision == "kept" and f.stats("p4").trials == 0 and f.stats("p4").unscored == 40


def test_reprobe_schedule_and_readmission_of_a_prompt_that_starts_succeeding():
    f = FrontierFilter(FrontierConfig(enabled=True, reprobe_interval=10), IDS)
    for s in range(3):
        f.observe([group("p5", 0)], step=s, epoch=0.0)
    assert f.is_excluded("p5") and f.stats("p5").dropped_step == 2
    assert not f.wants_probe("p5", 11) and f.wants_probe("p5", 12)
    [d] = f.observe([group("p5", 0)], step=12, epoch=0.5)
    assert d.decision == "probed" and d.reason == "reprobe_unchanged" and f.is_excluded("p5")
    assert not f.wants_probe("p5", 21) and f.wants_probe("p5", 22)
    [d] = f.observe([group("p5", 3)], step=22, epoch=1.0)
    assert d.decision == "readmitted" and d.reason == "reprobe_success"
    assert "3 of 8 correct on re-probe at step 22 (dropped at step 2 as too hard)" in d.message
    # Fresh evidence only: the history that dropped it does not re-drop it on the next miss.
    assert (f.stats("p5").successes, f.stats("p5").trials) == (3, 8)
    [d] = f.observe([group("p5", 0)], step=23, epoch=1.0)
    assert d.decision == "kept"


def test_pool_floor_stops_dropping_and_says_so():
    ids = ["a", "b", "c", "d"]
    f = FrontierFilter(FrontierConfig(enabled=True, min_active_fraction=0.5), ids)
    for s in range(3):
        out = f.observe([group(p, 0) for p in ids], step=s, epoch=0.0)
    assert [d.decision for d in out] == ["dropped", "dropped", "kept", "kept"]
    assert out[2].reason == "pool_floor" and "floor 2" in out[2].message
    assert f.active_count == 2


def test_state_round_trip_preserves_decisions():
    f = FrontierFilter(FrontierConfig(enabled=True), IDS)
    for s in range(3):
        f.observe([group("p6", 0), group("p7", 5)], step=s, epoch=0.0)
    g = FrontierFilter(FrontierConfig(enabled=True), IDS)
    g.load_state_dict(f.state_dict())
    assert g.all_stats() == f.all_stats() and g.is_excluded("p6") and not g.is_excluded("p7")


# -- pre-rollout skipping (GRESO-style) -----------------------------------------------------


def skipping(**kw):
    base = dict(enabled=True, skip_zero_variance=True, skip_target_easy=None, skip_target_hard=None)
    return FrontierFilter(FrontierConfig(**{**base, **kw}), IDS)


def test_rollout_probability_shrinks_with_the_streak_down_to_its_floor():
    assert rollout_probability(0, 0.5, 0.05) == 1.0
    assert rollout_probability(1, 0.5, 0.05) == 0.5
    assert rollout_probability(3, 0.5, 0.05) == 0.125
    assert rollout_probability(10, 0.5, 0.05) == 0.05


def test_a_prompt_on_a_zero_variance_streak_is_skipped_as_often_as_promised():
    f = skipping()
    f.observe([group("p1", 8), group("p2", 0), group("p3", 4)], step=0, epoch=0.0)
    # p1 all correct, p2 all wrong: one zero-variance visit each; p3 informative.
    assert (f.stats("p1").streak_kind, f.stats("p2").streak_kind) == ("easy", "hard")
    assert f.skip_chance("p1") == f.skip_chance("p2") == 0.5 and f.skip_chance("p3") == 1.0
    share = sum(f.skips("p1", step, seed=0) for step in range(2000)) / 2000
    assert abs(share - 0.5) < 0.04
    assert not any(f.skips("p3", step, seed=0) for step in range(2000))
    # The coin is a function of (seed, step, prompt): the same answer every time it is asked.
    assert [f.skips("p1", s, 0) for s in range(50)] == [f.skips("p1", s, 0) for s in range(50)]
    assert [f.skips("p1", s, 0) for s in range(50)] != [f.skips("p1", s, 1) for s in range(50)]
    f.observe([group("p1", 8)], step=1, epoch=0.0)
    assert f.stats("p1").zero_variance_streak == 2 and f.skip_chance("p1") == 0.25
    f.observe([group("p1", 0)], step=2, epoch=0.0)  # the kind changed: a new streak of one
    assert (f.stats("p1").zero_variance_streak, f.stats("p1").streak_kind) == (1, "hard")
    f.observe([group("p1", 5)], step=3, epoch=0.0)  # informative again: never skipped
    assert f.skip_chance("p1") == 1.0 and f.stats("p1").streak_kind is None


def test_skip_record_says_why_with_its_numbers():
    f = skipping(skip_explore=0.3)
    f.observe([group("p4", 0)], step=0, epoch=0.0)
    f.observe([group("p4", 0)], step=1, epoch=0.0)
    step = next(s for s in range(100) if f.skips("p4", s, seed=3))
    d = f.skip_decision("p4", step, seed=3, columns={"skill": "mul3x3"}, prompt_hash="h4")
    assert (d.filter, d.decision, d.reason) == ("frontier", "skipped", "zero_variance_streak")
    assert d.message == (
        "skipped before rollout: its last 2 visits gave zero-variance groups (all wrong); "
        "rolled out with probability 0.09 (explore 0.30^2, floor 0.05)"
    )
    assert d.stats["coin"] >= d.stats["rollout_probability"] == 0.09
    assert d.columns == {"skill": "mul3x3"} and d.prompt_hash == "h4"
    rolled = next(s for s in range(100) if not f.skips("p4", s, seed=3))
    assert f.skip_decision("p4", rolled, seed=3) is None


def test_explore_falls_while_a_kind_is_over_its_target_and_rises_otherwise():
    f = skipping(skip_target_easy=0.1, skip_target_hard=0.5, skip_adapt_step=0.02)
    # 2 of 4 groups all correct (0.5 > 0.1): easy explore falls; 1 of 4 all wrong (0.25 <= 0.5): rises.
    f.observe([group("p1", 8), group("p2", 8), group("p3", 0), group("p4", 3)], step=0, epoch=0.0)
    assert f.explore == {"easy": 0.48, "hard": 0.52}
    for s in range(1, 60):
        f.observe([group("p1", 8), group("p2", 8), group("p3", 0), group("p4", 3)], step=s, epoch=0.0)
    assert f.explore == {"easy": 0.05, "hard": 1.0}  # clamped to [skip_explore_min, 1]


def test_skipping_off_or_dropped_prompts_are_never_skipped():
    off = FrontierFilter(FrontierConfig(enabled=True), IDS)
    off.observe([group("p1", 8)], step=0, epoch=0.0)
    assert off.stats("p1").zero_variance_streak == 1  # tracked, but unused
    assert off.skip_chance("p1") == 1.0 and not any(off.skips("p1", s, 0) for s in range(200))
    f = skipping(min_samples=8, low=0.3)
    for s in range(2):
        f.observe([group("p5", 0)], step=s, epoch=0.0)
    assert f.is_excluded("p5")  # dropped: excluded and re-probed, not skipped
    assert not any(f.skips("p5", s, 0) for s in range(200))


def test_skip_state_round_trips_with_the_table():
    f = skipping(skip_target_easy=0.1)
    for s in range(5):
        f.observe([group("p1", 8), group("p2", 0)], step=s, epoch=0.0)
    g = skipping(skip_target_easy=0.1)
    g.load_state_dict(saved_and_loaded(f.state_dict()))
    assert g.explore == f.explore and g.explore["easy"] < 0.5
    assert [g.skips(p, s, 0) for p in ("p1", "p2") for s in range(100)] == [
        f.skips(p, s, 0) for p in ("p1", "p2") for s in range(100)
    ]


def test_active_count_follows_drops_and_readmissions():
    import random

    f = FrontierFilter(
        FrontierConfig(enabled=True, min_samples=8, low=0.3, high=0.8, reprobe_interval=2, min_active_fraction=0.0), IDS
    )
    rng = random.Random(0)
    seen = set()
    for step in range(60):
        groups = [
            group(pid, rng.choice([0, 0, 8, 8, 4]))
            for pid in rng.sample(IDS + ["new"], 4)
            if not f.is_excluded(pid) or f.wants_probe(pid, step)
        ]
        decisions = f.observe(groups, step=step, epoch=0.0)
        seen.update(d.decision for d in decisions)
        recount = sum(1 for s in f.all_stats().values() if s.status == "active")
        assert f.active_count == recount and (not decisions or decisions[-1].stats["active_pool"] == recount)
        statuses = [s.status for s in f.all_stats().values()]  # counts() is kept, not recounted: same numbers
        assert f.counts() == {k: statuses.count(k) for k in ("active", "too_hard", "too_easy")}
    assert {"dropped", "readmitted"} <= seen  # both directions happened
    g = FrontierFilter(f.config, IDS)
    g.load_state_dict(saved_and_loaded(f.state_dict()))
    assert g.active_count == f.active_count == sum(1 for s in f.all_stats().values() if s.status == "active")
    assert g.all_stats() == f.all_stats() and g.counts() == f.counts() and g.excluded_ids() == f.excluded_ids()
    assert "new" in g.all_stats() and g.pool_size == f.pool_size == len(IDS)


def test_drop_message_prints_enough_digits_for_its_inequality_to_hold():
    # 0 of 19 at 95%: upper bound 0.14587, which two decimals would print as "0.15 < 0.15".
    f = FrontierFilter(FrontierConfig(enabled=True, low=0.15, high=0.8, confidence=0.95, min_samples=19), IDS)
    [d] = f.observe([group("p1", 0, n=19)], step=0, epoch=0.0)
    assert d.message == "too hard: 0 of 19 correct over 1 visit(s), upper bound 0.146 < 0.15"
    # 28 of 28: lower bound 0.89852... against high 0.9 is kept; 29 of 29 (0.90192) drops as "0.902 > 0.9".
    g = FrontierFilter(FrontierConfig(enabled=True, low=0.15, high=0.9, confidence=0.95, min_samples=29), IDS)
    [d] = g.observe([group("p2", 29, n=29)], step=0, epoch=0.0)
    assert d.message == "too easy: 29 of 29 correct over 1 visit(s), lower bound 0.902 > 0.9"


def test_a_reprobe_interval_below_one_is_refused():
    # 0 (or less) re-probed every dropped prompt at once: the filter silently did nothing.
    import pytest

    for interval in (0, -3):
        with pytest.raises(ValueError, match=rf"frontier.reprobe_interval must be >= 1 .*got {interval}"):
            FrontierConfig(reprobe_interval=interval)
    assert FrontierConfig(reprobe_interval=None).reprobe_interval is None


def test_curricula_config_sections_built_from_mappings_are_typed():
    """`CurriculaConfig(frontier={...})` (the Python API) is checked like a config file's section."""
    import pytest

    from curricula.config import CurriculaConfig
    from rewards.config_types import ConfigError

    config = CurriculaConfig(frontier={"enabled": True, "low": "0.2", "min_samples": "8"}, influence={"dim": 64})
    assert config.frontier == FrontierConfig(enabled=True, low=0.2, min_samples=8)
    assert config.influence.dim == 64
    with pytest.raises(ConfigError, match=r"^curricula.frontier.low: expected a number, got 'high'$"):
        CurriculaConfig(frontier={"low": "high"})
    with pytest.raises(ConfigError, match=r"^Unknown key 'curricula.predictor.enabeld'. Did you mean 'enabled'\?"):
        CurriculaConfig(predictor={"enabeld": True})
    with pytest.raises(ConfigError, match=r"^Invalid 'curricula.frontier' section: .*high must be in"):
        CurriculaConfig(frontier={"low": 0.5, "high": 0.2})


def test_the_state_is_32_bytes_a_prompt_of_arrays_and_counters_saturate():
    f = FrontierFilter(FrontierConfig(enabled=True, min_samples=10**9), [str(i) for i in range(1000)])
    state = f.state_dict()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())
    assert sum(f.columns[name].nbytes for name in f.columns) == 32 * 1000
    assert 32 <= f.nbytes_per_prompt() < 33
    # Saturate, not wrap round: 70,000 visits stay at the uint16 maximum, and the prompt stays kept.
    row = f.index_of["7"]
    f.columns["visits"][row] = 65_534
    f.columns["zero_variance_run"][row] = -32_767
    for step in range(3):
        [d] = f.observe([group("7", 0)], step=step, epoch=0.0)
    assert f.stats("7").visits == 65_535 and d.decision == "kept"
    assert (f.stats("7").zero_variance_streak, f.stats("7").streak_kind) == (32_767, "hard")
    assert all(type(v) in (int, float, str, type(None)) for v in d.stats.values())  # plain values for the audit


def test_an_old_json_state_still_loads_and_a_mismatched_pool_is_refused():
    from dataclasses import asdict

    f = FrontierFilter(FrontierConfig(enabled=True, reprobe_interval=2), IDS)
    for s in range(4):
        f.observe([group("p6", 0), group("p7", 5), group("elsewhere", 8)], step=s, epoch=0.0)
    old = {"table": {pid: asdict(s) for pid, s in f.all_stats().items()}, "floor_warned": False, "explore": f.explore}
    g = FrontierFilter(FrontierConfig(enabled=True, reprobe_interval=2), IDS)
    g.load_state_dict(json.loads(json.dumps(old)))
    assert g.all_stats() == f.all_stats() and g.counts() == f.counts() and g.wants_probe("p6", 9)
    with pytest.raises(ValueError, match="another dataset"):
        FrontierFilter(FrontierConfig(enabled=True), IDS[:5]).load_state_dict(f.state_dict())
    with pytest.raises(KeyError, match="no prompt 'nope'"):
        f.stats("nope")
