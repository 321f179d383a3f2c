"""Strict, typed config values: each YAML value is checked (and safely converted) against the type
annotation of the dataclass field it sets, before anything is built.

YAML decides a value's type by its spelling: ``1e-3`` is a *string* (YAML 1.1 wants ``1.0e-3``),
and so are ``ten`` and ``maybe``. Passed on unchecked they crash deep inside torch or transformers
after the model has loaded, or are silently taken as true. `build_dataclass` checks every field of
every section (rlvr's own, TRL's `GRPOConfig` and `ModelConfig`, the curricula's nested configs,
`rewards.VerifierSpec`) and raises `ConfigError` naming the dotted key, the value and the type::

    grpo.max_steps: expected an integer, got 'ten'

The only conversions are those that cannot change what the user meant:

- integer field: an int; a float or a number string with an integral value (``5.0``, ``"5"``,
  ``"1e4"``).
- float field: an int or a float; a number string (``"1e-3"`` -> 0.001).
- bool field: ``true``/``false`` only (YAML's ``yes``/``no``/``on``/``off`` already are booleans).
  ``0``/``1`` and strings such as ``"maybe"`` are errors: a typo must not mean "on".
- str field: a string, or an integer (``revision: 2024`` -> ``"2024"``). Booleans and floats are
  errors, since ``yes`` and ``1.10`` would silently become ``"True"`` and ``"1.1"``.
- ``None`` (and the ``None`` of ``X | None``): ``null``.
- `Literal` and `Enum`: one of the listed values.
- ``X | Y``: the first member the value already is, else the first member it converts to; so
  ``SchedulerType | str`` keeps a string, which transformers then checks itself.
- ``list[T]``, ``tuple[T, ...]``, ``dict[K, V]``: every item checked, its index or key added to
  the dotted name.
- a nested dataclass: a mapping, built recursively with the same checks.
- ``Any`` and other classes: passed through unchanged (the class checks them itself).

Range checks (``confidence`` in (0, 1), ...) stay in each dataclass's ``__post_init__``; their
`ValueError` becomes a `ConfigError` naming the section.

The one unknown-key check (`unknown_keys_message`, with its "did you mean") and the one close-name
suggestion (`close_names`, `did_you_mean`, also used by every `rewards.registries.Registry`) live
here too. This module is in ``rewards``, the bottom layer (rewards <- curricula <- rlvr), so
that every config of every layer (``rlvr``'s run config, ``rlvr compare``'s, the curricula's,
``compat:``) is built by the same code; ``rlvr.config_types`` re-exports it.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Union

from rewards.base import UserInputError

# A decimal or scientific number as YAML 1.1 leaves it a string ("1e-3", "5.", ".5").
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
# Sections with at most this many keys list them all in an unknown-key message; a bigger one
# (GRPOConfig has ~200) names only the close matches.
_LIST_ALL_KEYS_UP_TO = 12


class ConfigError(UserInputError):
    """A config file or override that cannot be used; the message names the key or file."""


# --------------------------------------------------------------------------------------------
# One value against one annotation


def coerce_value(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against the annotation ``hint`` (converted where safe, see the module
    docstring); a `ConfigError` naming ``key`` (the dotted config key) if it does not fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin in (Union, types.UnionType):
        return _coerce_union(value, args, hint, key)
    if hint is None or hint is type(None):
        return _expect(value is None, value, value, hint, key)
    if origin is Literal:
        return _expect(any(_same(value, a) for a in args), value, value, hint, key)
    if hint in _SCALARS:
        converted = _SCALARS[hint](value)
        return _expect(converted is not _NO_FIT, converted, value, hint, key)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _coerce_enum(value, hint, key)
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        return _coerce_sequence(value, origin or hint, args, hint, key)
    if origin is dict or hint is dict:
        return _coerce_mapping(value, args, hint, key)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if isinstance(value, Mapping):
            return build_dataclass(hint, value, key)
        raise _mismatch(value, hint, key)
    return value  # a class rlvr does not know (a callable, a torch dtype): its owner checks it


_NO_FIT = object()


def _to_bool(value):
    return value if isinstance(value, bool) else _NO_FIT


def _to_int(value):
    if isinstance(value, bool):
        return _NO_FIT
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER.fullmatch(text):
            return int(text)  # not via float: exact for any size
        if _NUMBER.fullmatch(text) and float(text).is_integer():
            return int(float(text))
    return _NO_FIT


def _to_float(value):
    if isinstance(value, bool):
        return _NO_FIT
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return _NO_FIT


def _to_str(value):
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _NO_FIT


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _same(value, allowed) -> bool:
    """Equal and of the same type (``True == 1``, but ``1`` is not the literal ``True``)."""
    return type(value) is type(allowed) and value == allowed


def _coerce_union(value, members, hint, key):
    # A member the value already is wins (``int | str`` keeps "5" a string); its errors are the
    # precise ones (a bad item of a list). Otherwise the first member it converts to.
    for member in members:
        if _already_is(value, member):
            return coerce_value(value, member, key)
    for member in members:
        try:
            return coerce_value(value, member, key)
        except ConfigError:
            continue
    raise _mismatch(value, hint, key)


def _already_is(value, hint) -> bool:
    origin = typing.get_origin(hint) or hint
    if hint is None or hint is type(None):
        return value is None
    if origin is Literal:
        return any(_same(value, a) for a in typing.get_args(hint))
    if hint is float:
        return type(value) is float
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return isinstance(value, (hint, Mapping))
    return isinstance(origin, type) and isinstance(value, origin)


def _coerce_enum(value, cls, key):
    if isinstance(value, cls):
        return value
    for member in cls:
        if _same(value, member.value):
            return member
    raise _mismatch(value, cls, key)


def _coerce_sequence(value, container, args, hint, key):
    if not isinstance(value, (list, tuple)):
        raise _mismatch(value, hint, key)
    if not args or args == ((),):
        items = list(value)
    elif container is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        if len(value) != len(args):
            raise _mismatch(value, hint, key)
        items = [coerce_value(v, a, f"{key}.{i}") for i, (v, a) in enumerate(zip(value, args))]
    else:
        items = [coerce_value(v, args[0], f"{key}.{i}") for i, v in enumerate(value)]
    return tuple(items) if container is tuple else container(items) if container in (set, frozenset) else items


def _coerce_mapping(value, args, hint, key):
    if not isinstance(value, Mapping):
        raise _mismatch(value, hint, key)
    key_hint, value_hint = args if len(args) == 2 else (Any, Any)
    return {
        coerce_value(k, key_hint, f"{key}.{k}"): coerce_value(v, value_hint, f"{key}.{k}") for k, v in value.items()
    }


def _expect(fits: bool, converted, value, hint, key):
    if not fits:
        raise _mismatch(value, hint, key)
    return converted


def _mismatch(value, hint, key) -> ConfigError:
    return ConfigError(f"{key}: expected {describe(hint)}, got {value!r}")


def describe(hint) -> str:
    """``int`` -> "an integer", ``float | None`` -> "a number or null", for error messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(a) for a in args))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        return f"a list of {_plural(args[0])}" if args and args != ((),) else "a list"
    if origin is dict or hint is dict:
        return f"a mapping of {_plural(args[1])}" if len(args) == 2 and args[1] is not Any else "a mapping"
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return f"a mapping of {hint.__name__} keys"
    names = {
        type(None): "null",
        None: "null",
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
    }
    return names.get(hint) or f"a {getattr(hint, '__name__', hint)}"


