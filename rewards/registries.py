"""One kind of registry for everything rlvr finds by name.

`Registry` (in the style of lm-evaluation-harness's): a name maps to an object, or lazily to a
``"package.module:attr"`` string imported the first time the name is asked for (so that naming
the influence scorer does not import the gradient library). One set of verbs: `register`,
`get`, `names`, ``in``. An unknown name raises the registry's error with the close names and the
known ones.

The registries themselves: verifiers (`rewards.registry`), difficulty scorers
(`curricula.difficulty.SCORERS`), selectors (`curricula.selectors.SELECTORS`), data sources and
models (`rlvr.sources`).

It lives in ``rewards`` because that is the bottom layer (rewards <- curricula <- rlvr): every
layer may import it. It is its own module, apart from `rewards.registry` (the verifier registry
and its spec resolution), so that it imports nothing of rlvr's and the verifier module keeps
its public names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

# The "did you mean" and the unknown-key check are `rewards.config_types`'; re-exported here,
# where the registries and older code import them.
from rewards.config_types import check_known_keys, close_names, did_you_mean, unknown_keys_message

__all__ = ["Registry", "check_known_keys", "close_names", "did_you_mean", "import_target", "unknown_keys_message"]

T = TypeVar("T")


def import_target(target: str):
    """The attribute ``"package.module:attr"`` names (``attr`` may be dotted)."""
    module_name, _, attribute = target.partition(":")
    value = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


class Registry(Generic[T]):
    """Names -> objects of one kind, some imported on first use.

    Args:
        kind (`str`): what the entries are, for messages (``"scorer"``, ``"data source"``).
        error (`type`, *optional*, defaults to `KeyError`): raised by `get` for an unknown name.
        hint (`str`, *optional*): appended to the unknown-name message (other spec forms).
    """

    def __init__(self, kind: str, error: type[Exception] = KeyError, hint: str = ""):
        self.kind = kind
        self.error = error
        self.hint = hint
        self._entries: dict[str, T | str] = {}  # a str value is a lazy "module:attr" target

    def register(
        self, name: str, obj: T | None = None, *, lazy: str | None = None, describe: Callable[[object], str] = repr
    ):
        """Register ``obj`` (or, with ``lazy="module:attr"``, what that names, imported on first
        `get`) under ``name``. Without either it is a decorator. Registering the same object twice
        is a no-op; another object under a taken name is a `ValueError`."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"A {self.kind} name must be a non-empty string, got {name!r}.")
        if lazy is not None:
            self._put(name, lazy, describe)
            return None
        if obj is None:

            def decorate(value):
                self._put(name, value, describe)
                return value

            return decorate
        self._put(name, obj, describe)
        return obj

    def _put(self, name: str, value, describe: Callable[[object], str]) -> None:
        existing = self._entries.get(name)
        if isinstance(existing, str) and not isinstance(value, str):
            existing = None  # the lazy target registering itself as it is imported
        if existing is not None and existing is not value and existing != value:
            raise ValueError(
                f"A {self.kind} named '{name}' is already registered ({describe(existing)}); "
                f"cannot register {describe(value)} under the same name."
            )
        self._entries[name] = value

    def get(self, name: str) -> T:
        """The entry registered as ``name`` (importing a lazy one); ``error`` when there is none."""
        if name not in self._entries:
            raise self.error(self.unknown_message(name))
        value = self._entries[name]
        if isinstance(value, str):  # lazy: import once, keep the object
            value = self._entries[name] = import_target(value)
        return value

    def unknown_message(self, name: str, extra: Iterable[str] = ()) -> str:
        known = sorted(set(self._entries) | set(extra))
        return (
            f"Unknown {self.kind} '{name}'.{did_you_mean(name, known, n=3)} "
            f"Known {self.kind}s: {', '.join(known) or '(none)'}.{' ' + self.hint if self.hint else ''}"
        )

    def names(self) -> list[str]:
        """Registered names, sorted (lazy ones included, not imported)."""
        return sorted(self._entries)

    def is_loaded(self, name: str) -> bool:
        return name in self._entries and not isinstance(self._entries[name], str)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def copy(self) -> Registry[T]:
        """A registry with the same entries (tests register into a copy and throw it away)."""
        other = Registry(self.kind, self.error, self.hint)
        other._entries = dict(self._entries)
        return other

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
