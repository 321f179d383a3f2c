"""Verifiers as TRL reward functions: calling convention, isolation, time limits, metrics."""

from __future__ import annotations

import logging
import math
import signal
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest

from rewards import (
    VerifierError,
    VerifierSpec,
    get_verifier,
    make_reward_funcs,
    register_verifier,
    registry,
)


@pytest.fixture(autouse=True)
def test_verifiers(monkeypatch):
    """Verifiers misbehaving on the row whose answer is "bad" (registered for one test only)."""
    monkeypatch.setattr(registry, "_VERIFIERS", registry._VERIFIERS.copy())

    @register_verifier("t_raises")
    def raises(completion, example):
        if example["answer"] == "bad":
            return 1 / 0
        return 1.0 if completion == example["answer"] else 0.0

    @register_verifier("t_spins")
    def spins(completion, example):
        while example["answer"] == "bad":
            pass
        return 1.0

    @register_verifier("t_sleeps")
    def sleeps(completion, example):
        if example["answer"] == "bad":
            time.sleep(2)
        return 1.0

    @register_verifier("t_returns")
    def returns(completion, example):
        return {"bad": "1.0", "nan": math.nan, "none": None, "true": True}.get(example["answer"], 0.25)

    @register_verifier("t_batch_raises", batched=True)
    def batch_raises(completions, examples):
        raise RuntimeError("judge unreachable")

    @register_verifier("t_batch_short", batched=True)
    def batch_short(completions, examples):
        return [1.0] * (len(completions) - 1)

    @register_verifier("t_batch_mixed", batched=True)
    def batch_mixed(completions, examples):
        return [None if e["answer"] == "none" else "oops" if e["answer"] == "bad" else 1.0 for e in examples]

    @register_verifier("t_math_then_spin")
    def math_then_spin(completion, example):
        # math-verify arms and cancels SIGALRM itself; the adapter's limit must survive that.
        get_verifier("math")(completion, example)
        while True:
            pass


class Metrics:
    """Stands in for TRL's log_metric: collects values per name."""

    def __init__(self):
        self.values = defaultdict(list)

    def __call__(self, name: str, value: float) -> None:
        self.values[name].append(value)


def call(reward_func, completions, answers, ids=None, **columns):
    """Call a reward function the way TRL 1.16's GRPOTrainer does."""
    if ids is not None:
        columns["id"] = ids
    metrics = Metrics()
    rewards = reward_func(
        prompts=[f"prompt {i}" for i in range(len(completions))],
        completions=completions,
        completion_ids=[[1, 2, 3]] * len(completions),
        answer=answers,
        trainer_state=None,
        log_extra=lambda column, values: None,
        log_metric=metrics,
        **columns,
    )
    return rewards, metrics.values


def test_make_reward_funcs_returns_named_functions_and_weights():
    from trl.trainer.utils import get_callable_name  # how GRPOTrainer names reward functions

    specs = [
        VerifierSpec("exact"),
        VerifierSpec("format", weight=0.25),
        "exact",
        VerifierSpec("rewards.builtin.choice:choice", weight=2),
    ]
    funcs, weights = make_reward_funcs(specs)
    assert [get_callable_name(f) for f in funcs] == ["exact", "format", "exact_2", "choice"]
    assert weights == [1.0, 0.25, 1.0, 2.0]


def test_unknown_verifier_fails_when_building_not_when_training():
    with pytest.raises(KeyError, match="Did you mean 'exact'"):
        make_reward_funcs([VerifierSpec("exactt")])


def test_columns_become_one_example_per_completion():
    seen = []

    @register_verifier("t_records")
    def records(completion, example):
        seen.append((completion, dict(example)))
        return 1.0

    (func,), _ = make_reward_funcs(["t_records"])
    rewards, _ = call(
        func,
        ["a", [{"role": "assistant", "content": "b"}]],
        ["A", "B"],
        ids=["p0", "p1"],
        skill=["copy", "add1"],
    )
    assert rewards == [1.0, 1.0]
    assert seen == [
        ("a", {"answer": "A", "id": "p0", "skill": "copy", "prompt": "prompt 0"}),
        ("b", {"answer": "B", "id": "p1", "skill": "add1", "prompt": "prompt 1"}),
    ]


def test_chat_completions_use_the_last_message():
    (func,), _ = make_reward_funcs(["exact"])
    chat = [
        [{"role": "assistant", "content": "thinking..."}, {"role": "assistant", "content": "46"}],
        [
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "4"}, {"type": "text", "text": "6"}],
            }
        ],
        [{"role": "assistant", "content": "47"}],
    ]
    rewards, _ = call(func, chat, ["46", "46", "46"])
    assert rewards == [1.0, 1.0, 0.0]


