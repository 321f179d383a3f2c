"""Layers import one way: `rewards` <- `curricula` <- `rlvr`.

Every module of the three packages is parsed with `ast`; every import counts, including those
deferred into function bodies and module paths given to `importlib.import_module` / `__import__`
or written as ``"package.module:attr"`` strings (lazy registries). A lower layer may not name a
higher one, so the layers cannot form an import circle either; and no modules may form one
inside a layer (`test_no_import_cycles`), a deferred import included.
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


def import_statements(path: Path, root: Path = ROOT) -> list[tuple[int, str, tuple[str, ...]]]:
    """``(line, module, names)`` for every import the module's source can make: ``names`` are
    those of ``from module import names`` (each may be a submodule), empty for the other forms."""
    module = module_name(path, root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                name = resolve_relative(module, path.name == "__init__.py", node.level, node.module)
            found.append((node.lineno, name, tuple(alias.name for alias in node.names)))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value, ()))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # "package.module:attr", the form lazy registries load with importlib.
            head, colon, attr = node.value.partition(":")
            if colon and attr.isidentifier() and all(p.isidentifier() for p in head.split(".")):
                found.append((node.lineno, head, ()))
            elif "." in node.value and is_module(node.value, root):
                # A bare "package.module" string: the other form (`rlvr.__init__`'s `_EXPORTS`,
                # the cli's `SUBCOMMANDS`). A single word is too often a plain word to count.
                found.append((node.lineno, node.value, ()))
    return found


def is_module(name: str, root: Path = ROOT) -> bool:
    """Whether ``name`` is a module or package of the scanned tree (not a name inside one)."""
    if not all(part.isidentifier() for part in name.split(".")):
        return False
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """``(line, module)`` for every import the module's source can make; ``from package import
    x`` names ``package.x`` when that is a submodule (it imports it), else ``package``."""
    found = []
    for line, name, names in import_statements(path, root):
        submodules = [f"{name}.{n}" if name else n for n in names]
        submodules = [m for m in submodules if is_module(m, root)]
        if not names or len(submodules) < len(names):
            found.append((line, name))
        found += [(line, m) for m in submodules]
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


# --- No import cycles, inside a layer either -------------------------------------------------
#
# The graph has one node per module of the three packages and an edge for every import it can
# make (as above: top-level, deferred into a function, importlib and lazy-registry strings,
# including bare ``"package.module"`` ones such as the cli's `SUBCOMMANDS`). ``from package import
# x`` points at ``package.x`` when that is a submodule; a name a package's ``__init__`` only
# re-exports (``from rewards import make_reward_funcs``) points at the submodule it comes from,
# since that is the module the importer needs. The implicit import of a parent package is not
# an edge: a package ``__init__`` that imports its submodules is no cycle, while a submodule that
# imports from its package a name the ``__init__`` itself defines (or does ``import package``)
# is one when that ``__init__`` imports the submodule back, and is reported.

# Cycles that exist today and are being removed; each must still be real (so the entry goes
# when its cycle does). Everything else must be cycle-free.
KNOWN_CYCLES: set[frozenset[str]] = set()  # none left (rlvr.compare arms <-> config: split by probe_arms)


def scanned_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for layer in LAYERS for p in sorted((root / layer).rglob("*.py"))}


def reexports(path: Path, root: Path = ROOT) -> dict[str, str]:
    """``name -> "module.name"`` for each ``from module import name`` at a package's top level."""
    package = module_name(path, root)
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.ImportFrom):
            source = resolve_relative(package, True, node.level, node.module) if node.level else node.module
            found.update({alias.asname or alias.name: f"{source}.{alias.name}" for alias in node.names})
    return found


