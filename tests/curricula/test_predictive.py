"""`PredictiveFrontier`: the window reads the sampler's order ahead within a pass, the safety net
takes dropped prompts out and makes skipped ones wait, nothing repeats within a pass, and the
state (arrays only) round-trips."""

import numpy as np
import pytest

from curricula.base import GroupResult
from curricula.config import PredictorConfig
from curricula.predictive import PredictiveFrontier, SetAside

POOL = 40


def make(batch=4, **config):
    ids = [f"p{i}" for i in range(POOL)]
    order = lambda epoch: np.random.default_rng([7, epoch]).permutation(POOL).astype(np.int32)  # noqa: E731
    cfg = PredictorConfig(enabled=True, **{"reoffer_after": 50, **config})
    return PredictiveFrontier(
        cfg,
        ids,
        {pid: i for i, pid in enumerate(ids)},
        order,
        batch_size=batch,
        num_generations=4,
        groups=np.arange(POOL) % 2,
        seed=0,
    )


def test_the_first_window_is_the_head_of_the_samplers_order():
    frontier = make(window_factor=2.0)
    selection, _ = frontier.select(step=0, seed=1)
    head = np.random.default_rng([7, 0]).permutation(POOL)[:8]
    assert sorted(selection.chosen.tolist() + selection.deferred.tolist()) == sorted(head.tolist())
    assert len(selection.chosen) == 4 and frontier.window.fresh_taken == 8


def test_the_window_reads_on_into_the_next_pass_and_no_prompt_starves():
    # Half the pool never succeeds: deferred again and again, yet each is taken once it reaches
    # max_deferrals (the order offers it every pass, and its deferral count persists).
    frontier = make(window_factor=2.0, max_deferrals=2, reoffer_after=3)
    chosen = []
    for step in range(30):
        selection, _ = frontier.select(step=step, seed=1)
        chosen += selection.chosen.tolist()
        groups = [GroupResult(f"p{r}", [0.0] * 4 if r % 2 == 0 else [1.0, 0.0, 1.0, 0.0]) for r in selection.chosen]
        frontier.observe(groups, step)
    assert frontier.window.fresh_taken > 2 * POOL  # read on past the first pass
    assert set(chosen) == set(range(POOL))  # nobody starved
    hopeless = sum(r % 2 == 0 for r in chosen)
    assert hopeless < 0.4 * len(chosen)  # but the batch went mostly where the signal is (0.5 in order)
    assert len(frontier.window.queue) <= POOL


def test_dropped_prompts_leave_the_window_and_skipped_ones_wait():
    frontier = make(window_factor=2.0)
    order = np.random.default_rng([7, 0]).permutation(POOL)
    dropped, skipped = order[:2], order[2:4]

    def safety_net(window):
        return SetAside(window[np.isin(window, dropped)], window[np.isin(window, skipped)])

    selection, aside = frontier.select(step=0, seed=1, set_aside=safety_net)
    assert not set(selection.chosen.tolist()) & set(order[:4].tolist())
    assert len(selection.chosen) == 4  # topped up from further ahead in the order
    assert set(skipped.tolist()) <= set(frontier.window.queue.tolist())  # waiting, not lost
    assert not set(dropped.tolist()) & set(frontier.window.queue.tolist())


def test_observe_learns_the_skill_level_and_reports_the_steps_calibration():
    frontier = make()
    groups = [GroupResult(f"p{r}", [0.0] * 4) for r in (0, 2, 4)] + [GroupResult("p1", [1.0, 0.0, 1.0, 0.0])]
    calibration = frontier.step_calibration(groups, step=0)  # scored before the groups teach it
    assert frontier.observe(groups, step=0) == []
    assert calibration["predictor/step_observed"] == pytest.approx(2 / 16)
    assert calibration["predictor/step_predicted"] == pytest.approx(0.5)  # nothing seen yet
    # Asked again after observe, the same groups are now foreseen by what they taught.
    after = frontier.step_calibration(groups, step=1)["predictor/step_predicted"]
    assert after == pytest.approx(2 / 16, abs=0.1) and after < 0.3
    even, odd = frontier.predictor.predicted_pass_rate([6, 7], step=1)  # first visits, by skill
    assert even < 0.2 < odd


def test_state_round_trip_is_arrays_only_and_resumes_the_same_choices():
    frontier = make(window_factor=3.0)
    for step in range(3):
        selection, _ = frontier.select(step=step, seed=2)
        frontier.observe([GroupResult(f"p{r}", [float(r % 3 == 0)] * 2 + [0.0] * 2) for r in selection.chosen], step)
    state = frontier.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    twin = make(window_factor=3.0)
    twin.load_state_dict(state)
    a, _ = frontier.select(step=3, seed=2)
    b, _ = twin.select(step=3, seed=2)
    assert a.chosen.tolist() == b.chosen.tolist() and a.deferred.tolist() == b.deferred.tolist()


def test_a_config_dict_types_the_predictor_section_and_names_unknown_keys():
    from curricula.config import CurriculaConfig

    config = CurriculaConfig(predictor={"enabled": True, "window_factor": 4})
    assert config.predictor.enabled and config.predictor.window_factor == 4
    with pytest.raises(ValueError, match=r"curricula.predictor.window_facto.*Did you mean 'window_factor'"):
        CurriculaConfig(predictor={"window_facto": 4})


def test_a_deferral_record_says_when_the_prompt_is_offered_again_and_it_is():
    frontier = make(window_factor=2.0, reoffer_after=3, reoffer_share=1.0)
    selection, _ = frontier.select(step=5, seed=1)
    record = next(d for d in selection.decisions if d.decision == "deferred")
    assert record.stats["reoffer_step"] == 8 and "offered again from step 8" in record.message
    row = frontier.row_of[record.prompt_id]
    offered = {}
    for step in (6, 7, 8):
        selection, _ = frontier.select(step=step, seed=1)
        offered[step] = row in selection.chosen.tolist() + selection.deferred.tolist()
    assert offered == {6: False, 7: False, 8: True}


def test_a_window_larger_than_the_pool_reads_one_pass_not_many():
    frontier = make(window_factor=1000.0)  # 4000 candidates asked of a pool of 40
    selection, _ = frontier.select(step=0, seed=1)
    assert frontier.window.fresh_taken == POOL and len(selection.chosen) + len(selection.deferred) == POOL
