"""A verifier's return value as a reward, or as the problem with it.

Shared by the inline path (`rewards.adapter`) and the pool workers (`rewards.isolation`), so
both classify a return the same way. It is its own module so that neither has to import the
other for it: `rewards.adapter` imports `rewards.isolation`, and the worker used to import the
adapter back from a function body, an import cycle.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any


def as_reward(value: Any) -> tuple[float | None, str | None]:
    """``(reward, None)`` for an acceptable verifier return, ``(None, problem)`` otherwise."""
    if value is None:
        return None, None
    if not isinstance(value, numbers.Real) and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        # A NumPy scalar that is not Real (np.bool_) or a 0-d array/tensor: TRL takes these.
        value = value.item()
    if isinstance(value, numbers.Real):
        reward = float(value)
        if math.isfinite(reward):
            return reward, None
        return (
            None,
            f"returned {reward}; a reward must be finite (return None for 'not applicable')",
        )
    return None, f"returned {short_repr(value)}; expected a number or None"


def classify_batch(values: Any, count: int) -> tuple:
    """A batched verifier's return as an outcome: ``("ok", [(reward, problem), ...])``, or
    ``("bad_return", "TypeError", message)`` when it is not a list of ``count`` values. Used
    inline and in pool workers (`rewards.isolation`), so both report the same way."""
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != count:
        return (
            "bad_return",
            "TypeError",
            f"expected a list of {count} rewards, got {short_repr(values)}",
        )
    return ("ok", [as_reward(value) for value in values])


def short_repr(value: Any) -> str:
    """The value's type and the start of its ``repr``, for messages."""
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"
