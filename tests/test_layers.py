"""Layers import one way: `rewards` <- `curricula` <- `rlvr`.

Every module of the three packages is parsed with `ast`; every import counts, including those
deferred into function bodies and module paths given to `importlib.import_module` / `__import__`
or written as ``"package.module:attr"`` strings (lazy registries). A lower layer may not name a
higher one, so the layers cannot form an import circle either.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("rewards", "curricula", "rlvr")  # lowest first


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """``(line, module)`` for every import the module's source can make."""
    module = module_name(path, root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                name = resolve_relative(module, path.name == "__init__.py", node.level, node.module)
            if node.module is None:  # ``from . import x`` imports the module ``package.x``
                found += [(node.lineno, f"{name}.{alias.name}" if name else alias.name) for alias in node.names]
            else:
                found.append((node.lineno, name))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # "package.module:attr", the form lazy registries load with importlib.
            head, colon, attr = node.value.partition(":")
            if colon and attr.isidentifier() and all(p.isidentifier() for p in head.split(".")):
                found.append((node.lineno, head))
    return found


def upward_imports(root: Path) -> list[str]:
    """``file:line imports module`` for every import of a higher layer by a lower one."""
    bad = []
    for rank, layer in enumerate(LAYERS):
        higher = LAYERS[rank + 1 :]
        for path in sorted((root / layer).rglob("*.py")):
            for line, name in imported_modules(path, root):
                if name.split(".")[0] in higher:
                    bad.append(f"{path.relative_to(root)}:{line} imports {name}")
    return sorted(set(bad))


def test_no_layer_imports_a_higher_one():
    assert upward_imports(ROOT) == []


def test_the_scan_sees_deferred_imports_and_importlib_strings(tmp_path):
    """The checker itself: a function-body import, an importlib path and a 'module:attr' string
    in curricula, plain imports in rewards, are each reported with their line; rlvr may import both."""
    (tmp_path / "curricula").mkdir()
    (tmp_path / "rewards").mkdir()
    (tmp_path / "rlvr").mkdir()
    (tmp_path / "curricula" / "a.py").write_text(
        "import importlib\n"
        "def f():\n"
        "    from rlvr.data import DataError\n"
        "LAZY = {'x': 'rlvr.influence.scorer:InfluenceScorer'}\n"
        "importlib.import_module('rlvr.toy')\n"
        "from rewards import base\n"
    )
    (tmp_path / "rewards" / "b.py").write_text("import curricula.base\nimport rlvr\n")
    (tmp_path / "rlvr" / "c.py").write_text("from curricula import base\nimport rewards\n")
    assert upward_imports(tmp_path) == [
        "curricula/a.py:3 imports rlvr.data",
        "curricula/a.py:4 imports rlvr.influence.scorer",
        "curricula/a.py:5 imports rlvr.toy",
        "rewards/b.py:1 imports curricula.base",
        "rewards/b.py:2 imports rlvr",
    ]


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_importing_a_lower_layer_loads_no_higher_one(layer):
    """At run time too: importing every module of a layer leaves the higher layers unloaded."""
    modules = sorted(module_name(p) for p in (ROOT / layer).rglob("*.py"))
    code = (
        f"import importlib, sys\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
        f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & {set(LAYERS)!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            "PATH": "/usr/bin:/bin",
            "HOME": str(Path.home()),
        },
    )
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = [line for line in out.stdout.splitlines() if line.startswith("LOADED ")]
    assert loaded == [f"LOADED {sorted(LAYERS[: LAYERS.index(layer) + 1])}"]
