"""``choice``: the multiple-choice letter in the completion against the gold letter."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from rewards.registry import register_verifier


@functools.lru_cache(maxsize=16)
def _patterns(letters: str) -> tuple[re.Pattern, ...]:
    """Extraction patterns for ``letters``, most explicit first."""
    upper, lower = re.escape(letters.upper()), re.escape(letters.lower())
    any_case = upper + lower
    return (
        # "The answer is (B)", "Answer: b", "**Answer:** C", "answer is option D". A lower-case
        # letter must end the phrase: "the answer is a bit unclear" names no option.
        re.compile(
            r"(?i:answer)\s*(?:(?i:is)|:|-)?\s*(?:(?i:option|choice)\s*)?[:\-]?\s*[(\[*]*\s*"
            rf"(?:([{upper}])\b|([{lower}])(?=[\s)\]*]*(?:[.,;:!]|$)))",
            re.MULTILINE,
        ),
        # The whole completion is one letter, perhaps decorated: "B", "b.", "(C)", "**D**"
        re.compile(rf"^\W*([{any_case}])\W*$"),
        # A bold or bracketed capital: "**B**", "(B)", "[B]"
        re.compile(rf"\*\*\(?([{upper}])\)?\*\*|\(([{upper}])\)|\[([{upper}])\]"),
    )


def extract_choice(text: str, letters: str = "ABCDEFGHIJ") -> str | None:
    """The chosen letter (upper case) in ``text``, or `None` when none is found.

    Tries, in order: an "answer is / answer:" phrase (any case), a completion that is just the
    letter, a bold or bracketed capital letter. Within a rule the last occurrence wins (models
    restate the options before answering).

    Args:
        text (`str`):
            Text to search.
        letters (`str`, *optional*, defaults to `"ABCDEFGHIJ"`):
            The option letters.
    """
    for pattern in _patterns(letters):
        found = [next(group for group in match.groups() if group) for match in pattern.finditer(text)]
        if found:
            return found[-1].upper()
    return None


@register_verifier("choice", isolation="inline")
def choice(
    completion: str, example: Mapping, answer_field: str = "answer", letters: str = "ABCDEFGHIJ"
) -> float | None:
    """1.0 when the letter chosen in the completion is the gold letter, else 0.0.

    Recognises "The answer is (B)", "B", "**B**", "Answer: b" and similar (see
    `extract_choice`). A completion without a recognisable letter scores 0.0.

    Args:
        completion (`str`):
            The model's completion.
        example (`Mapping`):
            The dataset row; ``example[answer_field]`` holds the gold letter (``"B"``, ``"b"``
            or ``"(B)"``).
        answer_field (`str`, *optional*, defaults to `"answer"`):
            Column holding the gold letter. A row without it is not scored (returns `None`).
        letters (`str`, *optional*, defaults to `"ABCDEFGHIJ"`):
            The option letters.

    Raises:
        ValueError: when the gold answer is not one of ``letters``.
    """
    gold_text = example.get(answer_field)
    if gold_text is None:
        return None
    gold = extract_choice(str(gold_text), letters)
    if gold is None:
        raise ValueError(f"gold answer {gold_text!r} is not one of the letters {letters!r}")
    return 1.0 if extract_choice(completion, letters) == gold else 0.0
