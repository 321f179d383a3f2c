"""``format``: whether the completion has the required shape (a regular expression)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from rewards.registry import register_verifier

THINK_ANSWER_PATTERN = r"^<think>.*?</think>\s*<answer>.*?</answer>$"


@functools.lru_cache(maxsize=64)
def _compile(pattern: str, flags: int) -> re.Pattern:
    return re.compile(pattern, flags)


@register_verifier("format", isolation="inline")
def format_match(completion: str, example: Mapping, pattern: str = THINK_ANSWER_PATTERN, dotall: bool = True) -> float:
    """1.0 when ``pattern`` matches the completion (from its start), else 0.0.

    The default pattern asks for ``<think>...</think>`` followed by ``<answer>...</answer>`` and
    nothing else. Leading and trailing whitespace of the completion is ignored.

    Args:
        completion (`str`):
            The model's completion.
        example (`Mapping`):
            The dataset row (unused).
        pattern (`str`, *optional*, defaults to `THINK_ANSWER_PATTERN`):
            Regular expression, applied with `re.match`; anchor it with ``$`` to require a full
            match.
        dotall (`bool`, *optional*, defaults to `True`):
            Compile with `re.DOTALL`, so that ``.`` also matches newlines.
    """
    regex = _compile(pattern, re.DOTALL if dotall else 0)
    return 1.0 if regex.match(completion.strip()) else 0.0