def _plural(hint) -> str:
    plurals = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}
    return plurals.get(hint) or f"items that are each {describe(hint)}"


# --------------------------------------------------------------------------------------------
# A whole dataclass from a mapping


def build_dataclass(
    cls, values: Mapping | None, key: str, field_types: dict | None = None, trusted: dict | None = None
):
    """``cls(**values)`` with every key known and every value checked against its field's type.

    Args:
        cls: The dataclass to build.
        values: The mapping from YAML (``None`` builds the defaults); an instance of ``cls`` is
            returned as is.
        key: The dotted config key of this mapping (``"curricula.frontier"``), for messages.
        field_types: Annotations that replace the declared ones, for fields typed ``Any`` whose
            real type lives in a package the declaring one may not import.
        trusted: Values rlvr itself sets (not checked; ``values`` wins over them).
    """
    if isinstance(values, cls):
        return values
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise _mismatch(values, cls, key)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = unknown_keys_message(values, fields, key, cls)
    if unknown is not None:
        raise ConfigError(unknown)
    hints = {**type_hints(cls), **(field_types or {})}
    kwargs = {
        **(trusted or {}),
        **{name: coerce_value(value, hints.get(name, Any), f"{key}.{name}") for name, value in values.items()},
    }
    for name in values:
        _check_choices(fields[name], kwargs[name], f"{key}.{name}")
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}: missing required key '{name}'.")
    try:
        return cls(**kwargs)
    except UserInputError:
        raise  # already a user's error of its own kind (an unknown verifier or toy world), named
    except (TypeError, ValueError, ArithmeticError) as err:  # the class's own range and consistency checks
        # ArithmeticError: GRPOConfig divides by num_generations before checking it (0 gave a
        # ZeroDivisionError traceback).
        raise ConfigError(f"Invalid '{key}' section: {err}") from err


