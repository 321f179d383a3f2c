"""Broken verifiers: error budget, one warning per call, TRL-style reward functions, preflight."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from rewards import (
    BrokenVerifierError,
    ErrorCounts,
    VerifierBudgetExceeded,
    VerifierPreflightError,
    VerifierSpec,
    check_error_budget,
    enforce_error_budgets,
    make_reward_funcs,
    preflight,
    register_verifier,
    registry,
)
from rewards import adapter as adapter_module

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BROKEN = f"{FIXTURES}/broken_verifiers.py"
TRL_FILE = f"{FIXTURES}/trl_rewards.py"


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    monkeypatch.setattr(registry, "_VERIFIERS", registry._VERIFIERS.copy())
    monkeypatch.delenv("WORLD_SIZE", raising=False)


def toy_rows(n: int) -> list[dict]:
    return [{"id": f"r{i}", "prompt": f"{i}+1=", "answer": str(i + 1), "skill": "add"} for i in range(n)]


def call(func, completions, rows):
    """Call a reward function the way TRL 1.16's GRPOTrainer does."""
    columns = {key: [row[key] for row in rows] for key in rows[0] if key != "prompt"}
    return func(
        prompts=[row["prompt"] for row in rows],
        completions=completions,
        completion_ids=[[1, 2]] * len(rows),
        trainer_state=None,
        log_extra=lambda *a: None,
        log_metric=lambda *a: None,
        **columns,
    )


# ---------------------------------------------------------------------------------------------
# 1. The error budget.


def test_a_verifier_raising_on_every_call_stops_after_its_first_64_completions():
    records = []
    (func,), _ = make_reward_funcs([f"{BROKEN}:wrong_column"], error_sink=records.append)
    rows = toy_rows(16)
    for _ in range(3):  # 48 completions: too few to judge
        assert call(func, ["x"] * 16, rows) == [None] * 16
    with pytest.raises(VerifierBudgetExceeded) as caught:
        call(func, ["x"] * 16, rows)
    message = str(caught.value)
    assert message.startswith(
        "Verifier 'wrong_column' failed on 64 of 64 completions (100%), more than its error "
        "budget (max_error_rate=0.5, judged after 64 completions): raised KeyError x64 ('solution')."
    )
    assert "First failure: row id=r0 with fields {id='r0', answer='1', skill='add', prompt='0+1='}" in message
    assert isinstance(caught.value, BrokenVerifierError)
    assert len(records) == 64  # every failure still reaches the sink


def test_error_budget_is_configurable_and_none_disables_it():
    (lenient,), _ = make_reward_funcs([VerifierSpec(f"{BROKEN}:wrong_column", error_rate_min_completions=8)])
    with pytest.raises(VerifierBudgetExceeded, match="failed on 8 of 8 completions"):
        call(lenient, ["x"] * 8, toy_rows(8))

    (off,), _ = make_reward_funcs([VerifierSpec(f"{BROKEN}:wrong_column", max_error_rate=None)])
    for _ in range(10):
        call(off, ["x"] * 16, toy_rows(16))
    assert (off.error_counts.completions, off.error_counts.failures) == (160, 160)


def test_a_verifier_failing_on_a_minority_of_completions_keeps_running():
    # Wrong answers raise (KeyError), right ones do not: 24 of 64 fail, under the 0.5 budget.
    (func,), _ = make_reward_funcs([f"{BROKEN}:fails_on_wrong_answers"])
    rows = toy_rows(16)
    right = [row["answer"] for row in rows]
    for _ in range(4):
        rewards = call(func, ["x"] * 6 + right[6:], rows)
        assert rewards == [None] * 6 + [1.0] * 10
    assert (func.error_counts.completions, func.error_counts.failures) == (64, 24)


def test_check_error_budget_is_a_pure_decision_on_counts():
    counts = ErrorCounts(
        completions=64, failures=32, by_error={"raised KeyError": 32}, first_message={"raised KeyError": "'answer'"}
    )
    assert check_error_budget("math", counts, 0.5, 64) is None  # exactly at the budget: allowed
    counts.failures = counts.by_error["raised KeyError"] = 33
    assert check_error_budget("math", counts, 0.5, 65) is None  # not judged yet
    assert check_error_budget("math", counts, None, 64) is None
    assert check_error_budget("math", counts, 0.5, 64).startswith(
        "Verifier 'math' failed on 33 of 64 completions (52%)"
    )


