"""``exact``: normalised string equality between the completion and the gold answer."""

from __future__ import annotations

import re
from collections.abc import Mapping

from rewards.registry import register_verifier

_WHITESPACE_RUN = re.compile(r"\s+")


def normalize_text(
    text: str,
    strip_chars: str | None = None,
    collapse_whitespace: bool = True,
    casefold: bool = True,
) -> str:
    """``text`` stripped at both ends, whitespace runs made one space, casefolded.

    Args:
        text (`str`):
            Text to normalise.
        strip_chars (`str`, *optional*):
            Characters removed from both ends, as in `str.strip`; whitespace when `None`.
            Whitespace is stripped in every case.
        collapse_whitespace (`bool`, *optional*, defaults to `True`):
            Replace each run of whitespace inside the text with a single space.
        casefold (`bool`, *optional*, defaults to `True`):
            Compare case-insensitively (`str.casefold`).
    """
    text = text.strip()
    if strip_chars is not None:
        text = text.strip(strip_chars).strip()
    if collapse_whitespace:
        text = _WHITESPACE_RUN.sub(" ", text)
    if casefold:
        text = text.casefold()
    return text


@register_verifier("exact", isolation="inline")
def exact(
    completion: str,
    example: Mapping,
    answer_field: str = "answer",
    strip_chars: str | None = None,
    collapse_whitespace: bool = True,
    casefold: bool = True,
) -> float | None:
    """1.0 when the whole completion equals the gold answer after `normalize_text`, else 0.0.

    The whole completion is compared: ``"46"`` matches gold ``"46"``, ``"46 and more"`` does not.

    Args:
        completion (`str`):
            The model's completion.
        example (`Mapping`):
            The dataset row; the gold answer is ``example[answer_field]``.
        answer_field (`str`, *optional*, defaults to `"answer"`):
            Column holding the gold answer. A row without it (or with `None`) is not scored
            (returns `None`).
        strip_chars (`str`, *optional*):
            Extra characters to strip from both ends of both texts (e.g. ``".!"``).
        collapse_whitespace (`bool`, *optional*, defaults to `True`):
            Treat any run of whitespace as one space.
        casefold (`bool`, *optional*, defaults to `True`):
            Compare case-insensitively.
    """
    gold = example.get(answer_field)
    if gold is None:
        return None
    options = {
        "strip_chars": strip_chars,
        "collapse_whitespace": collapse_whitespace,
        "casefold": casefold,
    }
    return 1.0 if normalize_text(completion, **options) == normalize_text(str(gold), **options) else 0.0
