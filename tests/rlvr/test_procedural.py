"""``data.train: reasoning_gym:<task>?...``: rows with prompt, answer, skill, id and the entry the
verifier scores; one-line errors for a missing package, an unknown task or option."""

import builtins
import json

import pytest

from curricula.records import DataError
from rewards import get_verifier
from rlvr.config import DataConfig
from rlvr.data import load_prompts
from rlvr.procedural import parse_spec

pytest.importorskip("reasoning_gym")


def test_spec_options_are_yaml_values():
    assert parse_spec("reasoning_gym:chain_sum?size=20&seed=4&min_terms=3&allowed=[a, b]") == (
        "chain_sum",
        {"size": 20, "seed": 4, "min_terms": 3, "allowed": ["a", "b"]},
    )
    assert parse_spec("reasoning_gym:gcd") == ("gcd", {})


def test_rows_carry_what_the_verifier_needs_and_are_seeded():
    spec = "reasoning_gym:chain_sum?size=12&seed=5&min_terms=2&max_terms=3"
    data = load_prompts(spec, DataConfig(train=spec, eval=None))
    again = load_prompts(spec, DataConfig(train=spec, eval=None))
    rows = data.dataset.to_list()
    assert len(rows) == 12 and rows == again.dataset.to_list()
    assert rows[0]["id"] == "chain_sum-s5-0" and {r["skill"] for r in rows} == {"chain_sum"}
    assert all(2 <= json.loads(r["reasoning_gym_entry"])["metadata"]["num_terms"] <= 3 for r in rows)
    score = get_verifier("reasoning_gym")
    assert [score(f"<answer>{r['answer']}</answer>", r) for r in rows] == [1.0] * 12
    held_out = load_prompts("reasoning_gym:chain_sum?size=12", DataConfig(eval=None), split="eval")
    assert held_out.dataset[0]["id"] == "chain_sum-s1-0"  # the eval split's default seed differs from train's


def test_a_curriculum_level_sets_the_difficulty_and_options_beside_it_win():
    def terms(spec):
        rows = load_prompts(spec, DataConfig(train=spec, eval=None)).dataset.to_list()
        return rows, [json.loads(r["reasoning_gym_entry"])["metadata"]["num_terms"] for r in rows]

    easy_rows, easy = terms("reasoning_gym:chain_sum?size=40&level=0")
    _, hard = terms("reasoning_gym:chain_sum?size=40&level=3")
    _, pinned = terms("reasoning_gym:chain_sum?size=40&level=3&max_terms=2")
    assert max(easy) <= 2 < max(hard) and max(pinned) == 2
    assert easy_rows[0]["id"] == "chain_sum-L0-s0-0"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("reasoning_gym:chain_sum?level=99", r"level must be an integer from 0 to \d+ for task 'chain_sum', got 99"),
        ("reasoning_gym:chain_sun", r"unknown reasoning-gym task 'chain_sun'\. Did you mean 'chain_sum'\?"),
        (
            "reasoning_gym:chain_sum?min_term=2",
            r"task 'chain_sum' has no option 'min_term'\. Did you mean 'min_terms'\?",
        ),
        ("reasoning_gym:chain_sum?size=0", r"invalid options for task 'chain_sum'"),
        ("reasoning_gym:", r"names no task"),
    ],
)
def test_bad_specs_are_one_line_data_errors(spec, message):
    with pytest.raises(DataError, match=message) as caught:
        load_prompts(spec, DataConfig(train=spec, eval=None))
    assert "\n" not in str(caught.value)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_reasoning_gym(name, *args, **kwargs):
        if name.startswith("reasoning_gym"):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_reasoning_gym)
    with pytest.raises(DataError, match=r"needs the reasoning-gym package.*pip install 'rlvr\[reasoning-gym\]'"):
        load_prompts("reasoning_gym:chain_sum", DataConfig(eval=None))
