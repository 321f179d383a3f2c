"""The benchmarks' pure measurements (`rlvr.benchmarks`), on hand-computed curves (and one tiny model for
the answer-likelihood arm's probabilities)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from rlvr.benchmarks.frontier_report import print_report
from rlvr.benchmarks.measures import (
    mean,
    running_mean,
    token_ratio,
    tokens_to_reach,
    trained_points,
    trl_marks,
    versus_trl,
)

CURVE = [(0, 0.2), (100, 0.5), (200, 0.6)]


def test_tokens_to_reach_is_the_first_point_at_or_above_the_target():
    assert tokens_to_reach(CURVE, 0.5) == 100
    assert tokens_to_reach(CURVE, 0.55) == 200
    assert tokens_to_reach(CURVE, 0.1) == 0
    assert tokens_to_reach(CURVE, 0.5 + 1e-10) == 100  # float noise below 1e-9 still counts as reached
    assert tokens_to_reach(CURVE, 0.7) is None


def test_running_mean_averages_this_and_the_two_points_before():
    smooth = running_mean(CURVE + [(300, 0.9)])
    assert [tokens for tokens, _ in smooth] == [0, 100, 200, 300]
    assert [acc for _, acc in smooth] == pytest.approx([0.2, 0.35, 1.3 / 3, 2.0 / 3])
    assert [acc for _, acc in running_mean(CURVE, width=1)] == [0.2, 0.5, 0.6]


def test_ratio_and_mean_skip_what_was_never_reached():
    assert trained_points(CURVE) == [(100, 0.5), (200, 0.6)]
    assert token_ratio(50, 200) == 0.25
    assert token_ratio(None, 200) is None
    assert token_ratio(50, None) is None
    assert token_ratio(50, 0) is None
    assert mean([0.5, None, 1.0]) == 0.75
    assert math.isnan(mean([None, None]))
    assert math.isnan(mean([]))


def test_an_arm_is_measured_against_trls_best_and_final_running_mean():
    trl = [(0, 0.2), (100, 0.5), (200, 0.6), (300, 0.4)]
    # Best after training starts: 0.6 at 200 tokens; running means 0.5, 0.55, 0.5: final 0.5 at 100.
    marks = trl_marks(trl)
    assert marks == {"best": 0.6, "tokens": 200, "smooth_best": pytest.approx(0.5), "smooth_tokens": 100}
    # 0.6 at 50 tokens (a quarter of TRL's 200); running mean 0.6 >= 0.5 at 50 (half TRL's 100).
    assert versus_trl([(0, 0.2), (50, 0.6), (100, 0.7)], marks) == {
        "reached": 50,
        "ratio": 0.25,
        "smooth_ratio": 0.5,
    }
    assert versus_trl([(0, 0.9), (80, 0.3), (160, 0.4)], marks) == {
        "reached": None,  # the 0-token point does not count: it is the model before training
        "ratio": None,
        "smooth_ratio": None,
    }


def test_the_report_prints_each_arm_beside_trl(capsys):
    def run(arm, curve, tokens, no_signal, seconds, bookkeeping):
        skills = {"copy": 0.5, "add1": 1.0}
        return dict(
            arm=arm,
            seed=0,
            before=skills,
            after={"copy": 1.0, "add1": 1.0},
            no_signal=no_signal,
            tokens=tokens,
            curve=curve,
            seconds=seconds,
            bookkeeping_seconds=bookkeeping,
        )

    results = [
        run("trl", [(0, 0.2), (100, 0.5), (200, 0.6), (300, 0.4)], 300, 0.5, 10.0, 0.0),
        run("rlvr-predict", [(0, 0.2), (50, 0.6), (100, 0.7)], 150, 0.25, 8.0, 0.08),
    ]
    args = SimpleNamespace(
        arms=["trl", "rlvr-predict"], seeds=[0], easy=["copy", "add1"], one_pass=False, world="toy", steps=3
    )
    print_report(results, args, 96)
    out = capsys.readouterr().out
    assert "toy world, repeating protocol (96 prompts), 3 steps, seeds [0]" in out
    assert "   0  rlvr-predict          25.0%              50      0.25x       0.50x            1.00%      0.50x" in out
    assert "rlvr-predict/TRL = 0.25x (reached in 1/1 seeds; per seed [0.25])" in out
    assert "(d) easy-skill accuracy change (copy, add1): rlvr-predict +0.250 vs TRL +0.250" in out


def test_zero_variance_share_with_and_without_selection():
    from rlvr.benchmarks.ceiling import zero_variance_share

    # Pass rates 0, 1 (always zero-variance) and two at 0.5 (zero-variance 1/2 of the time at G=2).
    rates = np.array([0.0, 1.0, 0.5, 0.5])
    rng = np.random.default_rng(0)
    # Knowing the pass rates, a window of all 4 keeps the two 0.5s: share 0.5 in every trial.
    assert zero_variance_share(rates, rates, window=4, batch=2, group=2, trials=10, rng=rng) == 0.5
    # No selection: a random pair of the 4. Shares: both 0.5s 0.5 (1 pair of 6), one 0.5 0.75 (4),
    # the 0 and the 1 1.0 (1 pair): expected (0.5 + 4 x 0.75 + 1) / 6 = 0.75.
    none = zero_variance_share(rates, None, window=4, batch=2, group=2, trials=400, rng=rng)
    assert none == pytest.approx(0.75, abs=0.03)


def test_ridge_predictions_are_clipped_to_a_pass_rate():
    from rlvr.benchmarks.ceiling import ridge_cross_validated

    features = np.arange(20, dtype=float)[:, None]
    assert ridge_cross_validated(features, np.full(20, 2.0), ridge=0.0, folds=5, seed=0).tolist() == [1.0] * 20
    line = ridge_cross_validated(features, features[:, 0] / 40, ridge=1e-9, folds=5, seed=0)
    assert line == pytest.approx(features[:, 0] / 40, abs=1e-6)  # an exact line is learnt out of fold


def test_scale_step_summary_skips_the_warm_up_steps():
    from rlvr.benchmarks.scale import step_summary

    summary = step_summary([1.0] * 5 + [0.001, 0.002, 0.003])
    assert summary == {"median_ms": pytest.approx(2.0), "p95_ms": pytest.approx(2.9)}
    assert step_summary([0.5, 0.004]) == {"median_ms": pytest.approx(4.0), "p95_ms": pytest.approx(4.0)}


def test_a_variant_sets_the_predictor_and_the_frontier_filters_own_fields():
    from rlvr.benchmarks.frontier import curricula_for, parse_args

    args = parse_args(["--arms", "trl", "rlvr-predict", "--variant", "os:oversample=true,window_factor=4"])
    variant = curricula_for("predict-os", args)
    assert variant.frontier.oversample and variant.predictor.enabled and variant.predictor.window_factor == 4
    plain = curricula_for("rlvr-predict", args)
    assert not plain.frontier.oversample and plain.predictor.window_factor == 3
    with pytest.raises(SystemExit):
        parse_args(["--arms", "trl", "--variant", "bad:oversampl=true"])


def test_the_oracle_arm_gives_sharp_posteriors_around_the_measured_rate_once_per_step(monkeypatch):
    from datasets import Dataset

    import rlvr.toy.evaluate
    from rlvr.benchmarks.frontier import install_oracle

    calls = []

    def measured(model, tokenizer, examples, samples, seed):
        calls.append(([e["id"] for e in examples], seed))
        return [0.25 if e["id"] == "a" else 1.0 for e in examples]

    monkeypatch.setattr(rlvr.toy.evaluate, "per_prompt_pass_rates", measured)
    predictor = SimpleNamespace()
    trainer = SimpleNamespace(
        predictive=SimpleNamespace(predictor=predictor),
        train_dataset=Dataset.from_list([{"id": "a", "prompt": "1+1="}, {"id": "b", "prompt": "2+2="}]),
        model=None,
    )
    install_oracle(trainer, tokenizer=None, samples=16, strength=64.0)
    alpha, beta = predictor.posterior([0, 1, 0], 7)
    assert alpha.tolist() == [16.5, 64.5, 16.5] and beta.tolist() == [48.5, 0.5, 48.5]
    predictor.posterior([1], 7)  # memoised within the step
    predictor.posterior([1], 8)  # measured again on the next step's policy
    assert calls == [(["a", "b"], 7), (["b"], 8)]


def test_the_frontier_filter_state_is_measured_per_prompt():
    from curricula.config import FrontierConfig
    from curricula.frontier import FrontierFilter
    from rlvr.benchmarks.scale import checkpoint_bytes, frontier_filter_state

    r = frontier_filter_state(20_000)
    frontier = FrontierFilter(FrontierConfig(enabled=True), [str(i) for i in range(20_000)])
    assert r["checkpoint_bytes"] == checkpoint_bytes(frontier) / 20_000
    assert r["memory_bytes"] == frontier.nbytes_per_prompt()
    # Issue 13's 32 B/prompt, plus the .npz's ~4 KB of headers spread over the pool.
    assert r["memory_bytes"] <= 32.1 and r["checkpoint_bytes"] <= 32.5


def test_answer_likelihoods_are_the_chained_probabilities_of_answer_and_eos(tiny_llama):
    """Batched and right-padded, each row equals the product of the model's next-token
    probabilities along that example's own prompt + answer + EOS, computed alone."""
    import torch

    from curricula.influence.batching import prompt_token_ids
    from rlvr.benchmarks.frontier import answer_likelihoods
    from rlvr.toy.tokenizer import build_tokenizer

    tokenizer = build_tokenizer()
    model = tiny_llama(tokenizer, seed=3)
    examples = [
        {"prompt": "12+7=", "answer": "19"},
        {"prompt": "3=", "answer": "3"},
        {"prompt": "99+1=", "answer": "100"},
    ]
    got = answer_likelihoods(model, tokenizer, examples)
    assert model.training  # mode restored
    for example, p in zip(examples, got):
        prompt = prompt_token_ids(tokenizer, example["prompt"])
        answer = tokenizer(example["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = torch.tensor([prompt + answer])
        with torch.no_grad():
            probs = torch.softmax(model.eval()(ids).logits[0].double(), dim=-1)
        model.train()
        chained = math.prod(float(probs[len(prompt) - 1 + i, token]) for i, token in enumerate(answer))
        assert p == pytest.approx(chained, rel=1e-4)
        assert 0.0 < p < 1.0


def test_the_answer_arm_puts_the_likelihood_prior_under_the_prompts_own_evidence(monkeypatch):
    from datasets import Dataset

    import rlvr.benchmarks.frontier as frontier
    from curricula.config import PredictorConfig
    from curricula.predictor import PassRatePredictor

    calls = []

    def likelihoods(model, tokenizer, examples):
        calls.append([e["id"] for e in examples])
        return [0.25 if e["id"] == "a" else 0.9 for e in examples]

    monkeypatch.setattr(frontier, "answer_likelihoods", likelihoods)
    predictor = PassRatePredictor(PredictorConfig(enabled=True, group_columns=[]), num_prompts=2)
    trainer = SimpleNamespace(
        predictive=SimpleNamespace(predictor=predictor),
        train_dataset=Dataset.from_list(
            [{"id": "a", "prompt": "1+1=", "answer": "2"}, {"id": "b", "prompt": "2+2=", "answer": "4"}]
        ),
        model=None,
    )
    frontier.install_answer_likelihood(trainer, tokenizer=None, strength=8.0)
    alpha, beta = predictor.posterior([0, 1], 1)
    assert alpha.tolist() == pytest.approx([2.5, 7.7]) and beta.tolist() == pytest.approx([6.5, 1.3])
    predictor.observe([0], [3], [4], step=1)  # same step: no new forward pass
    alpha, beta = predictor.posterior([0], 2)  # the next step's policy, plus 3 of 4 own successes
    assert alpha.tolist() == pytest.approx([5.5]) and beta.tolist() == pytest.approx([7.5])
    assert calls == [["a", "b"], ["a"]]