def test_processes_decide_together_on_gathered_counts(monkeypatch, caplog):
    """Two processes: neither reward function raises by itself (that would leave the other
    process waiting in a collective); `enforce_error_budgets` decides on the summed counts, so
    both processes stop, or neither, whatever their own counts say."""
    monkeypatch.setattr(adapter_module, "_world_size", lambda: 2)
    spec = VerifierSpec(f"{BROKEN}:fails_on_wrong_answers", error_rate_min_completions=32)
    ranks = [make_reward_funcs([spec])[0] for _ in range(2)]
    rows = toy_rows(16)
    right = [row["answer"] for row in rows]

    def gather(local):  # accelerate.utils.gather_object: every rank's list, in rank order
        return [f.error_counts for funcs in ranks for f in funcs]

    with caplog.at_level(logging.ERROR, logger="rewards.adapter"):
        call(ranks[0][0], ["x"] * 16, rows)
        call(ranks[0][0], ["x"] * 16, rows)  # rank 0: 32 of 32 fail, over budget alone: no raise
    assert "On this process; with several processes the trainer decides" in caplog.text
    call(ranks[1][0], right, rows)
    call(ranks[1][0], right, rows)  # rank 1: 0 of 32
    for funcs in ranks:
        enforce_error_budgets(funcs, gather)  # 32 of 64 = 50%: within budget on both ranks

    call(ranks[1][0], ["x"] * 16, rows)  # rank 1: 16 of 48, within budget alone
    messages = []
    for funcs in ranks:
        with pytest.raises(VerifierBudgetExceeded) as caught:
            enforce_error_budgets(funcs, gather)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("Verifier 'fails_on_wrong_answers' failed on 48 of 80 completions (60%)")
    assert "First failure: row id=r0" in messages[0]


def test_enforce_error_budgets_ignores_other_reward_functions():
    def plain(completions, **kwargs):
        return [1.0] * len(completions)

    (off,), _ = make_reward_funcs([VerifierSpec(f"{BROKEN}:wrong_column", max_error_rate=None)])
    call(off, ["x"] * 64, toy_rows(64))

    def gather(local):
        raise AssertionError("nothing to check, so nothing to gather")

    enforce_error_budgets([plain, off], gather)


# ---------------------------------------------------------------------------------------------
# 2. One warning per verifier per call.


def test_one_warning_line_per_call_with_counts(caplog):
    records = []
    (func,), _ = make_reward_funcs(
        [VerifierSpec(f"{BROKEN}:wrong_column", max_error_rate=None)], error_sink=records.append
    )
    with caplog.at_level(logging.DEBUG, logger="rewards.adapter"):
        call(func, ["x"] * 32, toy_rows(32))
        call(func, ["x"] * 32, toy_rows(32))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        warnings
        == [
            "verifier 'wrong_column': 32 of 32 completions failed (raised KeyError: 'solution' x32; "
            "first row id=r0); details in the error sink"
        ]
        * 2
    )
    assert len(records) == 64
    assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 64  # details, at DEBUG


def test_warning_groups_different_errors():
    @register_verifier("t_mixed")
    def mixed(completion, example):
        return {"a": lambda: 1 / 0, "b": lambda: "1.0"}.get(completion, lambda: 0.0)()

    (func,), _ = make_reward_funcs(["t_mixed"])
    logger = logging.getLogger("rewards.adapter")
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        call(func, ["a", "b", "a", "c"], toy_rows(4))
    finally:
        logger.removeHandler(handler)
    assert seen == [
        "verifier 't_mixed': 3 of 4 completions failed (raised ZeroDivisionError: division by zero "
        "x2, bad_return TypeError: returned str '1.0'; expected a number or None x1; first row "
        "id=r0); details at DEBUG level (logger rewards.adapter)"
    ]


# ---------------------------------------------------------------------------------------------
# 3. TRL-style reward functions.


