"""Package functions stay at most 60 lines (the docstring not counted), so each can be read whole.

`ALLOWED` lists the ones that still exceed it, with their length today: it may only shrink. A
function that grows past its figure, or a new long one, fails; one that got short enough must be
taken off the list (so the list never holds a stale entry).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rewards", "curricula", "rlvr")
LIMIT = 60

# "path:qualified name" -> its length now, for a function that cannot be split yet.
ALLOWED: dict[str, int] = {}  # empty since 2026-12-03: every package function is at most 60 lines


def function_lengths() -> dict[str, int]:
    """``"path:Class.function"`` -> lines from ``def`` to the end, less the docstring's lines."""
    lengths = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            _walk(tree, [], path.relative_to(ROOT).as_posix(), lengths)
    return lengths


def _walk(node, scope: list[str], where: str, lengths: dict) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            name = ".".join([*scope, child.name])
            lengths[f"{where}:{name}"] = _length(child)
            _walk(child, [*scope, child.name], where, lengths)
        elif isinstance(child, ast.ClassDef):
            _walk(child, [*scope, child.name], where, lengths)


def _length(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    total = func.end_lineno - func.lineno + 1
    first = func.body[0]
    if (
        len(func.body) > 1
        and isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        total -= func.body[1].lineno - first.lineno
    return total


def test_the_measure_counts_code_not_the_docstring():
    tree = ast.parse('def f():\n    """Doc\n\n    more."""\n    a = 1\n    return a\n')
    assert _length(tree.body[0]) == 3  # def line + two statements


def test_no_package_function_is_longer_than_60_lines_but_the_listed_ones():
    lengths = function_lengths()
    too_long = {name: n for name, n in lengths.items() if n > LIMIT and name not in ALLOWED}
    assert not too_long, f"functions over {LIMIT} lines (split them): {too_long}"
    grown = {name: (lengths.get(name), allowed) for name, allowed in ALLOWED.items() if lengths.get(name, 0) > allowed}
    assert not grown, f"listed functions grew past their figure (now, listed): {grown}"
    fixed = [name for name in ALLOWED if lengths.get(name, 0) <= LIMIT]
    assert not fixed, f"now at most {LIMIT} lines (or gone): take them off ALLOWED: {fixed}"
