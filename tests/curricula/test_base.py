"""`curricula.base`: the online-filter protocol every filter the trainer drives implements, and
the zero-variance masking records."""

import math

import numpy as np

from curricula.base import (
    GroupResult,
    OnlineFilter,
    PromptFilter,
    step_counts,
    zero_variance,
    zero_variance_mask_decisions,
)
from curricula.config import FrontierConfig, PredictorConfig
from curricula.difficulty import ForgettingTracker
from curricula.frontier import FrontierFilter
from curricula.predictive import PredictiveFrontier


def test_both_online_filters_implement_the_protocol():
    ids = [f"p{i}" for i in range(6)]
    frontier = FrontierFilter(FrontierConfig(enabled=True), ids)
    predictive = PredictiveFrontier(
        PredictorConfig(enabled=True), ids, {p: i for i, p in enumerate(ids)}, lambda epoch: np.arange(6), 2, 4
    )
    assert isinstance(frontier, PromptFilter) and isinstance(frontier, OnlineFilter)
    assert isinstance(predictive, OnlineFilter) and not isinstance(predictive, PromptFilter)
    assert isinstance(ForgettingTracker(), OnlineFilter)  # the trainer's online_filters= takes it
    groups = [GroupResult("p0", [1.0, 0.0, 1.0, 1.0]), GroupResult("p1", [0.0] * 4)]
    for online_filter in (frontier, predictive):  # the trainer's loop, as it calls them
        assert isinstance(online_filter.observe(groups, step=0, epoch=0.0), list)
        online_filter.load_state_dict(online_filter.state_dict())


def test_zero_variance_groups_get_one_masked_record_each_with_their_rewards():
    groups = [
        GroupResult("a", [1.0, 1.0, 1.0], {"skill": "copy"}, "h1"),
        GroupResult("b", [1.0, 0.0, 1.0]),
        GroupResult("c", [0.123456, 0.123456, math.nan]),
        GroupResult("d", [math.nan, math.nan, math.nan]),
    ]
    zero = [zero_variance(g.rewards) for g in groups]
    assert zero == [True, False, True, True]  # one scored reward or none: no advantage either
    records = zero_variance_mask_decisions(groups, zero)
    assert [r.prompt_id for r in records] == ["a", "c", "d"]
    first = records[0]
    assert (first.filter, first.decision, first.reason) == ("zero_variance", "masked", "zero_variance")
    assert first.message == "masked from the loss: all 3 rewards equal (1.0)"
    assert first.columns == {"skill": "copy"} and first.prompt_hash == "h1"
    assert records[1].stats == {"rewards": [0.1235, 0.1235, None]}
    assert records[2].message == "masked from the loss: all 3 rewards equal (None)"


def test_step_counts_are_what_a_run_adds_to_its_totals():
    groups = [GroupResult("a", [1.0, 1.0, 1.0, 1.0]), GroupResult("b", [1.0, 0.0, 0.0]), GroupResult("c", [0.0] * 4)]
    zero = [zero_variance(g.rewards) for g in groups]
    decisions = zero_variance_mask_decisions(groups, zero)
    counts = step_counts(groups, zero, decisions)
    assert counts == {
        "groups": 3,
        "zero_variance_groups": 2,
        "rollouts": 11,
        "signal_rollouts": 3,  # only b's 3 rollouts carry an advantage
        "masked:zero_variance": 2,
    }


def test_a_gathered_batch_becomes_one_group_per_prompt_and_a_broken_layout_is_an_error():
    import pytest

    from curricula.base import group_results

    rows = [("a", "ha", {"skill": "x"})] * 2 + [("b", "hb", {})] * 2
    groups = group_results(rows, [1.0, 0.0, math.nan, 0.5], group_size=2)
    assert [(g.prompt_id, g.prompt_hash, g.columns) for g in groups] == [("a", "ha", {"skill": "x"}), ("b", "hb", {})]
    assert groups[0].rewards == [1.0, 0.0] and groups[1].rewards[1] == 0.5
    with pytest.raises(RuntimeError, match=r"Rows 0..2 of the gathered batch hold prompts \['a', 'b'\]"):
        group_results(rows[1:] + rows[:1], [0.0] * 4, group_size=3)
    with pytest.raises(RuntimeError, match="Gathered 4 prompt ids but 3 reward rows"):
        group_results(rows, [0.0] * 3, group_size=2)