def _check_choices(f: dataclasses.Field, value: Any, key: str) -> None:
    """Hugging Face dataclasses list a string field's allowed values in ``metadata["choices"]``
    (``ModelConfig.dtype``) but do not check them: ``dtype: float99`` failed as
    ``module 'torch' has no attribute 'float99'`` when the model loaded."""
    choices = f.metadata.get("choices") if f.metadata else None
    if choices is None or value is None or isinstance(value, (list, dict)):
        return
    try:
        allowed = list(choices)
    except TypeError:
        return
    if value not in allowed:
        raise ConfigError(f"{key}: expected one of {', '.join(map(str, allowed))}, got {value!r}")


@functools.cache
def type_hints(cls) -> dict[str, Any]:
    """The resolved field annotations of ``cls`` (strings under ``from __future__ import
    annotations`` resolved); a field whose annotation cannot be resolved is taken as ``Any``."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - one unresolvable name must not leave the whole class unchecked
        namespace = vars(sys.modules[cls.__module__])
        hints = {}
        for f in dataclasses.fields(cls):
            try:
                hints[f.name] = eval(f.type, namespace) if isinstance(f.type, str) else f.type  # noqa: S307
            except Exception:  # noqa: BLE001
                hints[f.name] = Any
        return hints


# --------------------------------------------------------------------------------------------
# The one "did you mean" and the one unknown-key check


def close_names(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The candidates closest to ``word`` (difflib's ratio >= 0.6), closest first."""
    return difflib.get_close_matches(word, sorted(candidates), n=n, cutoff=0.6)


def did_you_mean(word: str, candidates: Iterable[str], n: int = 1) -> str:
    """``" Did you mean 'x'?"`` (or ``'x' or 'y'`` with ``n`` > 1), or ``""`` when nothing is close."""
    close = close_names(word, candidates, n=n)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def unknown_keys_message(values: Mapping | Iterable, known: Iterable[str], section: str, cls=None) -> str | None:
    """The message for the keys of ``values`` not in ``known``, or `None` when every key is known.

    One sentence per unknown key, "Unknown key 'grpo.lerning_rate'. Did you mean
    'learning_rate'?", then the section's keys when it has only a few (GRPOConfig's ~200 would
    bury the answer), or where to find them when nothing was close. ``cls`` names the class
    whose documentation lists a big section's keys."""
    known = sorted(known)
    unknown = [str(k) for k in values if k not in known]
    if not unknown:
        return None
    message, any_close = "", False
    for key in unknown:
        close = close_names(key, known, n=3)
        message += f" Unknown key '{section}.{key}'."
        if close:
            any_close = True
            message += f" Did you mean '{close[0]}'?"
            if len(close) > 1:
                message += f" (Also close: {', '.join(repr(c) for c in close[1:])}.)"
    if len(known) <= _LIST_ALL_KEYS_UP_TO:
        message += f" Known keys of '{section}': {', '.join(known)}."
    elif not any_close:
        message += f" '{section}' has {len(known)} keys; see the {getattr(cls, '__name__', section)} documentation."
    return message.lstrip()


def unknown_key_message(section: str, key: str, known: Iterable[str], cls=None) -> str:
    """`unknown_keys_message` for one key known to be unknown."""
    return unknown_keys_message([key], known, section, cls) or ""


def check_known_keys(
    values: Mapping | Iterable, known: Iterable[str], section: str, error: type[Exception] = ConfigError
) -> None:
    """Raise ``error`` with `unknown_keys_message` when ``values`` has a key not in ``known``."""
    message = unknown_keys_message(values, known, section)
    if message is not None:
        raise error(message)
