"""`rlvr compare`'s time-left estimate: pilots of each cost kind first, then a real estimate."""

import random

from rlvr.compare.arms import Arm
from rlvr.compare.progress import ArmProgress, TimeLeft, cost_kind, schedule

# Seconds per arm kind on 2 cores, as in the showdown of 2026-12-03 (GRPO ~10x an SFT arm).
COST = {("sft", False): 2.0, ("grpo", False): 20.0, ("grpo", True): 30.0}


def showdown_like_plan(seeds=3) -> list[Arm]:
    arms = [
        Arm(method, regime, selector, budget, seed)
        for seed in range(seeds)
        for method in ("sft", "grpo")
        for selector, regime in (("random", "both"), ("influence", "targeted"), ("influence", "general"))
        for budget in (0.05, 0.2, 0.5)
    ]
    return arms + [Arm("grpo", "probe", name, 1.0, seed) for seed in range(seeds) for name in ("with", "without")]


def test_schedule_starts_one_arm_of_each_kind_then_keeps_plan_order():
    arms = showdown_like_plan()
    order = schedule(arms)
    assert sorted(order) == list(range(len(arms)))
    assert {cost_kind(arms[i]) for i in order[:3]} == set(COST)
    rest = order[3:]
    assert rest == sorted(rest)


def test_the_estimate_waits_for_every_kind_then_tracks_the_true_time_left():
    arms = showdown_like_plan()
    rng = random.Random(0)
    costs = [COST[cost_kind(a)] * rng.uniform(0.9, 1.1) for a in arms]
    time_left = TimeLeft(arms, workers=1)
    order = schedule(arms)
    ratios = []
    for done, i in enumerate(order, 1):
        time_left.finished(i, costs[i])
        estimate = time_left.estimate()
        true_left = sum(costs[j] for j in order[done:])
        if done < 3:
            assert estimate is None  # a kind not yet measured: no number rather than a wrong one
        elif true_left > 0:
            ratios.append(estimate / true_left)
    assert min(ratios) > 0.8 and max(ratios) < 1.25, (min(ratios), max(ratios))


def test_plan_order_alone_would_have_underestimated_the_first_lines():
    """What the old estimate did: cost every unfinished arm at the mean of the finished ones
    (here: the first seed's SFT arms only), against the true time left."""
    arms = showdown_like_plan()
    costs = [COST[cost_kind(a)] for a in arms]
    first_sft = [i for i, a in enumerate(arms) if a.method == "sft" and a.seed == 0]
    old_estimate = (len(arms) - len(first_sft)) * 2.0
    true_left = sum(costs) - 2.0 * len(first_sft)
    assert true_left / old_estimate > 4  # the "4x too low" of issue 16


def test_progress_lines_keep_the_count_and_the_estimate(capsys):
    arms = showdown_like_plan(seeds=1)
    lines = []
    progress = ArmProgress(arms, workers=2, say=lines.append, bar=False)
    for i in schedule(arms)[:4]:
        progress.finished(i, COST[cost_kind(arms[i])], arms[i].name)
    progress.close()
    assert lines[0].startswith("[1/") and lines[0].endswith("time left: after one arm of each kind)")
    assert lines[3].startswith("[4/") and lines[3].endswith("s left)")
