"""The ``reasoning_gym`` verifier scores with each task's own ``score_answer``."""

import json

import pytest

from rewards import get_verifier
from rewards.base import UserInputError

reasoning_gym = pytest.importorskip("reasoning_gym")  # the optional extra: pip install 'rlvr[reasoning-gym]'

TASKS = ["chain_sum", "basic_arithmetic", "word_sorting", "letter_counting", "family_relationships", "gcd"]


def rows(task: str, n: int = 8) -> list[dict]:
    data = reasoning_gym.create_dataset(task, size=n, seed=3)
    return [
        {"answer": str(data[i]["answer"]), "reasoning_gym_entry": json.dumps(data[i], default=str)} for i in range(n)
    ]


@pytest.mark.parametrize("task", TASKS)
def test_gold_answers_score_one_and_corrupted_ones_less(task):
    score = get_verifier("reasoning_gym")
    examples = rows(task)
    gold = [score(f"Thinking...\n<answer>{ex['answer']}</answer>", ex) for ex in examples]
    appended = [score(f"<answer>{ex['answer']}9z</answer>", ex) for ex in examples]
    # Another row's gold answer, where it differs from this row's.
    swapped = [
        score(other["answer"], ex)
        for ex, other in zip(examples, examples[1:] + examples[:1])
        if other["answer"] != ex["answer"]
    ]
    assert gold == [1.0] * len(examples)
    assert max(appended) < 1.0 and max(swapped, default=0.0) < 1.0
    assert sum(appended) / len(appended) < 0.95


def test_the_whole_completion_is_scored_when_it_has_no_answer_tag():
    score = get_verifier("reasoning_gym")
    example = rows("chain_sum", 1)[0]
    assert score(f"  {example['answer']}\n", example) == 1.0
    assert score(f"{example['answer']}", example, answer_tag=False) == 1.0


def test_a_row_without_the_entry_column_is_a_user_error():
    with pytest.raises(UserInputError, match="reasoning_gym_entry"):
        get_verifier("reasoning_gym")("4", {"answer": "4"})
