import math

from curricula.base import GroupResult
from curricula.config import FrontierConfig
from curricula.frontier import FrontierFilter

IDS = [f"p{i}" for i in range(10)]


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
    assert d.decision == "kept" and f.table["p4"].trials == 0 and f.table["p4"].unscored == 40


def test_reprobe_schedule_and_readmission_of_a_prompt_that_starts_succeeding():
    f = FrontierFilter(FrontierConfig(enabled=True, reprobe_interval=10), IDS)
    for s in range(3):
        f.observe([group("p5", 0)], step=s, epoch=0.0)
    assert f.is_excluded("p5") and f.table["p5"].dropped_step == 2
    assert not f.wants_probe("p5", 11) and f.wants_probe("p5", 12)
    [d] = f.observe([group("p5", 0)], step=12, epoch=0.5)
    assert d.decision == "probed" and d.reason == "reprobe_unchanged" and f.is_excluded("p5")
    assert not f.wants_probe("p5", 21) and f.wants_probe("p5", 22)
    [d] = f.observe([group("p5", 3)], step=22, epoch=1.0)
    assert d.decision == "readmitted" and d.reason == "reprobe_success"
    assert "3 of 8 correct on re-probe at step 22 (dropped at step 2 as too hard)" in d.message
    # Fresh evidence only: the history that dropped it does not re-drop it on the next miss.
    assert (f.table["p5"].successes, f.table["p5"].trials) == (3, 8)
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
    assert g.table == f.table and g.is_excluded("p6") and not g.is_excluded("p7")
