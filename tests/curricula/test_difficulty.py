"""Difficulty metrics: each against a hand computation, plus the scorer registry and selection."""

import math
from dataclasses import asdict

import pytest
import torch

from curricula.base import GroupResult
from curricula.config import FrontierConfig
from curricula.difficulty import (
    EASIER,
    HARDER,
    ForgettingTracker,
    PassRateScorer,
    Scorer,
    el2n_per_row,
    forgetting_events,
    ifd_from_nll,
    list_scorers,
    make_scorer,
    select_by_score,
)
from curricula.frontier import FrontierFilter
from rlvr.toy.tasks import make_examples
from rlvr.toy.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def model(tiny_llama, tokenizer):
    return tiny_llama(tokenizer, special_ids=False).eval()


@pytest.fixture(scope="module")
def rows():
    return make_examples("copy", 3, seed=5) + make_examples("add1", 2, seed=5) + make_examples("mul3x3", 2, seed=5)


def answer_nll(model, tokenizer, prompt_ids, answer_ids):
    """Mean NLL of ``answer_ids`` after ``prompt_ids``, one example, no batching."""
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(input_ids=ids).logits[0, :-1], dim=-1)
    targets = ids[0, 1:]
    picked = log_probs[torch.arange(len(targets)), targets][len(prompt_ids) - 1 :]
    return -float(picked.mean()), log_probs, targets


def encoded(tokenizer, row):
    return (
        tokenizer(row["prompt"])["input_ids"],
        tokenizer(row["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id],
    )


# ---------------------------------------------------------------------------------------------
# Pure metrics


def test_el2n_matches_the_one_hot_distance():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [1.0, 3.0, 0.0]]])
    input_ids = torch.tensor([[0, 2, 1]])
    response_mask = torch.tensor([[False, True, True]])  # both predicted tokens are response
    p = torch.softmax(logits[0], dim=-1)
    by_hand = [(p[0] - torch.tensor([0.0, 0.0, 1.0])).norm(), (p[1] - torch.tensor([0.0, 1.0, 0.0])).norm()]
    assert el2n_per_row(logits, input_ids, response_mask).item() == pytest.approx(float(sum(by_hand) / 2), rel=1e-6)
    only_last = torch.tensor([[False, False, True]])
    assert el2n_per_row(logits, input_ids, only_last).item() == pytest.approx(float(by_hand[1]), rel=1e-6)


def test_forgetting_events_and_ifd():
    assert forgetting_events([True, False, True, False]) == 2.0
    assert forgetting_events([False, True, True]) == 0.0
    assert forgetting_events([False, False]) == math.inf
    assert math.isnan(forgetting_events([]))
    assert ifd_from_nll(1.5, 2.0) == pytest.approx(math.exp(-0.5))


# ---------------------------------------------------------------------------------------------
# Table- and history-based scorers


def test_pass_rate_from_the_frontier_table_and_from_rollouts():
    frontier = FrontierFilter(FrontierConfig(enabled=True), ["a", "b", "c"])
    frontier.observe([GroupResult("a", [1.0, 0.0, 1.0, 1.0]), GroupResult("b", [0.0, 0.0, float("nan"), 0.0])], 0, 0)
    frontier.observe([GroupResult("a", [0.0, 0.0, 0.0, 1.0])], 1, 0.1)
    rows = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    old_checkpoint_table = {pid: asdict(s) for pid, s in frontier.all_stats().items()}
    for table in (frontier.all_stats(), old_checkpoint_table):
        scores = PassRateScorer(table=table)(rows)
        assert scores[:2] == [4 / 8, 0.0] and math.isnan(scores[2])
    from_rollouts = PassRateScorer(rollouts={"a": [1.0, 0.5, None], "b": [0.2]}, success_threshold=0.5)(rows)
    assert from_rollouts[:2] == [1.0, 0.0] and math.isnan(from_rollouts[2])
    assert PassRateScorer.higher_means == EASIER
    with pytest.raises(ValueError, match="exactly one"):
        PassRateScorer()


def test_forgetting_tracker_counts_solved_to_unsolved_visits():
    tracker = ForgettingTracker(solved_threshold=0.5)
    visits = {
        "a": [[1, 1, 0, 0], [0, 0, 0, 1], [1, 1, 1, 0], [0, 0, 0, 0]],  # solved, not, solved, not
        "b": [[0, 0, 0, 0], [0, 0, 0, 0]],
    }  # never solved
    for step in range(4):
        groups = [GroupResult(pid, [float(r) for r in v[step]]) for pid, v in visits.items() if step < len(v)]
        tracker.observe(groups, step, 0.0)
    assert tracker.history == {"a": [True, False, True, False], "b": [False, False]}
    scorer = tracker.scorer()
    assert scorer([{"id": "a"}, {"id": "b"}, {"id": "z"}])[:2] == [2.0, math.inf]
    restored = ForgettingTracker()
    restored.load_state_dict(tracker.state_dict())
    assert restored.history == tracker.history