def test_raising_verifier_costs_one_reward_and_reports_it(caplog):
    records: list[VerifierError] = []
    (func,), _ = make_reward_funcs([VerifierSpec("t_raises")], error_sink=records.append)
    with caplog.at_level(logging.WARNING, logger="rewards.adapter"):
        rewards, metrics = call(func, ["x", "y", "z"], ["x", "bad", "q"], ids=["p0", "p1", "p2"])
    assert rewards == [1.0, None, 0.0]
    assert records == [VerifierError("t_raises", "p1", "raised", "ZeroDivisionError", "division by zero")]
    # One line per call with the counts (the per-completion record goes to the sink).
    # (rewards.isolation also warns once that this local test function cannot run in a worker.)
    adapter_lines = [r.getMessage() for r in caplog.records if r.name == "rewards.adapter"]
    assert adapter_lines == [
        "verifier 't_raises': 1 of 3 completions failed (raised ZeroDivisionError: division by "
        "zero x1; first row id=p1); details in the error sink"
    ]
    assert metrics["verifiers/t_raises/errors"] == [1.0]


def test_error_value_and_row_index_when_there_is_no_id_column():
    records = []
    (func,), _ = make_reward_funcs([VerifierSpec("t_raises", error_value=-1.0)], error_sink=records.append)
    rewards, _ = call(func, ["x", "y"], ["bad", "y"])
    assert rewards == [-1.0, 1.0]
    assert [r.prompt_id for r in records] == ["0"]


def test_spinning_verifier_is_interrupted_at_its_time_limit():
    records = []
    (func,), _ = make_reward_funcs([VerifierSpec("t_spins", timeout_s=0.3)], error_sink=records.append)
    started = time.monotonic()
    rewards, metrics = call(func, ["a", "b", "c", "d"], ["ok", "bad", "ok", "bad"], ids=["q0", "q1", "q2", "q3"])
    elapsed = time.monotonic() - started
    assert rewards == [1.0, None, 1.0, None]
    assert 0.6 <= elapsed < 1.5
    assert [(r.prompt_id, r.kind, r.exception_type) for r in records] == [
        ("q1", "timeout", "TimeoutError"),
        ("q3", "timeout", "TimeoutError"),
    ]
    assert metrics["verifiers/t_spins/errors"] == [2.0]
    # The latency metric is the mean per completion: about 2 x 0.3 s over 4 completions.
    assert 120 <= metrics["verifiers/t_spins/latency_ms"][0] < 400


def test_sleeping_verifier_is_interrupted_too():
    (func,), _ = make_reward_funcs([VerifierSpec("t_sleeps", timeout_s=0.2)])
    started = time.monotonic()
    rewards, _ = call(func, ["a", "b"], ["bad", "ok"])
    assert rewards == [None, 1.0]
    assert time.monotonic() - started < 1.0


def test_time_limit_off_the_main_thread_uses_a_helper_thread():
    records = []
    (func,), _ = make_reward_funcs([VerifierSpec("t_sleeps", timeout_s=0.2)], error_sink=records.append)
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        rewards, _ = pool.submit(call, func, ["a", "b"], ["bad", "ok"]).result()
        elapsed = time.monotonic() - started
    assert rewards == [None, 1.0]
    assert elapsed < 1.0
    assert records[0].kind == "timeout"


def test_math_verifier_through_the_adapter_keeps_alarms_working():
    previous_handler = signal.getsignal(signal.SIGALRM)
    records = []
    funcs, _ = make_reward_funcs(
        [VerifierSpec("math"), VerifierSpec("t_math_then_spin", timeout_s=0.3)],
        error_sink=records.append,
    )
    completions = ["\\boxed{\\frac{1}{2}}", "0.5", "The answer is 3"]
    math_rewards, _ = call(funcs[0], completions, ["1/2"] * 3)
    assert math_rewards == [1.0, 1.0, 0.0]
    # `math` itself ran in a worker process: import math-verify here too, so that the 0.3 s
    # limit below interrupts t_math_then_spin in its loop rather than in that import.
    assert get_verifier("math")(completions[0], {"answer": "1/2"}) == 1.0

    started = time.monotonic()
    spin_rewards, _ = call(funcs[1], completions[:1], ["1/2"])
    assert spin_rewards == [None]
    assert records and records[0].kind == "timeout"
    assert time.monotonic() - started < 1.5
    # math-verify's own alarm-based timeout still works afterwards, and SIGALRM is untouched.
    assert signal.getsignal(signal.SIGALRM) == previous_handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_bad_returns_are_errors():
    records = []
    (func,), _ = make_reward_funcs([VerifierSpec("t_returns")], error_sink=records.append)
    rewards, metrics = call(func, ["-"] * 5, ["bad", "nan", "none", "true", "other"])
    assert rewards == [None, None, None, 1.0, 0.25]
    assert [(r.prompt_id, r.kind) for r in records] == [("0", "bad_return"), ("1", "bad_return")]
    assert "expected a number or None" in records[0].message
    assert "must be finite" in records[1].message
    assert metrics["verifiers/t_returns/errors"] == [2.0]


