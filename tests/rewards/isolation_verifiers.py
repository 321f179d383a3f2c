"""Verifiers for tests/rewards/test_isolation.py, loaded as ``path/file.py:function`` specs.

Each returns the id of the process it ran in (a finite number, so a valid reward): tests tell a
pool worker from the test process that way.
"""

import os
import re
import time


def catastrophic_regex(completion, example):
    """Stuck in C code for hours when the answer is "stuck": ``re`` backtracks 2**40 times."""
    if example["answer"] == "stuck":
        re.match(r"(a+)+$", "a" * 40 + "b")
    return float(os.getpid())


def pid_reward(completion, example):
    """The process id, whatever the completion."""
    return float(os.getpid())


def crash_or_pid(completion, example):
    """Kills its own process on the row whose answer is "crash" (as a segfault would)."""
    if example["answer"] == "crash":
        os._exit(3)
    return float(os.getpid())


def batch_pids(completions, examples):
    """A batched verifier: one call for the whole batch; stuck when a row says "stuck"."""
    if any(example["answer"] == "stuck" for example in examples):
        re.match(r"(a+)+$", "a" * 40 + "b")
    return [float(os.getpid())] * len(completions)


def sleep_then_pid(completion, example):
    """Sleeps ``example["sleep"]`` seconds: long enough to be sure the parent dies first."""
    time.sleep(float(example.get("sleep", 0)))
    return float(os.getpid())


async def async_pid_if_right(completion, example):
    """An ``async def`` verifier (TRL accepts coroutine reward functions): 1 if right, else 0,
    negated when it ran in another process than the test's (so a test sees where it ran)."""
    reward = float(completion == example["answer"])
    return reward if os.getpid() == int(example["test_pid"]) else -reward - 1