def test_trl_style_function_from_a_file_is_called_with_trl_arguments():
    (func,), weights = make_reward_funcs([f"{TRL_FILE}:accuracy_reward"])
    assert func.style == "trl" and func.__name__ == "accuracy_reward"
    rows = toy_rows(3)
    assert call(func, ["1", " 2 ", "7"], rows) == [1.0, 1.0, 0.0]
    assert func.error_counts.failures == 0

    (boxed,), _ = make_reward_funcs([f"{TRL_FILE}:reward_func"])
    rows = [dict(row, ground_truth=row["answer"]) for row in rows]
    assert call(boxed, ["\\boxed{1}", "\\boxed{3}", "2"], rows) == [1.0, 0.0, 0.0]


def test_trl_style_function_gets_chat_completions_and_extras_unchanged():
    (chat,), _ = make_reward_funcs([f"{TRL_FILE}:format_reward_func"])
    completions = [
        [{"role": "assistant", "content": "<think>x</think><answer>1</answer>"}],
        [{"role": "assistant", "content": "1"}],
    ]
    assert call(chat, completions, toy_rows(2)) == [1.0, 0.0]

    (spy,), _ = make_reward_funcs([VerifierSpec(f"{TRL_FILE}:records_its_arguments", kwargs={"scale": 2})])
    assert call(spy, completions, toy_rows(2)) == [None, None]
    seen = spy.verifier.seen
    assert seen["completions"] == completions and seen["completion_ids"] == [[1, 2], [1, 2]]
    assert seen["prompts"] == ["0+1=", "1+1="] and seen["answer"] == ["1", "2"]
    assert seen["id"] == ["r0", "r1"] and seen["scale"] == 2 and "log_metric" in seen


def test_trl_library_reward_by_module_path():
    pytest.importorskip("math_verify")
    (func,), _ = make_reward_funcs(["trl.rewards:accuracy_reward"])
    rows = [
        {"id": "a", "prompt": [{"role": "user", "content": "1/3?"}], "solution": r"\frac{1}{3}"},
        {"id": "b", "prompt": [{"role": "user", "content": "1/3?"}], "solution": r"\frac{1}{3}"},
    ]
    completions = [
        [{"role": "assistant", "content": r"My answer is \boxed{\frac{1}{3}}"}],
        [{"role": "assistant", "content": r"My answer is \boxed{\frac{1}{2}}"}],
    ]
    assert call(func, completions, rows) == [1.0, 0.0]


def test_trl_style_returns_are_checked():
    records = []
    (short,), _ = make_reward_funcs([f"{TRL_FILE}:one_reward_short"], error_sink=records.append)
    assert call(short, ["a", "b"], toy_rows(2)) == [None, None]
    assert [(r.prompt_id, r.kind) for r in records] == [("r0", "bad_return"), ("r1", "bad_return")]
    assert "expected a list of 2 rewards, got list [1.0]" in records[0].message

    @register_verifier("t_trl_nan")
    def nan_reward(completions, **kwargs):
        return [math.nan, None, 0.5]

    records.clear()
    (func,), _ = make_reward_funcs(["t_trl_nan"], error_sink=records.append)
    assert call(func, ["a", "b", "c"], toy_rows(3)) == [None, None, 0.5]
    assert [(r.prompt_id, r.kind) for r in records] == [("r0", "bad_return")]

    records.clear()
    (missing,), _ = make_reward_funcs([f"{TRL_FILE}:reward_func"], error_sink=records.append)
    call(missing, ["a"], toy_rows(1))  # no ground_truth column
    assert records[0].exception_type == "TypeError" and "ground_truth" in records[0].message


def test_style_can_be_declared_and_is_validated():
    @register_verifier("t_takes_completions")
    def named_like_trl(completions, example):  # a verifier whose argument is named oddly
        return float(completions == example["answer"])

    (func,), _ = make_reward_funcs([VerifierSpec("t_takes_completions", style="verifier")])
    assert call(func, ["1", "3"], toy_rows(2)) == [1.0, 0.0]
    with pytest.raises(ValueError, match="style must be one of 'verifier', 'trl' or None"):
        VerifierSpec("exact", style="hf")
    with pytest.raises(
        ValueError,
        match=r"max_error_rate must be a number in \[0, 1\].*"
        "error_rate_min_completions must be an integer >= 1",
    ):
        VerifierSpec("exact", max_error_rate=2, error_rate_min_completions=0)


# ---------------------------------------------------------------------------------------------
# 4. Preflight.


