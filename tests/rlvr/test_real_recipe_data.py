"""The real-model recipes' data and verifier path on CPU, without loading their 1.5B model.

Each configs/math_1p5b_*.yaml is loaded as written, with ``data.train``/``data.eval`` pointed
at tests/fixtures/gsm8k_mini.jsonl (GSM8K's own format: ``question``, and ``answer`` = worked
solution ending in ``#### N``). Its data section must turn the rows into the prompts the trainer
sees, and its verifiers must score a right final answer as solved and a wrong one as not,
through the same weighted sum TRL trains on and the frontier filter thresholds.
"""

import json
from pathlib import Path

import pytest

from curricula.rollouts import weighted_rewards
from rewards import make_reward_funcs
from rlvr.config import load_config
from rlvr.data import load_prompts

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "gsm8k_mini.jsonl"
RECIPES = sorted((ROOT / "configs").glob("math_1p5b_*.yaml"))
FIXTURE_ROWS = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


def final_answer(solution: str) -> str:
    return solution.split("####")[-1].strip().replace(",", "")


def load_recipe(path: Path):
    # model.model_name_or_path is never loaded here; point it at nothing to make that plain.
    return load_config(
        path, [f"data.train={FIXTURE}", f"data.eval={FIXTURE}", "model.model_name_or_path=not-loaded-in-this-test"]
    )


def score(config, rows: list[dict], completions: list[str]) -> list[float]:
    """Weighted rewards as TRL computes them, with chat-format completions as TRL passes them."""
    funcs, weights = make_reward_funcs(config.verifiers)
    chat = [[{"role": "assistant", "content": text}] for text in completions]
    columns = {key: [row[key] for row in rows] for key in ("answer", "id")}
    return weighted_rewards(funcs, weights, [row["prompt"] for row in rows], chat, [[0]] * len(rows), columns)


def test_the_recipes_exist():
    assert {p.name for p in RECIPES} >= {"math_1p5b_lora.yaml", "math_1p5b_full.yaml", "math_1p5b_lora_vllm.yaml"}
    assert len(FIXTURE_ROWS) == 8 and all(set(r) == {"question", "answer"} for r in FIXTURE_ROWS)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_data_section_maps_gsm8k_rows_to_chat_prompts(recipe):
    config = load_recipe(recipe)
    assert config.data.columns == {"prompt": "question"}
    for split in ("train", "eval"):
        loaded = load_prompts(getattr(config.data, split), config.data, split=split)
        rows = loaded.dataset.to_list()
        assert loaded.bad_rows == [] and len(rows) == len(FIXTURE_ROWS)
        assert len({row["id"] for row in rows}) == len(rows)  # stable ids for the frontier filter
        for row, source in zip(rows, FIXTURE_ROWS):
            system, user = row["prompt"]
            assert system == {"role": "system", "content": config.data.system_prompt}
            assert "\\boxed{}" in system["content"]
            assert user == {"role": "user", "content": source["question"]}
            assert row["answer"] == source["answer"]  # the full solution; the verifier reads "#### N"


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_verifiers_score_right_and_wrong_final_answers(recipe):
    config = load_recipe(recipe)
    assert [spec.name for spec in config.verifiers][0] == "math"
    threshold = config.curricula.frontier.success_threshold
    rows = load_prompts(config.data.train, config.data).dataset.to_list()
    golds = [final_answer(row["answer"]) for row in rows]

    right = score(config, rows, [f"Let me work it out step by step.\nThe answer is \\boxed{{{g}}}." for g in golds])
    wrong = score(
        config, rows, [f"Let me work it out step by step.\nThe answer is \\boxed{{{float(g) + 1:g}}}." for g in golds]
    )
    unanswered = score(config, rows, ["I am not sure how to solve this."] * len(rows))
    assert all(r >= threshold for r in right), right
    assert all(r < threshold for r in wrong), wrong
    assert all(r < threshold for r in unanswered), unanswered


def test_gsm8k_answers_with_thousands_separators_and_unboxed_answers():
    config = load_recipe(RECIPES[0])
    rows = load_prompts(config.data.train, config.data).dataset.to_list()
    row = next(r for r in rows if r["answer"].endswith("#### 1,200"))
    assert score(config, [row] * 3, ["\\boxed{1200}", "\\boxed{1,200}", "So the school orders 1200 pencils."]) == [
        1.0,
        1.0,
        1.0,
    ]


def test_documented_preprocessing_to_final_answers_scores_the_same(tmp_path):
    """The recipes' header shows a one-off conversion of GSM8K to final answers; it must agree."""
    converted = tmp_path / "gsm8k_final.jsonl"
    converted.write_text("".join(json.dumps({**r, "answer": final_answer(r["answer"])}) + "\n" for r in FIXTURE_ROWS))
    config = load_config(RECIPES[0], [f"data.train={converted}", "data.eval=null"])
    rows = load_prompts(config.data.train, config.data).dataset.to_list()
    assert [row["answer"] for row in rows] == ["42", "22", "30", "190", "41", "54", "1200", "25"]
    assert score(config, rows, [f"\\boxed{{{row['answer']}}}" for row in rows]) == [1.0] * len(rows)
    assert score(config, rows, [f"\\boxed{{{int(row['answer']) + 1}}}" for row in rows]) == [0.0] * len(rows)


def test_gold_answer_is_read_after_the_hash_marks_even_when_reasoning_says_answer_is():
    config = load_recipe(RECIPES[0])
    row = {
        "prompt": "q",
        "id": "r0",
        "answer": "Half of 30 is 30/2 = <<30/2=15>>15, so the answer is 15 cookies minus 3 = <<15-3=12>>12.\n#### 12",
    }
    assert score(config, [row, row], ["\\boxed{12}", "\\boxed{15}"]) == [1.0, 0.0]