def defining_module(name: str, modules: dict[str, Path], root: Path = ROOT) -> str | None:
    """The scanned module that ``name`` (a module, or ``module.attribute``) is loaded from,
    following package re-exports; None when it is outside the scanned packages."""
    seen = set()
    while name not in seen:
        seen.add(name)
        parts = name.split(".")
        prefixes = [".".join(parts[:n]) for n in range(len(parts), 0, -1)]
        owner = next((p for p in prefixes if p in modules), None)
        if owner is None or owner == name:
            return owner
        attribute, rest = parts[owner.count(".") + 1], parts[owner.count(".") + 2 :]
        source = reexports(modules[owner], root).get(attribute) if modules[owner].name == "__init__.py" else None
        if source is None:
            return owner  # the package's __init__ (or the module) defines the name itself
        name = ".".join([source, *rest])
    return None  # re-exports that go round in a circle: let Python report that


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the scanned modules it imports."""
    modules = scanned_modules(root)
    graph = {}
    for module, path in modules.items():
        wanted = [f"{name}.{n}" if name else n for _, name, names in import_statements(path, root) for n in names]
        wanted += [name for _, name, names in import_statements(path, root) if not names]
        graph[module] = {m for m in (defining_module(w, modules, root) for w in wanted) if m is not None}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module, and modules importing themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = set()

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = {stack.pop()}
            while module not in component:
                component.add(stack.pop())
            if len(component) > 1 or module in graph.get(module, ()):
                cycles.add(frozenset(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def describe(cycles: set[frozenset[str]]) -> list[str]:
    return sorted(" <-> ".join(sorted(cycle)) for cycle in cycles)


def cycle_imports(cycle: frozenset[str], graph: dict[str, set[str]]) -> str:
    """The imports that close ``cycle``: ``a -> b, c; b -> a``."""
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & cycle))}" for m in sorted(cycle))


def test_no_import_cycles():
    """No module imports one that (directly or through others) imports it back, but the known ones."""
    graph = import_graph(ROOT)
    cycles = import_cycles(graph)
    # A function-body import only hides a cycle: move what both need into the lower module.
    new = sorted(cycle_imports(cycle, graph) for cycle in cycles - KNOWN_CYCLES)
    assert not new, "import cycles (module -> the modules of its cycle it imports):\n  " + "\n  ".join(new)
    fixed = describe(KNOWN_CYCLES - cycles)
    assert not fixed, "no longer cycles, take them off KNOWN_CYCLES:\n  " + "\n  ".join(fixed)


def test_the_cycle_scan_resolves_submodules_and_reexports(tmp_path):
    """The checker itself: a cycle hidden in a function body, ``from package import submodule``,
    an importlib string and a self-import are cycles; a package re-exporting its submodules is not."""
    files = {
        "rewards/__init__.py": "from rewards.a import A\nDEFINED = 1\n",
        "rewards/a.py": "def f():\n    from rewards import b\nA = 1\n",
        "rewards/b.py": "from rewards.a import A\n",  # a <-> b, hidden in a function body
        "rewards/c.py": "from rewards import A\n",  # re-exported by __init__: an edge to a, no cycle
        "curricula/__init__.py": "",
        "curricula/d.py": "import importlib\nimportlib.import_module('curricula.e')\n",
        "curricula/e.py": "LAZY = {'d': 'curricula.d:run'}\n",  # d <-> e, through importlib strings
        "rlvr/__init__.py": "from rlvr import f\nNAME = 1\n",
        "rlvr/f.py": "from rlvr import NAME\n",  # defined by __init__ itself: rlvr <-> rlvr.f
        "rlvr/g.py": "from . import g\nimport torch\n",  # itself; outside modules are not nodes
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert imported_modules(tmp_path / "rewards" / "a.py", tmp_path) == [(2, "rewards.b")]  # not "rewards"
    graph = import_graph(tmp_path)
    assert graph["rewards.c"] == {"rewards.a"}
    assert graph["rlvr.g"] == {"rlvr.g"}
    assert (
        cycle_imports(frozenset({"rewards.a", "rewards.b"}), graph) == "rewards.a -> rewards.b; rewards.b -> rewards.a"
    )
    assert describe(import_cycles(graph)) == [
        "curricula.d <-> curricula.e",
        "rewards.a <-> rewards.b",
        "rlvr <-> rlvr.f",
        "rlvr.g",
    ]