def test_preflight_stops_a_verifier_reading_a_missing_column():
    records = []
    funcs, _ = make_reward_funcs(["exact", f"{BROKEN}:wrong_column"], error_sink=records.append)
    with pytest.raises(VerifierPreflightError) as caught:
        preflight(funcs, toy_rows(20), n=8)
    assert str(caught.value) == (
        "Verifier 'wrong_column' failed on the gold answer of every probed row (first 8 rows) "
        "before training: raised KeyError: 'solution'. First failing row id=r0 with fields "
        "{id='r0', prompt='0+1=', answer='1', skill='add'}. Fix the verifier or its settings (a "
        "column name, a keyword argument, the return type: one number or None per completion)."
    )
    # The probes leave the real reward functions' counts and error sink alone.
    assert funcs[1].error_counts.completions == 0 and records == []


def test_preflight_stops_a_bad_keyword_and_a_bad_return_shape():
    funcs, _ = make_reward_funcs([VerifierSpec("format", kwargs={"patern": "x"})])
    with pytest.raises(VerifierPreflightError, match="'format' failed.*TypeError.*patern"):
        preflight(funcs, toy_rows(4))

    @register_verifier("t_returns_text")
    def returns_text(completion, example):
        return completion

    funcs, _ = make_reward_funcs(["t_returns_text"])
    with pytest.raises(VerifierPreflightError, match="bad_return TypeError: returned str '1'"):
        preflight(funcs, toy_rows(4))

    funcs, _ = make_reward_funcs([f"{TRL_FILE}:one_reward_short"])
    with pytest.raises(VerifierPreflightError, match="expected a list of 4 rewards"):
        preflight(funcs, toy_rows(4))


def test_preflight_passes_verifiers_that_give_the_gold_text_zero_or_none(caplog):
    @register_verifier("t_not_applicable", isolation="inline")  # a local function: no worker can import it
    def not_applicable(completion, example):
        return None

    funcs, _ = make_reward_funcs(["format", "exact", "t_not_applicable", f"{TRL_FILE}:accuracy_reward"])
    with caplog.at_level(logging.WARNING):
        results = preflight(funcs, toy_rows(8))
    assert results == {
        name: {"probes": 16, "failures": 0} for name in ("format", "exact", "t_not_applicable", "accuracy_reward")
    }
    assert caplog.text == ""


def test_preflight_warns_on_a_verifier_failing_only_on_wrong_completions(caplog):
    funcs, _ = make_reward_funcs([f"{BROKEN}:fails_on_wrong_answers"])
    with caplog.at_level(logging.WARNING, logger="rewards.probes"):
        results = preflight(funcs, toy_rows(8))
    assert results == {"fails_on_wrong_answers": {"probes": 16, "failures": 8}}
    assert (
        "verifier 'fails_on_wrong_answers' failed on the empty completion of every probed row "
        "(raised KeyError: 'expected')" in caplog.text
    )


def test_preflight_takes_plain_trl_functions_and_chat_data():
    import importlib.util

    spec = importlib.util.spec_from_file_location("trl_rewards_fixture", TRL_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = [{"id": "c0", "prompt": [{"role": "user", "content": "go"}], "answer": "<think>a</think>"}]
    assert preflight([module.format_reward_func], rows) == {"format_reward_func": {"probes": 2, "failures": 0}}
    with pytest.raises(VerifierPreflightError, match="'reward_func'.*ground_truth"):
        preflight([module.reward_func], rows)


def test_docstring_examples_run():
    import doctest
    import importlib

    for name in ("rewards.errors", "rewards.trl_style"):
        module = importlib.import_module(name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, name


def test_preflight_stops_when_no_verifier_ever_gives_a_reward():
    # Every reward None ("not applicable"): TRL summed nothing, the loss was 0 at every step and
    # `rlvr train` exited 0 having trained on nothing.
    @register_verifier("t_always_none", isolation="inline")
    def always_none(completion, example):
        return None

    funcs, _ = make_reward_funcs(["t_always_none"])
    with pytest.raises(
        VerifierPreflightError,
        match=r"No reward function gave a reward to any probe of the first "
        r"8 rows before training: t_always_none returned None",
    ):
        preflight(funcs, toy_rows(8))
    both, _ = make_reward_funcs(["t_always_none", "exact"])  # another verifier gives the signal
    assert preflight(both, toy_rows(8))["exact"] == {"probes": 16, "failures": 0}
