"""Where verifiers are found by name.

`get_verifier` resolves a spec string, in this order:

1. a name registered with `@register_verifier` (the built-ins: ``exact``, ``math``, ``format``,
   ``choice``, ``code``, ``reasoning_gym``: its package is imported lazily, on first score);
2. ``package.module:function``, imported like any module;
3. ``path/to/file.py:function``, loaded from the file without packaging it (a relative path is
   taken from the current working directory);
4. a name that an installed distribution declares in the ``rlvr.verifiers`` entry-point group,
   loaded the first time the name is asked for and not found. A plugin declares one with::

       [project.entry-points."rlvr.verifiers"]
       sql_match = "my_plugin.verifiers:sql_match"
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from rewards.base import UserInputError
from rewards.registries import Registry, did_you_mean

ENTRY_POINT_GROUP = "rlvr.verifiers"

# Name -> verifier function. Filled by `register_verifier` (built-ins register on `import rewards`).
# Created below, after `UnknownVerifierError`, which its `get` raises.
_VERIFIERS: Registry[Callable]
# Resolved file path -> module, so that two specs naming the same file load it once (loading it
# twice would re-run its `@register_verifier` decorators and trip the duplicate-name check).
_FILE_MODULES: dict[Path, object] = {}

# Attributes set on registered functions; read by `is_batched` and `isolation_default`.
_BATCHED_ATTRIBUTE = "__rlvr_batched__"
_ISOLATION_ATTRIBUTE = "__rlvr_isolation__"
ISOLATION_MODES = ("process", "inline")


class UnknownVerifierError(UserInputError, KeyError):
    """A verifier spec that names nothing: an unknown name, module, file or function.

    A `KeyError` (a failed look-up) and a `UserInputError` (the user's spec is wrong).
    """

    def __str__(self) -> str:
        # KeyError's own __str__ shows the repr of its argument, which quotes the whole message.
        return str(self.args[0]) if self.args else ""


_VERIFIERS = Registry(
    "verifier",
    error=UnknownVerifierError,
    hint="A spec can also be 'package.module:function' or 'path/to/file.py:function'.",
)


def register_verifier(name: str, batched: bool = False, isolation: str | None = None) -> Callable[[Callable], Callable]:
    """Decorator registering a verifier under ``name``.

    Args:
        name (`str`):
            The name a config or `get_verifier` uses. Must not be registered already.
        batched (`bool`, *optional*, defaults to `False`):
            Whether the function takes the whole batch,
            ``(completions: list[str], examples: list[Mapping], **kwargs) -> list[float | None]``,
            instead of one completion, ``(completion: str, example: Mapping, **kwargs)``.
        isolation (`str`, *optional*):
            Where the adapter runs it when its `VerifierSpec.isolation` is `None`:
            ``"process"`` (a worker process that is killed when a call overruns, see
            `rewards.isolation`) or ``"inline"`` (the training process, for cheap pure-Python
            verifiers that cannot get stuck in C code). `None` (the default) means
            ``"process"``.

    Returns:
        The decorator; it returns the function unchanged (apart from the batched and isolation
        markers).

    Example:

    ```python
    @register_verifier("ends_with_period")
    def ends_with_period(completion, example):
        return 1.0 if completion.rstrip().endswith(".") else 0.0
    ```
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"A verifier name must be a non-empty string without ':', got {name!r}.")
    if isolation is not None and isolation not in ISOLATION_MODES:
        raise ValueError(f"Verifier '{name}': isolation must be one of {ISOLATION_MODES} or None, got {isolation!r}.")

    def decorator(func: Callable) -> Callable:
        _VERIFIERS.register(name, func, describe=_describe)  # raises before the markers are set
        setattr(func, _BATCHED_ATTRIBUTE, batched)
        setattr(func, _ISOLATION_ATTRIBUTE, isolation)
        return func

    return decorator


def is_batched(verifier: Callable) -> bool:
    """Whether ``verifier`` was registered with ``batched=True`` (takes the whole batch)."""
    return bool(getattr(verifier, _BATCHED_ATTRIBUTE, False))


def isolation_default(verifier: Callable) -> str | None:
    """The ``isolation`` ``verifier`` was registered with (`None`: not given, or not registered)."""
    return getattr(verifier, _ISOLATION_ATTRIBUTE, None)


def list_verifiers() -> list[str]:
    """Sorted names `get_verifier` accepts: registered ones and not-yet-loaded entry points."""
    return sorted(set(_VERIFIERS.names()) | {entry.name for entry in _entry_points()})