def test_batched_verifier_failures():
    records = []
    funcs, _ = make_reward_funcs(["t_batch_raises", "t_batch_short", "t_batch_mixed"], error_sink=records.append)
    rewards, metrics = call(funcs[0], ["a", "b"], ["x", "y"], ids=["r0", "r1"])
    assert rewards == [None, None]
    assert [(r.prompt_id, r.kind, r.exception_type) for r in records] == [
        ("r0", "raised", "RuntimeError"),
        ("r1", "raised", "RuntimeError"),
    ]
    assert metrics["verifiers/t_batch_raises/errors"] == [2.0]

    records.clear()
    rewards, _ = call(funcs[1], ["a", "b"], ["x", "y"])
    assert rewards == [None, None] and {r.kind for r in records} == {"bad_return"}

    records.clear()
    rewards, metrics = call(funcs[2], ["a", "b", "c"], ["none", "bad", "ok"])
    assert rewards == [None, None, 1.0]
    assert [(r.prompt_id, r.kind) for r in records] == [("1", "bad_return")]
    assert metrics["verifiers/t_batch_mixed/errors"] == [1.0]


def test_code_verifier_through_the_adapter():
    (func,), _ = make_reward_funcs([VerifierSpec("code", kwargs={"timeout_s": 2.0})])
    tests = ["assert double(2) == 4", "assert double(0) == 0"]
    rewards, metrics = call(
        func,
        ["```python\ndef double(x):\n    return 2 * x\n```", "def double(x):\n    return 4"],
        ["", ""],
        tests=[tests, tests],
    )
    assert rewards == [1.0, 0.5]
    assert metrics["verifiers/code/errors"] == [0.0]


def test_a_broken_error_sink_does_not_stop_scoring(caplog):
    def sink(record):
        raise OSError("disk full")

    (func,), _ = make_reward_funcs(["t_raises"], error_sink=sink)
    rewards, _ = call(func, ["x", "y"], ["bad", "y"])
    assert rewards == [None, 1.0]
    assert "error_sink raised" in caplog.text


def test_watchdog_leaves_no_stray_interrupt_behind():
    # Calls that finish just under their limit must not leave a signal that hits later code.
    @register_verifier("t_nearly_late")
    def nearly_late(completion, example):
        deadline = time.monotonic() + 0.045
        while time.monotonic() < deadline:
            pass
        return 1.0

    (func,), _ = make_reward_funcs([VerifierSpec("t_nearly_late", timeout_s=0.05)])
    rewards, _ = call(func, ["a"] * 20, ["a"] * 20)
    assert all(r in (1.0, None) for r in rewards)
    time.sleep(0.2)  # a stray interrupt would raise VerifierTimeout here and fail the test


def test_verifier_spec_rejects_bad_config_values():
    with pytest.raises(ValueError, match=r"weight must be a finite number, got 'high'.*timeout_s"):
        VerifierSpec(name="math", weight="high", timeout_s=-1)
    with pytest.raises(ValueError, match="kwargs must be a mapping"):
        VerifierSpec(name="format", kwargs=["pattern"])
    assert VerifierSpec(name="math", timeout_s=None).timeout_s is None


def test_an_async_trl_style_reward_function_is_awaited():
    # TRL accepts `async def` reward functions; the adapter scored the coroutine object as a
    # bad return on every completion.
    import asyncio

    @register_verifier("t_async_trl")
    async def accuracy_reward(completions, answer, **kwargs):
        await asyncio.sleep(0)
        return [float(c == a) for c, a in zip(completions, answer)]

    errors = []
    (func,), _ = make_reward_funcs([VerifierSpec("t_async_trl")], error_sink=errors.append)
    assert call(func, ["1", "2", "3"], ["1", "0", "3"])[0] == [1.0, 0.0, 1.0]
    assert errors == []


def test_numpy_bools_and_zero_dim_arrays_are_rewards_as_trl_takes_them():
    import numpy as np

    @register_verifier("t_numpy", isolation="inline")
    def numpy_reward(completion, example):
        return np.bool_(completion == example["answer"]) if example["answer"] != "arr" else np.array(0.5)

    errors = []
    (func,), _ = make_reward_funcs([VerifierSpec("t_numpy")], error_sink=errors.append)
    assert call(func, ["1", "2", "x"], ["1", "0", "arr"])[0] == [1.0, 0.0, 0.5]
    assert errors == []
