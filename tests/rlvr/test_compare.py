"""Influence vs difficulty (SFT slice): selectors, a tiny comparison, its report, determinism."""

import json
import statistics
from pathlib import Path

import pytest
import torch

from curricula.selectors import SELECTORS, budget_count, get_selector, scores_needed
from rlvr.compare import RESULT_COLUMNS, RESULTS_FILE, load_config, read_results, run_compare, write_report

torch.set_num_threads(1)
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "showdown_toy.yaml"

ROWS = [{"id": str(i), "prompt": f"{i}+{i}=", "answer": str(2 * i), "skill": "add2" if i % 2 else "copy"}
        for i in range(10)]


def test_difficulty_selector_keeps_the_highest_scores():
    loss = [0.1, 5.0, 0.3, 4.0, float("nan"), 2.0, 0.0, 3.0, 1.0, 0.2]
    chosen = get_selector("loss")(ROWS, {"loss": loss}, fraction=0.3)
    assert chosen == [1, 3, 7]  # 5.0, 4.0, 3.0, in pool order; NaN never outranks a number
    assert get_selector("el2n")(ROWS, {"el2n": loss}, fraction=1.0)[-1] == 9
    with pytest.raises(KeyError, match="needs scores"):
        get_selector("grand")(ROWS, {"loss": loss}, fraction=0.5)


def test_frontier_influence_drops_off_frontier_rows_then_ranks_by_influence():
    influence = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    prob = [0.01, 0.5, 0.99, 0.3, 0.2, 0.04, 0.6, 0.5, 0.5, 0.5]
    scores = {"influence": influence, "answer_prob": prob}
    assert get_selector("influence")(ROWS, scores, fraction=0.3) == [0, 1, 2]
    assert get_selector("frontier_influence")(ROWS, scores, fraction=0.3, band=(0.05, 0.95)) == [1, 3, 4]
    # pass_band: most uncertain (p closest to 0.5) first, within the band
    assert get_selector("pass_band")(ROWS, scores, fraction=0.2) == [1, 7]


def test_random_and_full_selectors():
    a = get_selector("random")(ROWS, None, fraction=0.5, seed=3)
    assert a == get_selector("random")(ROWS, None, fraction=0.5, seed=3) and len(a) == 5 == budget_count(10, 0.5)
    assert a != get_selector("random")(ROWS, None, fraction=0.5, seed=4)
    assert get_selector("full")(ROWS, None, fraction=0.05) == list(range(10))
    assert scores_needed(["random", "frontier_influence", "influence", "loss"]) == ["answer_prob", "influence", "loss"]
    assert {"random", "full", "loss", "perplexity", "el2n", "grand", "influence", "frontier_influence"} <= set(SELECTORS)


def test_selectors_on_real_scores_of_the_warm_toy_world(toy_world_path):
    """Loss ranks the unlearned mul3x3 rows above the solved copy rows; influence toward add2 is
    larger in size for add2 rows than copy rows (on the warm world its sign is not reliable, see
    test_influence), and the influence selector keeps more add2 rows than its share of the pool."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlvr.compare import compute_scores
    from rlvr.toy import make_examples

    model = AutoModelForCausalLM.from_pretrained(toy_world_path)
    tokenizer = AutoTokenizer.from_pretrained(toy_world_path)
    pool = (make_examples("add2", 12, "train", 0) + make_examples("copy", 12, "train", 0)
            + make_examples("mul3x3", 12, "train", 0))
    targets = make_examples("add2", 8, "eval", 5)
    config = load_config(None, influence_dim=256)
    scores = compute_scores(model, tokenizer, pool, targets, ["influence", "loss", "answer_prob"], config)
    by_skill = {s: [i for i, r in enumerate(pool) if r["skill"] == s] for s in ("add2", "copy", "mul3x3")}

    hardest = get_selector("loss")(pool, scores, fraction=1 / 3)
    assert all(pool[i]["skill"] == "mul3x3" for i in hardest)
    assert min(scores["loss"][i] for i in hardest) >= max(scores["loss"][i] for i in by_skill["copy"])

    size = {s: statistics.fmean(abs(scores["influence"][i]) for i in idx) for s, idx in by_skill.items()}
    assert size["add2"] > 1.5 * max(size["copy"], size["mul3x3"]), size
    kept = get_selector("influence")(pool, scores, fraction=1 / 3)
    assert sum(pool[i]["skill"] == "add2" for i in kept) > len(kept) / 3

    # the frontier drops the rows the student cannot (mul3x3) or always does (copy) answer
    frontier = get_selector("frontier_influence")(pool, scores, fraction=1.0)
    assert not any(pool[i]["skill"] == "mul3x3" for i in frontier)


TINY = dict(selectors=["random", "frontier_influence", "loss"], budgets=[0.25, 0.5], seeds=[0, 1],
            pool_n_per_skill=6, eval_n_per_skill=6, n_targets=6, steps=3, batch_size=8, influence_dim=256)


def test_tiny_compare_results_report_and_determinism(tmp_path, toy_world_path):
    config = load_config(None, **TINY)
    first = run_compare(config, tmp_path / "a")
    rows = read_results(first)
    assert all(set(RESULT_COLUMNS) <= set(r) for r in rows)
    trained = [r for r in rows if r["selector"] != "warm_start"]
    arms = {(r["selector"], r["budget"], r["seed"]) for r in trained}
    assert arms == {(s, b, seed) for s in TINY["selectors"] for b in TINY["budgets"] for seed in TINY["seeds"]}
    metrics = {r["metric"] for r in trained}
    assert {"target_acc", "retention_acc", "target_share", "acc/add2", "acc/copy", "acc/mul3x3"} <= metrics
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)
    assert {r["n_selected"] for r in trained if r["selector"] == "random"} == {9, 18}  # 36 rows x 0.25 / 0.5
    assert {r["target_skill"] for r in rows} == {"add2"}

    # The report regenerates from the results file alone, in another folder.
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / RESULTS_FILE).write_text(first.read_text())
    report = write_report(tmp_path / "only" / RESULTS_FILE, tmp_path / "report")
    text = report.read_text()
    assert "| frontier_influence | 0.25 |" in text and "±" in text and "best on the target" in text
    assert (tmp_path / "report" / "report.png").stat().st_size > 1000
    assert write_report(first, tmp_path / "report2").read_text() == text

    # Same seeds, same numbers.
    second = run_compare(load_config(None, **TINY), tmp_path / "b")
    assert [json.loads(x) for x in first.read_text().splitlines()] == \
        [json.loads(x) for x in second.read_text().splitlines()]


def test_cli_quick_config_loads_and_report_command(tmp_path):
    from rlvr.cli import main

    quick = load_config(CONFIG, quick=True)
    full = load_config(CONFIG)
    assert len(quick.seeds) >= 2 and len(full.seeds) >= 3 and len(quick.budgets) == 2
    assert full.target_skill == "add2" and "full" in full.selectors
    with pytest.raises(ValueError, match="unknown compare settings"):
        load_config(None, nope=1)
    rows = [{"selector": s, "budget": 0.5, "seed": seed, "metric": m, "value": v + 0.1 * seed, "n_selected": 4,
             "target_skill": "add2", "steps": 3, "batch_size": 8}
            for seed in (0, 1) for s, v in (("random", 0.2), ("influence", 0.6))
            for m in ("target_acc", "retention_acc", "acc/add2")]
    path = tmp_path / RESULTS_FILE
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    assert "**influence** best on the target (add2) (0.650 ± 0.071, 2 seeds), ahead of random by +0.400" in text
