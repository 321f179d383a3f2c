import io

import numpy as np
import pytest

from curricula.base import DECISIONS, DEFERRED, KEPT
from curricula.config import PredictorConfig
from curricula.predictor import PassRatePredictor, metadata_groups, p_signal
from curricula.selection import CandidateWindow, rank_candidates, select_batch

G = 8


def skill_pool(thompson=True, **kw):
    """Rows 0-19 skill 'hard', 20-39 'mid'; rows 0-5 seen all-wrong, rows 20-25 seen at 4/8."""
    skills = ["hard"] * 20 + ["mid"] * 20
    groups, _ = metadata_groups({"skill": skills}, ["skill"])
    p = PassRatePredictor(PredictorConfig(enabled=True, thompson=thompson, **kw), num_prompts=40, groups=groups)
    p.observe(list(range(6)) + list(range(20, 26)), [0] * 6 + [4] * 6, [G] * 12, step=0)
    return p, skills


@pytest.mark.parametrize("thompson", [False, True])
def test_first_visit_of_an_all_wrong_skill_is_deferred_with_its_prediction(thompson):
    p, skills = skill_pool(thompson=thompson)
    ids = [f"p{i}" for i in range(40)]
    sel = select_batch(
        p,
        [6, 26, 7, 27],
        batch_size=2,
        num_generations=G,
        step=1,
        seed=0,
        ids=ids,
        columns=lambda row: {"skill": skills[row]},
    )
    assert sel.chosen.tolist() in ([26, 27], [27, 26]) and sel.deferred.tolist() == [6, 7]
    first = sel.decisions[0]
    assert (first.filter, first.prompt_id, first.decision, first.reason) == ("predictor", "p6", DEFERRED, "low_signal")
    assert first.columns == {"skill": "hard"} and DEFERRED in DECISIONS
    alpha, beta = p.posterior([6], step=1)
    assert first.stats["alpha"] == round(float(alpha[0]), 4) and first.stats["beta"] == round(float(beta[0]), 4)
    predicted = float(alpha[0] / (alpha[0] + beta[0]))
    assert first.stats["predicted_pass_rate"] == round(predicted, 4) < 0.05  # hand: 0.0385 at step 0 (next test)
    assert first.stats["p_signal"] == round(float(p_signal(alpha, beta, G)[0]), 4)
    assert first.message.startswith(f"deferred: predicted pass rate {predicted:.2f} (Beta(")
    assert "deferral 1 of 20" in first.message and first.stats["visits"] == 0
    assert p.deferrals[[6, 7, 26, 27]].tolist() == [1, 1, 0, 0]


def test_hand_prediction_of_the_all_wrong_skill():
    p, _ = skill_pool()
    # Pool: 6 groups at 0 and 6 at 0.5 -> mean (3 + 0.5) / 13; hard: 6 groups at 0 -> (0 + pool mean) / 7.
    pool_mean = 3.5 / 13
    assert p.predicted_pass_rate([6], step=0)[0] == pytest.approx(pool_mean / 7)  # 0.0385


def test_deferred_prompts_come_back_within_max_deferrals():
    p, _ = skill_pool(thompson=False, max_deferrals=2)
    window = CandidateWindow(size=3, reoffer_after=2)
    fresh_order = [6] + list(range(26, 40))  # the hard prompt first, then mid prompts
    cursor = [0]

    def fresh(n):
        out = fresh_order[cursor[0] : cursor[0] + n]
        cursor[0] += len(out)
        return np.array(out)

    history = []
    for step in range(1, 7):
        rows = window.build(step, fresh)
        sel = select_batch(p, rows, batch_size=1, num_generations=G, step=step, seed=3)
        window.defer(sel.deferred, step)
        history += [(step, d.prompt_id, d.decision, d.reason) for d in sel.decisions if d.prompt_id == "6"]
        if 6 in sel.chosen:
            break
    # Offered at step 1 (fresh), deferred; due again at step 3, deferred; due at 5: taken at the cap.
    assert history == [
        (1, "6", DEFERRED, "low_signal"),
        (3, "6", DEFERRED, "low_signal"),
        (5, "6", KEPT, "deferral_cap"),
    ]
    assert p.deferrals[6] == 0


def test_forced_prompts_come_first_most_deferred_first():
    a, b = np.array([1.0, 1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0, 1.0])
    order, score, _ = rank_candidates(
        a, b, [0, 3, 0, 5], G, np.random.default_rng(0), max_deferrals=3, deferral_bonus=0.1, thompson=False
    )
    assert order.tolist() == [3, 1, 0, 2]  # cap 5 then 3, then equal scores in window order
    np.testing.assert_allclose(score, 7 / 9 + 0.1 * np.array([0, 3, 0, 5]))


def test_same_seed_and_step_choose_the_same_on_every_rank():
    def rank(seed):
        p, _ = skill_pool()  # each rank holds its own copy, fed the same gathered groups
        window = list(range(6, 20)) + list(range(26, 40))
        return [select_batch(p, window, 8, G, step, seed) for step in range(1, 4)]

    a, b = rank(seed=11), rank(seed=11)
    for x, y in zip(a, b):
        assert x.chosen.tobytes() == y.chosen.tobytes() and x.deferred.tobytes() == y.deferred.tobytes()
        assert [d.stats for d in x.decisions] == [d.stats for d in y.decisions]
    other = rank(seed=12)
    assert any(x.chosen.tolist() != y.chosen.tolist() for x, y in zip(a, other))


