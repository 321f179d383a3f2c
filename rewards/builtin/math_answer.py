"""``math``: mathematical equivalence of the final answer, judged by math-verify.

Needs the ``math`` extra (``pip install 'rlvr[math]'``), which installs ``math-verify``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from rewards.registry import register_verifier


@register_verifier("math")
def math_answer(
    completion: str,
    example: Mapping,
    answer_field: str = "answer",
    gold_delimiter: str | None = None,
    parsing_timeout_s: int = 5,
    verify_timeout_s: int = 5,
) -> float | None:
    """1.0 when the completion's answer equals the gold answer mathematically, else 0.0.

    math-verify extracts the answer from the completion (``\\boxed{...}`` first, then LaTeX or
    plain expressions; the last one found wins) and compares it symbolically and numerically:
    ``"0.5"``, ``"1/2"``, ``"$\\frac{1}{2}$"`` and ``"\\boxed{\\frac{2}{4}}"`` are all equal. A
    completion with no parseable answer scores 0.0.

    Args:
        completion (`str`):
            The model's completion.
        example (`Mapping`):
            The dataset row; the gold answer is ``example[answer_field]``, plain (``"1/2"``) or
            LaTeX (``"\\frac{1}{2}"``, with or without ``$``).
        answer_field (`str`, *optional*, defaults to `"answer"`):
            Column holding the gold answer. A row without it is not scored (returns `None`).
        gold_delimiter (`str`, *optional*):
            When set and present in the gold text, only the text after its last occurrence is
            the gold answer: ``"####"`` for GSM8K, whose answers are ``"reasoning #### 42"``
            (a phrase like "the answer is 15" in the reasoning would otherwise win).
        parsing_timeout_s (`int`, *optional*, defaults to `5`):
            math-verify's own limit for parsing each text, in whole seconds. math-verify
            enforces it with ``signal.alarm``, which only works in the main thread; elsewhere it
            is not applied (the adapter's `VerifierSpec.timeout_s` still is).
        verify_timeout_s (`int`, *optional*, defaults to `5`):
            math-verify's own limit for the comparison, likewise.

    Raises:
        ValueError: when the gold answer cannot be parsed (a dataset problem, reported as a
            verifier error rather than scored 0).
    """
    from math_verify import parse, verify

    gold_text = example.get(answer_field)
    if gold_text is None:
        return None
    gold_text = str(gold_text)
    if gold_delimiter and gold_delimiter in gold_text:
        gold_text = gold_text.rsplit(gold_delimiter, 1)[1].strip()
    if threading.current_thread() is not threading.main_thread():
        # math-verify raises ValueError if asked for its signal-based timeouts off the main thread.
        parsing_timeout_s = verify_timeout_s = None
    gold = parse(gold_text, parsing_timeout=parsing_timeout_s)
    if not gold and "$" not in gold_text:
        # Bare LaTeX/algebra such as "x^2+2x+1" is only recognised between math delimiters.
        gold = parse(f"${gold_text}$", parsing_timeout=parsing_timeout_s)
    if not gold:
        raise ValueError(f"math-verify could not parse the gold answer {gold_text!r}")
    predicted = parse(completion, parsing_timeout=parsing_timeout_s)
    if not predicted:
        return 0.0
    return 1.0 if verify(gold, predicted, timeout_seconds=verify_timeout_s) else 0.0
