"""Process isolation: a verifier stuck in C code costs one reward, never the run."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from rewards import VerifierSpec, get_verifier, isolation, make_reward_funcs, register_verifier, registry

HELPERS = Path(__file__).with_name("isolation_verifiers.py")
REGEX = f"{HELPERS}:catastrophic_regex"
PID = f"{HELPERS}:pid_reward"
DEADLINE_S = 1.5
# A deadline is met when the call returns within it plus this much (a loaded 2-core machine).
SLACK_S = 1.5
HUGE_POWER = "\\boxed{9^{9^{9^9}}}"


@pytest.fixture(scope="module", autouse=True)
def warm_pool():
    """One pool for the module, started before any timed call; shut down after."""
    isolation.configure_pool(workers=2)
    (func,), _ = make_reward_funcs([VerifierSpec("math", timeout_s=30)])
    assert call(func, ["\\boxed{2}"] * 4, ["2"] * 4) == [1.0] * 4
    yield
    isolation.shutdown_pool()


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(registry, "_VERIFIERS", registry._VERIFIERS.copy())


def call(reward_func, completions, answers, **columns):
    """Call a reward function as TRL does, with ids p0, p1, ..."""
    return reward_func(
        prompts=["q"] * len(completions),
        completions=completions,
        completion_ids=[[1]] * len(completions),
        answer=answers,
        id=[f"p{i}" for i in range(len(completions))],
        trainer_state=None,
        log_metric=lambda name, value: None,
        **columns,
    )


def timed(func, *args):
    # Timed from a full pool: a worker killed by an earlier test has been replaced (a fresh
    # worker takes ~1-3 s to import math-verify on a loaded machine; that is not the deadline).
    isolation.get_pool().start()
    started = time.monotonic()
    result = func(*args)
    return result, time.monotonic() - started


def in_thread(func, *args):
    with ThreadPoolExecutor(1) as executor:
        return executor.submit(func, *args).result()


def pool_pids() -> set[int]:
    return set(isolation.get_pool().worker_pids())


@pytest.mark.parametrize("caller", [timed, lambda *a: in_thread(timed, *a)], ids=["main", "thread"])
def test_huge_power_in_math_costs_one_reward_within_the_deadline(caller):
    records = []
    (func,), _ = make_reward_funcs(
        [VerifierSpec("math", timeout_s=DEADLINE_S, error_value=-1.0)], error_sink=records.append
    )
    rewards, elapsed = caller(call, func, [HUGE_POWER, "\\boxed{7}"], ["3", "7"])
    assert rewards == [-1.0, 1.0]
    assert elapsed < DEADLINE_S + SLACK_S
    assert [(r.prompt_id, r.kind, r.exception_type) for r in records] == [("p0", "timeout", "TimeoutError")]
    assert records[0].message == f"no result within {DEADLINE_S:g} s (its worker process was killed)"


@pytest.mark.parametrize("caller", [timed, lambda *a: in_thread(timed, *a)], ids=["main", "thread"])
def test_catastrophic_regex_from_a_file_spec_costs_one_reward(caller):
    records = []
    (func,), _ = make_reward_funcs(
        [VerifierSpec(REGEX, timeout_s=DEADLINE_S, error_value=0.0)], error_sink=records.append
    )
    rewards, elapsed = caller(call, func, ["x", "y"], ["fine", "stuck"])
    assert rewards[1] == 0.0 and elapsed < DEADLINE_S + SLACK_S
    # The healthy completion ran in a pool worker, not in this process.
    assert rewards[0] not in (None, float(os.getpid()))
    assert [(r.prompt_id, r.kind) for r in records] == [("p1", "timeout")]


def test_one_stuck_completion_in_a_batch_of_8_loses_only_its_reward():
    records = []
    (func,), _ = make_reward_funcs([VerifierSpec(REGEX, timeout_s=DEADLINE_S)], error_sink=records.append)
    answers = ["fine"] * 8
    answers[5] = "stuck"
    rewards, elapsed = timed(call, func, ["x"] * 8, answers)
    assert [reward is None for reward in rewards] == [i == 5 for i in range(8)]
    assert float(os.getpid()) not in rewards
    assert [(r.prompt_id, r.kind) for r in records] == [("p5", "timeout")]
    assert elapsed < DEADLINE_S + SLACK_S


def test_the_call_after_a_kill_works_and_healthy_calls_reuse_the_workers():
    (stuck,), _ = make_reward_funcs([VerifierSpec(REGEX, timeout_s=DEADLINE_S)])
    (healthy,), _ = make_reward_funcs([VerifierSpec(PID, timeout_s=DEADLINE_S)])
    assert call(stuck, ["x"], ["stuck"]) == [None]
    first = call(healthy, ["x"] * 16, ["a"] * 16)
    pids = pool_pids()
    assert len(pids) == 2 and {int(r) for r in first} <= pids
    for _ in range(3):
        again = call(healthy, ["x"] * 16, ["a"] * 16)
        assert {int(r) for r in again} <= pids
    assert pool_pids() == pids  # no worker was started for the healthy calls


def test_a_worker_that_dies_costs_the_completion_it_was_scoring(scratch_registry):
    records = []
    (func,), _ = make_reward_funcs(
        [VerifierSpec(f"{HELPERS}:crash_or_pid", timeout_s=DEADLINE_S)], error_sink=records.append
    )
    rewards = call(func, ["x"] * 4, ["a", "crash", "b", "c"])
    assert rewards[1] is None and all(r is not None for i, r in enumerate(rewards) if i != 1)
    assert [(r.prompt_id, r.kind, r.exception_type) for r in records] == [("p1", "raised", "WorkerDied")]
    assert "exit code 3" in records[0].message


def test_batched_verifier_keeps_whole_call_semantics_in_a_worker(scratch_registry):
    batch_pids = get_verifier(f"{HELPERS}:batch_pids")
    register_verifier("t_batch_pids", batched=True)(batch_pids)  # at run time: found by pickle
    records = []
    (func,), _ = make_reward_funcs(
        [VerifierSpec("t_batch_pids", timeout_s=0.2, error_value=-1.0)], error_sink=records.append
    )
    assert func.worker_target is not None and func.worker_target.module_file == str(HELPERS)
    rewards = call(func, ["x"] * 4, ["a"] * 4)
    assert len(set(rewards)) == 1 and int(rewards[0]) in pool_pids()  # one call, in a worker
    rewards, elapsed = timed(call, func, ["x"] * 4, ["a", "stuck", "b", "c"])
    assert rewards == [-1.0] * 4 and elapsed < 0.8 + SLACK_S  # 0.2 s x 4 for the whole call
    assert {(r.kind, r.message) for r in records} == {
        ("timeout", "batch of 4 gave no result within 0.8 s (its worker process was killed)")
    }


def test_inline_opt_out_runs_in_this_process():
    (func,), _ = make_reward_funcs([VerifierSpec(PID, isolation="inline")])
    assert func.worker_target is None
    assert call(func, ["x"], ["a"]) == [float(os.getpid())]
    builtins, _ = make_reward_funcs(["exact", "format", "choice", "digit_match", "code", "math"])
    assert [f.worker_target is None for f in builtins] == [True] * 5 + [False]
    (forced,), _ = make_reward_funcs([VerifierSpec("exact", isolation="process")])
    assert forced.worker_target is not None


def test_a_verifier_workers_cannot_find_runs_inline_with_one_warning(scratch_registry, caplog):
    seen = []

    @register_verifier("t_closure")
    def closure(completion, example):
        seen.append(completion)  # state in this process: only possible inline
        return 1.0

    with caplog.at_level(logging.WARNING, logger="rewards.isolation"):
        (func,), _ = make_reward_funcs(["t_closure"])
        assert call(func, ["a", "b"], ["x", "y"]) == [1.0, 1.0]
        make_reward_funcs(["t_closure"])
    assert seen == ["a", "b"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "rewards.isolation"]
    assert len(warnings) == 1
    assert warnings[0].startswith("Verifier 't_closure' runs inline, in the training process")
    assert "cannot be pickled" in warnings[0] and "cannot be killed there" in warnings[0]


def test_bad_isolation_values_are_rejected():
    with pytest.raises(ValueError, match="isolation must be 'process', 'inline' or None, got 'thread'"):
        VerifierSpec("math", isolation="thread")
    with pytest.raises(ValueError, match="Verifier 'x': isolation must be one of"):
        register_verifier("x", isolation="sandbox")


def test_no_worker_process_is_left_after_shutdown():
    pool = isolation.VerifierPool(workers=2, preload=())
    target, _ = isolation.worker_target(PID, get_verifier(PID))
    outcomes = pool.run(target, {}, [("x", {"answer": "a"})] * 4, DEADLINE_S)
    pids = pool.worker_pids()
    assert {int(o[1]) for o in outcomes} <= set(pids) and len(pids) == 2
    pool.shutdown()
    children = {child.pid for child in psutil.Process().children(recursive=True)}
    assert not set(pids) & children
    assert not any(psutil.pid_exists(pid) for pid in pids)


def test_a_call_during_interpreter_exit_fails_instead_of_running_inline(monkeypatch):
    # At exit (the pool shut down, or its launcher thread gone) a call still in flight on a daemon
    # thread must not fall back to running the verifier inline: stuck in C code there, it would
    # hold the interpreter lock and the process could never exit.
    records = []
    (func,), _ = make_reward_funcs([VerifierSpec(PID, timeout_s=DEADLINE_S)], error_sink=records.append)
    monkeypatch.setattr(isolation, "_EXITING", True)
    rewards = call(func, ["x", "y"], ["a", "b"])
    assert rewards == [None, None]  # not this process's pid: the verifier did not run inline
    assert [(r.kind, r.exception_type) for r in records] == [("raised", "PoolClosed")] * 2
    assert func.worker_target is not None  # later calls still go to a worker

    closed = isolation.VerifierPool(workers=1, preload=())
    closed.shutdown()
    target, _ = isolation.worker_target(PID, get_verifier(PID))
    with pytest.raises(isolation.PoolClosed):
        closed.run(target, {}, [("x", {"answer": "a"})], DEADLINE_S)


def test_worker_count_defaults_small_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv(isolation.WORKERS_ENV, raising=False)
    assert 1 <= isolation.default_worker_count() <= 2
    monkeypatch.setenv(isolation.WORKERS_ENV, "3")
    assert isolation.VerifierPool().workers == 3
    monkeypatch.setenv(isolation.WORKERS_ENV, "two")
    with pytest.raises(ValueError, match="RLVR_VERIFIER_WORKERS must be a whole number >= 1, got 'two'"):
        isolation.default_worker_count()


@pytest.mark.slow
def test_interpreter_exit_does_not_wait_for_a_stuck_worker(tmp_path):
    # A daemon thread is inside a call with no deadline, its worker stuck in C code, when the
    # script ends: the interpreter must still exit at once, leaving no worker behind.
    script = tmp_path / "exits.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import threading, time
            from rewards import VerifierSpec, isolation, make_reward_funcs
            isolation.configure_pool(workers=1, preload=())
            (func,), _ = make_reward_funcs([VerifierSpec({REGEX!r}, timeout_s=None)])
            threading.Thread(
                target=func, kwargs=dict(completions=["x"], answer=["stuck"]), daemon=True
            ).start()
            while not isolation.get_pool().worker_pids():
                time.sleep(0.05)
            time.sleep(1.0)
            print(*isolation.get_pool().worker_pids(), flush=True)
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 1 and not _alive(pids[0])


@pytest.mark.slow
def test_workers_die_with_a_killed_parent(tmp_path):
    # The parent is SIGKILLed while both workers are stuck in C code with no deadline: only the
    # kernel (PR_SET_PDEATHSIG) can stop them.
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import threading, time
            from rewards import VerifierSpec, isolation, make_reward_funcs
            isolation.configure_pool(workers=2, preload=())
            (func,), _ = make_reward_funcs([VerifierSpec({REGEX!r}, timeout_s=None)])
            threading.Thread(
                target=func, kwargs=dict(completions=["x", "y"], answer=["stuck", "stuck"])
            ).start()
            while len(isolation.get_pool().worker_pids()) < 2:
                time.sleep(0.05)
            time.sleep(1.0)
            print(*isolation.get_pool().worker_pids(), flush=True)
            time.sleep(60)
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2
        workers = [psutil.Process(pid) for pid in pids]
        assert all(w.status() == psutil.STATUS_RUNNING or w.cpu_percent(0.2) > 0 for w in workers)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("mode", ["process", "inline"])
def test_an_async_verifier_is_awaited_in_a_worker_and_inline(mode):
    # It returned a coroutine object: every reward a bad_return, preflight refused the run.
    records = []
    (func,), _ = make_reward_funcs(
        [VerifierSpec(f"{HELPERS}:async_pid_if_right", timeout_s=10, isolation=mode)], error_sink=records.append
    )
    rewards = call(func, ["1", "2"], ["1", "3"], test_pid=[str(os.getpid())] * 2)
    assert records == []
    assert rewards == ([-2.0, -1.0] if mode == "process" else [1.0, 0.0])
