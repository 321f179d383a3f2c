"""``code``: run the completion's Python program against the row's tests, in the sandbox.

The program is the last fenced ```` ```python ```` block of the completion (an unclosed block at
the end counts, for completions cut off by the length limit), else the last untagged fenced
block, else the whole completion. It runs once, in `rewards.sandbox`, with its tests after it
in the same interpreter (so tests can call the functions it defines).

``example["tests"]`` is either

- a list of snippets, each one test (``["assert add(1, 2) == 3", "assert add(0, 0) == 0"]``), or
- a string of Python, split into its top-level statements. Imports, ``def``/``class`` and
  assignments are setup, run in order but not counted; every other statement (``assert ...``,
  ``check(candidate)``) is one test.

The reward is the fraction of tests passed (``partial_credit=True``, the default) or 1.0/0.0 for
all-or-nothing. A program that fails to run, or runs past its time limit before a test
finishes, fails the tests it did not finish.
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rewards.registry import register_verifier
from rewards.sandbox import SandboxLimits, ensure_sandbox_available, run_python

HARNESS = Path(__file__).with_name("code_harness.py").read_text()

_FENCED_BLOCK = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "python3", "py"}
_SETUP_STATEMENTS = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
)


def extract_program(completion: str) -> str:
    """The Python program in ``completion`` (see the module docstring for the rule)."""
    blocks = [(tag.lower(), body) for tag, body in _FENCED_BLOCK.findall(completion)]
    for wanted in (_PYTHON_TAGS, {""}):
        chosen = [body for tag, body in blocks if tag in wanted]
        if chosen:
            return chosen[-1]
    return completion


def split_tests(tests: str | Sequence[str]) -> list[dict]:
    """``tests`` as harness entries ``{"code": str, "counted": bool}``.

    Raises:
        ValueError: when a string of tests is not valid Python.
    """
    if isinstance(tests, str):
        try:
            tree = ast.parse(tests)
        except SyntaxError as err:
            raise ValueError(f"example tests are not valid Python: {err}") from err
        return [
            {
                "code": ast.get_source_segment(tests, node) or ast.unparse(node),
                "counted": not isinstance(node, _SETUP_STATEMENTS),
            }
            for node in tree.body
        ]
    return [{"code": str(test), "counted": True} for test in tests]


def score_program(
    program: str,
    tests: str | Sequence[str],
    partial_credit: bool = True,
    limits: SandboxLimits | None = None,
) -> float | None:
    """Run ``program`` with ``tests`` in the sandbox; the reward (see the module docstring).

    Returns `None` when ``tests`` holds no test.
    """
    entries = split_tests(tests)
    counted = sum(entry["counted"] for entry in entries)
    if counted == 0:
        return None
    marker = secrets.token_hex(16)
    result = run_python(
        HARNESS,
        files={
            "solution.py": program,
            "tests.json": json.dumps({"marker": marker, "tests": entries}),
        },
        limits=limits,
    )
    passed = set()
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == marker and parts[2] == "pass":
            passed.add(parts[1])
    if partial_credit:
        return len(passed) / counted
    return 1.0 if len(passed) == counted else 0.0


# Inline: the programs already run in killable sandbox processes with their own wall-clock
# limits; what runs here is parsing and waiting. In a pool worker, a killed worker would leave
# its sandbox processes behind until their own limits end them.
@register_verifier("code", batched=True, isolation="inline")
def code(
    completions: Sequence[str],
    examples: Sequence[Mapping],
    tests_field: str = "tests",
    partial_credit: bool = True,
    timeout_s: float = 5.0,
    memory_mb: int = 1024,
    max_workers: int | None = None,
) -> list[float | None]:
    """Fraction of each row's tests its completion's program passes (see the module docstring).

    Programs run in parallel, each in its own sandbox (`rewards.sandbox.run_python`).

    Args:
        completions (`Sequence[str]`):
            The model's completions.
        examples (`Sequence[Mapping]`):
            The dataset rows; ``example[tests_field]`` holds the tests. A row without tests is
            not scored (`None`).
        tests_field (`str`, *optional*, defaults to `"tests"`):
            Column holding the tests.
        partial_credit (`bool`, *optional*, defaults to `True`):
            Reward the fraction of tests passed; `False` gives 1.0 only when all pass.
        timeout_s (`float`, *optional*, defaults to `5.0`):
            Wall-clock limit per program (its CPU-time limit is the same, rounded up).
        memory_mb (`int`, *optional*, defaults to `1024`):
            Address-space limit per program, in MiB.
        max_workers (`int`, *optional*):
            Programs run at once; defaults to the number of CPUs.

    Raises:
        SandboxUnavailableError: when the sandbox cannot be built on this machine (nothing runs
            unsandboxed).
    """
    ensure_sandbox_available()
    limits = SandboxLimits(
        wall_time_s=timeout_s,
        cpu_time_s=max(1, int(-(-timeout_s // 1))),
        memory_bytes=memory_mb << 20,
    )

    def score(completion: str, example: Mapping) -> float | None:
        tests = example.get(tests_field)
        if tests is None:
            return None
        return score_program(extract_program(completion), tests, partial_credit, limits)

    if not completions:
        return []
    executor = ThreadPoolExecutor(max_workers=max_workers or os.cpu_count() or 1)
    try:
        return list(executor.map(score, completions, examples))
    finally:
        # Interrupted by the adapter's time limit: drop queued programs; running ones end on
        # their own sandbox limits.
        executor.shutdown(wait=False, cancel_futures=True)