def test_resumed_selection_repeats_the_uninterrupted_run():
    def run(steps, start=None):
        p, _ = skill_pool()
        window = CandidateWindow(size=12, reoffer_after=2, reoffer_slots=2)
        order = np.random.default_rng(5).permutation(40)
        if start is not None:
            p.load_state_dict(start[0])
            window.load_state_dict(start[1])
        taken = []

        def fresh(n):
            return order[window.fresh_taken % 40 :][:n]

        for step in steps:
            sel = select_batch(p, window.build(step, fresh), 4, G, step, seed=1)
            window.defer(sel.deferred, step)
            p.observe(sel.chosen, np.full(4, step % 9), np.full(4, G), step)
            taken.append(sel.chosen.tolist())
        return taken, p, window

    full, _, _ = run(range(1, 9))
    first, p, window = run(range(1, 5))
    buf = io.BytesIO()
    np.savez(buf, **p.state_dict(), **window.state_dict())
    buf.seek(0)
    saved = dict(np.load(buf))
    rest, _, _ = run(range(5, 9), start=(saved, saved))
    assert first + rest == full


def test_window_offers_due_prompts_first_then_fresh_then_early_reoffers_when_dry():
    w = CandidateWindow(size=4, reoffer_after=3, reoffer_slots=2)
    order = iter(range(100, 106))

    def fresh(n):
        return np.array([x for _, x in zip(range(n), order)], dtype=np.int64)

    assert w.build(0, fresh).tolist() == [100, 101, 102, 103]
    w.defer([101, 102, 103], step=0)
    assert w.build(1, fresh).tolist() == [104, 105, 101, 102]  # order dry at 2 rows: early re-offers
    w.defer([101, 102], step=1)
    assert w.build(2, fresh).tolist() == [103, 101, 102]  # nothing fresh left; 103 was due at 3
    w.defer([5, 6, 7], step=10)
    assert w.build(13, fresh).tolist() == [5, 6, 7]
    assert w.fresh_taken == 6


def test_predictor_selection_beats_trl_order_on_first_visits():
    """4 skills with pass rates 0, 0.05, 0.5, 0.95; every prompt rolled out at most once (one pass,
    pool >= steps x batch). Share of groups with a signal (not all-equal):"""
    rates = np.array([0.0, 0.05, 0.5, 0.95])
    per_skill, batch, steps = 500, 8, 50
    skills = np.repeat(np.arange(4), per_skill)

    def run(select: bool):
        order = np.random.default_rng(0).permutation(len(skills))  # TRL's shuffled order
        world = np.random.default_rng(1)
        config = PredictorConfig(enabled=True)
        p = PassRatePredictor(config, len(skills), groups=skills)
        window = CandidateWindow.from_config(config, batch)
        cursor = [0]

        def fresh(n):
            cursor[0] += n
            return order[cursor[0] - n : cursor[0]]

        signal, seen = 0, np.zeros(len(skills), dtype=int)
        for step in range(steps):
            if select:
                sel = select_batch(p, window.build(step, fresh), batch, G, step, seed=0)
                window.defer(sel.deferred, step)
                rows = sel.chosen
            else:
                rows = fresh(batch)
            successes = world.binomial(G, rates[skills[rows]])
            signal += int(np.sum((successes > 0) & (successes < G)))
            seen[rows] += 1
            p.observe(rows, successes, np.full(len(rows), G), step)
        assert seen.max() == 1 and seen.sum() == steps * batch
        return signal / (steps * batch), p.metrics()

    trl, _ = run(select=False)
    predicted, metrics = run(select=True)
    assert trl == pytest.approx(0.42, abs=0.05)  # expectation: (0 + 0.34 + 0.99 + 0.34) / 4 = 0.42
    assert predicted >= trl + 0.2, (trl, predicted)
    assert metrics["predictor/brier"] < metrics["predictor/brier_reference"] - 0.05


def test_deferral_messages_for_ties_and_a_batch_full_of_capped_prompts():
    # A fresh pool: every candidate has the same score, so those left out tie with the cut
    # (the audit read "score 0.78 below the batch's cut 0.78").
    p = PassRatePredictor(PredictorConfig(enabled=True), num_prompts=6)
    sel = select_batch(p, [0, 1, 2], batch_size=1, num_generations=G, step=0, seed=0)
    assert all("tied with the batch's cut 0.78" in d.message for d in sel.decisions)
    # max_deferrals=0: every candidate is at its cap, so there is no cut (it read "below the
    # batch's cut nan; deferral 1 of 0 before it is taken regardless").
    p = PassRatePredictor(PredictorConfig(enabled=True, max_deferrals=0), num_prompts=6)
    sel = select_batch(p, [0, 1, 2], batch_size=1, num_generations=G, step=0, seed=0)
    message = sel.decisions[0].message
    assert "nan" not in message and "1 of 0" not in message
    assert "the batch was filled by prompts at their deferral cap" in message and "at its cap of 0" in message
