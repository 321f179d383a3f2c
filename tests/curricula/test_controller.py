"""`CurriculumController`: one step's groups in, one `StepOutcome` out (decisions, zero-variance
flags, counts, metrics), with the run's totals kept in one place and round-tripped."""

import numpy as np
import pytest

from curricula.base import GroupResult
from curricula.config import FrontierConfig, PredictorConfig
from curricula.controller import CurriculumController, StepOutcome
from curricula.frontier import FrontierFilter
from curricula.predictive import PredictiveFrontier

IDS = [f"p{i}" for i in range(8)]


def group(pid, successes, n=8):
    return GroupResult(pid, [1.0] * successes + [0.0] * (n - successes), {"skill": "add"}, "h")


def frontier_controller(mask=True):
    config = FrontierConfig(enabled=True, low=0.15, confidence=0.95, min_samples=16)
    return CurriculumController(FrontierFilter(config, IDS), mask_zero_variance=mask)


def test_a_step_gives_the_decisions_the_flags_the_counts_and_the_metrics():
    controller = frontier_controller()
    outcome = controller.observe([group("p0", 0), group("p1", 3), group("p2", 8)], step=0, epoch=0.0)
    assert isinstance(outcome, StepOutcome)
    assert outcome.zero_variance == [True, False, True]
    masked = [d.prompt_id for d in outcome.decisions if d.decision == "masked"]
    assert masked == ["p0", "p2"]  # after the frontier's own decisions, in group order
    assert [d.filter for d in outcome.decisions[:3]] == ["frontier"] * 3
    assert outcome.counts["groups"] == 3 and outcome.counts["zero_variance_groups"] == 2
    assert outcome.counts["rollouts"] == 24 and outcome.counts["signal_rollouts"] == 8
    assert outcome.counts["masked:zero_variance"] == 2
    assert outcome.metrics["curriculum/zero_variance_share"] == pytest.approx(2 / 3)
    assert outcome.metrics["curriculum/signal_share"] == pytest.approx(8 / 24)
    assert outcome.metrics["curriculum/active_pool"] == 8


def test_totals_add_up_over_steps_and_a_drop_shows_in_the_pool_metrics():
    controller = frontier_controller(mask=False)
    for step in range(2):
        controller.observe([group("p1", 0), group("p3", 4)], step=step, epoch=0.0)
    # The third all-wrong visit of p1 drops it as too hard.
    outcome = controller.observe([group("p1", 0), group("p3", 4), group("p4", 8)], step=2, epoch=0.0)
    assert not any(d.decision == "masked" for d in outcome.decisions)  # masking off
    assert [d.decision for d in outcome.decisions if d.prompt_id == "p1"] == ["dropped"]
    assert controller.totals["groups"] == 7 and controller.totals["zero_variance_groups"] == 4
    assert controller.totals["dropped:too_hard"] == 1
    assert outcome.metrics["curriculum/active_pool"] == 7
    assert outcome.metrics["curriculum/dropped_too_hard"] == 1
    assert outcome.metrics["curriculum/zero_variance_share"] == pytest.approx(2 / 3)  # this step, not 4/7


def test_the_predictors_step_calibration_is_scored_before_it_learns():
    ids = [f"p{i}" for i in range(20)]
    predictive = PredictiveFrontier(
        PredictorConfig(enabled=True),
        ids,
        {pid: i for i, pid in enumerate(ids)},
        lambda epoch: np.arange(20, dtype=np.int32),
        batch_size=2,
        num_generations=4,
        groups=np.zeros(20, dtype=np.int64),
    )
    controller = CurriculumController(predictive=predictive)
    groups = [GroupResult("p0", [0.0] * 4), GroupResult("p1", [1.0, 0.0, 0.0, 0.0])]
    first = controller.observe(groups, step=0, epoch=0.0).metrics
    assert first["predictor/step_predicted"] == pytest.approx(0.5)  # the untouched prior
    assert first["predictor/step_observed"] == pytest.approx(1 / 8)
    second = controller.observe(groups, step=1, epoch=0.0).metrics
    assert second["predictor/step_predicted"] < 0.4  # it learnt from the first step
    assert "curriculum/active_pool" not in second  # no frontier filter: no pool metrics


def test_generated_tokens_and_totals_round_trip_through_the_state():
    controller = frontier_controller()
    controller.observe([group("p0", 0)], step=0, epoch=0.0)
    controller.count_generated([("add", 5), ("mul", 7), ("", 2)])
    assert controller.totals["generated_tokens"] == 14
    assert dict(controller.generated_tokens_by_skill) == {"add": 5, "mul": 7}
    restored = frontier_controller()
    restored.load_state_dict(controller.state_dict())
    assert restored.totals == controller.totals
    assert restored.generated_tokens_by_skill == controller.generated_tokens_by_skill


def test_skip_metrics_only_when_the_frontier_skips():
    assert frontier_controller().skip_metrics(3) == {}
    skipping = CurriculumController(FrontierFilter(FrontierConfig(enabled=True, skip_zero_variance=True), IDS))
    metrics = skipping.skip_metrics(3)
    assert metrics["curriculum/skipped"] == 3
    assert set(metrics) == {"curriculum/skipped", "curriculum/skip_explore_easy", "curriculum/skip_explore_hard"}


def test_counts_before_rollout_and_in_over_sampling_live_in_the_controller():
    skipping = CurriculumController(FrontierFilter(FrontierConfig(enabled=True, skip_zero_variance=True), IDS))
    assert skipping.record_selection(deferred=5, skipped=2)["curriculum/skipped"] == 2
    assert skipping.record_substitution(substituted=3, skipped=1)["curriculum/skipped"] == 1
    assert skipping.record_oversampling(rounds=2, extra_groups=6, cap_hit=True) == {"curriculum/oversample_rounds": 2}
    skipping.record_oversampling(rounds=1, extra_groups=2, cap_hit=False)
    totals = skipping.totals
    assert (totals["deferred"], totals["skipped"], totals["substituted"]) == (5, 3, 3)
    assert (totals["oversampled_groups"], totals["oversample_cap_hit"]) == (8, 1)


def test_a_plugged_in_filters_metrics_are_levels():
    from curricula.difficulty import ForgettingTracker

    controller = CurriculumController(extra=[ForgettingTracker()])
    assert controller.level_keys == set()
    metrics = controller.observe([group("p0", 8)], step=0, epoch=0.0).metrics
    assert metrics["forgetting/prompts"] == 1
    assert controller.level_keys == {"forgetting/events", "forgetting/prompts"}