# ---------------------------------------------------------------------------------------------
# Model-based scorers


def test_loss_perplexity_and_el2n_match_single_example_computations(model, tokenizer, rows):
    loss = make_scorer("loss", model=model, tokenizer=tokenizer, batch_size=3)(rows)
    perplexity = make_scorer("perplexity", model=model, tokenizer=tokenizer)(rows)
    el2n = make_scorer("el2n", model=model, tokenizer=tokenizer, batch_size=2)(rows)
    for i, row in enumerate(rows):
        prompt_ids, answer_ids = encoded(tokenizer, row)
        nll, log_probs, targets = answer_nll(model, tokenizer, prompt_ids, answer_ids)
        assert loss[i] == pytest.approx(nll, rel=1e-5)
        assert perplexity[i] == pytest.approx(math.exp(nll), rel=1e-5)
        probs = log_probs.exp()[len(prompt_ids) - 1 :]
        onehot = torch.nn.functional.one_hot(targets[len(prompt_ids) - 1 :], probs.shape[-1]).float()
        assert el2n[i] == pytest.approx(float((probs - onehot).norm(dim=-1).mean()), rel=1e-5)


@pytest.mark.parametrize("hidden", [8, 64])  # narrow layers: explicit path; wide: factored path
def test_grand_is_the_exact_per_example_gradient_norm(tiny_llama, tokenizer, rows, hidden):
    model = tiny_llama(tokenizer, hidden=hidden, seed=1, special_ids=False).eval()
    scorer = make_scorer("grand", model=model, tokenizer=tokenizer, batch_size=4)
    norms = scorer(rows)
    weights = [m.weight for m in scorer.modules.values()]
    for i, row in enumerate(rows):
        prompt_ids, answer_ids = encoded(tokenizer, row)
        ids = torch.tensor([prompt_ids + answer_ids])
        log_probs = torch.log_softmax(model(input_ids=ids).logits[0, :-1], dim=-1)
        nll = -log_probs[torch.arange(ids.shape[1] - 1), ids[0, 1:]][len(prompt_ids) - 1 :].mean()
        grads = torch.autograd.grad(nll, weights)
        assert norms[i] == pytest.approx(float(torch.sqrt(sum(g.pow(2).sum() for g in grads))), rel=1e-4)
    assert scorer.higher_means == HARDER


def test_ifd_is_the_ratio_of_answer_perplexities(model, tokenizer, rows):
    ifd = make_scorer("ifd", model=model, tokenizer=tokenizer)(rows)
    for i, row in enumerate(rows):
        answer_ids = tokenizer(row["answer"], add_special_tokens=False)["input_ids"]
        given, _, _ = answer_nll(model, tokenizer, tokenizer(row["prompt"])["input_ids"], answer_ids)
        alone, _, _ = answer_nll(model, tokenizer, [tokenizer.bos_token_id], answer_ids)
        assert ifd[i] == pytest.approx(math.exp(given - alone), rel=1e-4)


def test_influence_is_a_scorer_like_the_others(model, tokenizer, rows):
    from curricula.influence import FeatureConfig

    targets = make_examples("add1", 3, "eval", seed=5)
    scorer = make_scorer("influence", model=model, tokenizer=tokenizer, targets=targets, config=FeatureConfig(dim=256))
    assert isinstance(scorer, Scorer) and scorer.name == "influence"
    scores = scorer(rows)
    assert len(scores) == len(rows) and all(-1.0 <= s <= 1.0 for s in scores)
    assert scorer(rows[::-1]) == pytest.approx(scores[::-1], abs=1e-6)  # per-row, order-free


# ---------------------------------------------------------------------------------------------
# Registry and selection


def test_registry_names_suggestions_and_module_paths(model, tokenizer):
    assert {"pass_rate", "loss", "perplexity", "el2n", "grand", "forgetting", "ifd", "influence"} <= set(list_scorers())
    with pytest.raises(KeyError, match="Did you mean 'el2n'"):
        make_scorer("el2m")
    scorer = make_scorer("curricula.difficulty:LossScorer", model=model, tokenizer=tokenizer)
    assert scorer.name == "loss" and isinstance(scorer, Scorer)


def test_select_by_score_keeps_dataset_order_and_ranks_nan_last():
    rows = [{"id": i} for i in range(5)]
    scores = [0.3, float("nan"), 0.9, 0.1, 0.5]
    assert [r["id"] for r in select_by_score(rows, scores, count=2)] == [2, 4]
    assert [r["id"] for r in select_by_score(rows, scores, count=2, highest=False)] == [0, 3]
    assert [r["id"] for r in select_by_score(rows, scores, fraction=1.0)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        select_by_score(rows, scores[:3], count=1)