def get_verifier(spec: str) -> Callable:
    """The verifier function a spec string names.

    Args:
        spec (`str`):
            A registered name (``"math"``), ``"package.module:function"``,
            ``"path/to/file.py:function"``, or a name from the ``rlvr.verifiers`` entry-point
            group.

    Returns:
        The function. Use `is_batched` to know which calling convention it follows.

    Raises:
        UnknownVerifierError (a `KeyError`): when nothing matches; the message suggests close
            names and lists the known ones.
    """
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"A verifier spec must be a non-empty string, got {spec!r}.")
    if ":" in spec:
        location, _, attribute = spec.rpartition(":")
        if _looks_like_file(location):
            return _attribute(_load_file(location, spec), attribute, spec)
        return _attribute(_import_module(location, spec), attribute, spec)
    if spec in _VERIFIERS:
        return _VERIFIERS.get(spec)
    loaded = _load_entry_point(spec)
    if loaded is not None:
        return loaded
    raise UnknownVerifierError(_VERIFIERS.unknown_message(spec, extra=list_verifiers()))


def _describe(func: Callable) -> str:
    module = getattr(func, "__module__", None) or "?"
    return f"{module}.{getattr(func, '__qualname__', repr(func))}"


def _looks_like_file(location: str) -> bool:
    return location.endswith(".py") or "/" in location or "\\" in location


class VerifierImportError(UserInputError):
    """The module or file a verifier spec names exists but fails to import (a missing
    dependency, a syntax error, an exception or ``sys.exit`` at import time); the message names
    the file, its line and the error."""


def _import_failure(spec: str, what: str, err: BaseException) -> VerifierImportError:
    """The user's own import error as one message: where in their code it happened and why (a
    traceback would point into importlib)."""
    where = ""
    if isinstance(err, SyntaxError) and err.filename:
        where = f" ({err.filename}, line {err.lineno})"
    else:
        frames = [f for f in traceback.extract_tb(err.__traceback__) if "importlib" not in f.filename]
        if frames:
            where = f" ({frames[-1].filename}, line {frames[-1].lineno})"
    return VerifierImportError(f"Verifier spec '{spec}': importing {what} failed{where}: {type(err).__name__}: {err}")


def _import_module(module_name: str, spec: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        # Only "this module does not exist" is an unknown spec; a module that exists but fails
        # to import (a missing dependency inside it) is reported with its own error.
        if err.name is not None and (module_name + ".").startswith(err.name + "."):
            raise UnknownVerifierError(f"Verifier spec '{spec}': no module named '{module_name}'.") from err
        raise _import_failure(spec, f"module '{module_name}'", err) from err
    except (Exception, SystemExit) as err:  # noqa: BLE001 - any failure of the user's module
        raise _import_failure(spec, f"module '{module_name}'", err) from err


def _load_file(location: str, spec: str):
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    path = path.resolve()
    if path in _FILE_MODULES:
        return _FILE_MODULES[path]
    if not path.is_file():
        raise UnknownVerifierError(f"Verifier spec '{spec}': file '{path}' does not exist.")
    # A unique module name per file: two files both called verifiers.py must not collide.
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    module_name = f"rlvr_verifier_file_{path.stem}_{digest}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise UnknownVerifierError(f"Verifier spec '{spec}': cannot load '{path}' as Python.")
    module = importlib.util.module_from_spec(module_spec)
    # In sys.modules while it runs, as a normal import would be (dataclasses and pickle need it).
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # noqa: BLE001 - SystemExit at import would end the run
        del sys.modules[module_name]
        raise _import_failure(spec, f"'{path}'", err) from err
    except BaseException:
        del sys.modules[module_name]
        raise
    _FILE_MODULES[path] = module
    return module


def _attribute(module, attribute: str, spec: str) -> Callable:
    value = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            public = sorted(name for name, obj in vars(module).items() if callable(obj) and not name.startswith("_"))
            raise UnknownVerifierError(
                f"Verifier spec '{spec}': '{getattr(module, '__name__', module)}' has no "
                f"attribute '{attribute}'.{did_you_mean(attribute, public, n=3)}"
            )
        value = getattr(value, part)
    if not callable(value):
        raise UnknownVerifierError(f"Verifier spec '{spec}': '{attribute}' is not callable.")
    return value


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_point(name: str) -> Callable | None:
    """Load the entry point called ``name``, register it and return it (``None``: no such one)."""
    for entry in _entry_points():
        if entry.name != name:
            continue
        func = entry.load()
        if not callable(func):
            raise TypeError(f"Entry point '{name}' in group '{ENTRY_POINT_GROUP}' ({entry.value}) is not callable.")
        # The target may have registered itself on import (under this or another name).
        if name not in _VERIFIERS or _VERIFIERS.get(name) is not func:
            register_verifier(name, batched=is_batched(func), isolation=isolation_default(func))(func)
        return func
    return None
