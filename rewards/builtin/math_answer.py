"""``math``: mathematical equivalence of the final answer, judged by math-verify.

Needs the ``math`` extra (``pip install 'rlvr[math]'``), which installs ``math-verify``.

How a gold answer is read (``example[answer_field]``, after ``gold_delimiter``):

- **Bare LaTeX or a plain number** (``2\\sqrt{2}``, ``\\frac{1}{2}``, ``[-1, 4)``, ``x=3``, ``42``,
  ``1,000``, ``-3``): as LaTeX, as if written between ``$...$``, as MATH and NuminaMath store
  their answers. math-verify's own reading of undelimited text takes the first number it finds
  (``2`` of ``2\\sqrt{2}``), so a gold is never handed to it bare.
- **Words** (``Monday``, ``\\text{Monday}``, ``(C)``, ``\\text{(C)}``, ``yes``): letters, spaces,
  hyphens and apostrophes only, once ``\\text{...}``-like wrappers, ``$`` and one pair of outer
  parentheses are removed. These are compared as normalised strings (case, spacing, ``\\text``,
  bold and an option's parentheses ignored) with the completion's stated answer: the content of
  its last box, else what follows its last "answer is" / "answer:" up to a comma or full stop.
  Letters are not algebra here: math-verify would read ``no`` as the product ``n*o``, equal to
  ``on``. An option that states its value (``\\textbf{(B) } 7``) also accepts the value.
- **Text with math delimiters or prose** (``$\\frac{1}{2}$``, ``... \\boxed{5}``, a worked
  solution over several lines or sentences): read like a completion, below.

How a completion is read: math-verify's extraction (``\\boxed{...}`` first, then "final answer"
and "answer:" phrases, then the last LaTeX or number), except that only the LAST complete
``\\boxed{...}`` / ``\\fbox{...}`` counts as a box. math-verify on its own joins boxes separated by
a comma or "and" into one set, so ``\\boxed{72} wait, no: \\boxed{73}`` would be {72, 73}; here it
is 73. Several answers belong in one box: ``\\boxed{1, 2}``. A completion with no box and no
``$`` whose last "answer is" sentence is bare LaTeX ("The answer is 2\\sqrt{2}.") has that
sentence read as LaTeX, not its leading number.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping

from rewards.registry import register_verifier

# A box command and its opening brace; the content is brace-matched by `_last_box`.
_BOX_OPEN = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)\b\s*")
# Markers that make a gold "text with math delimiters", read like a completion.
_DELIMITED = re.compile(r"(?<!\\)\$|\\boxed|\\fbox|\\\(|\\\[")
# LaTeX text-mode wrappers whose content is the text: \text{Monday}, \textbf{(C)}, \mathrm{odd}.
_TEXT_WRAPPER = re.compile(r"\\(?:text(?:bf|it|rm|normal)?|mathrm|mathbf|mbox|emph)\s*\{([^{}]*)\}")
# A word answer once normalised: letters, spaces, hyphens, apostrophes.
_WORDS = re.compile(r"[^\W\d_]+(?:[ '\-][^\W\d_]+)*")
# A plain word (two letters or more) outside LaTeX commands; three of them make a gold prose.
_PLAIN_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
# "The answer is (C).", "Answer: Monday, ..." -- the stated answer ends at a comma or full stop.
_ANSWER_PHRASE = re.compile(r"(?i:answer)\s*(?:(?i:is)\b|:)\s*(.+?)\s*(?:[.,;!?](?:\s|$)|\n|$)")
# The same to the end of the sentence only: a comma may be part of LaTeX, "(1, \\sqrt{2})".
_ANSWER_SENTENCE = re.compile(r"(?i:answer)\s*(?:(?i:is)\b|:)\s*(.+?)\s*(?:[.;!?](?:\s|$)|\n|$)")
_LATEX_MARK = re.compile(r"\\[A-Za-z]|\^")
_MATH_DELIMITER = re.compile(r"(?<!\\)\$|\\\(|\\\[")
# "(c) 12" names option c: an option label in parentheses leading the answer.
_OPTION_LABEL = re.compile(r"\(([A-Za-z])\)(?:\s+(.*))?")
_EXTRACTION_MODES = ("any_match", "first_match")


@register_verifier("math")
def math_answer(
    completion: str,
    example: Mapping,
    answer_field: str = "answer",
    gold_delimiter: str | None = None,
    parsing_timeout_s: int = 5,
    verify_timeout_s: int = 5,
    float_rounding: int = 6,
    numeric_precision: int = 15,
    strict: bool = True,
    allow_set_relation_comp: bool = False,
    boxed_match_priority: int = 50,
    try_extract_without_anchor: bool = True,
    extraction_mode: str = "any_match",
) -> float | None:
    """1.0 when the completion's answer equals the gold answer mathematically, else 0.0.

    The module docstring says how gold and completion are read. Answers are compared
    symbolically and numerically by math-verify: ``"0.5"``, ``"1/2"``, ``"$\\frac{1}{2}$"`` and
    ``"\\boxed{\\frac{2}{4}}"`` are all equal, as are ``x=3`` and ``3``, ``50\\%`` and ``50``,
    ``\\{1,2\\}`` and ``2, 1``. A completion with no readable answer scores 0.0. An argument this
    function does not take (a misspelt option in the config's ``kwargs``) raises `TypeError`
    naming it.

    Args:
        completion (`str`):
            The model's completion.
        example (`Mapping`):
            The dataset row; the gold answer is ``example[answer_field]``.
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
        float_rounding (`int`, *optional*, defaults to `6`):
            math-verify ``verify(float_rounding=)``: decimal places floats are rounded to before
            they are compared, so ``0.333333`` equals ``1/3`` and ``0.33`` does not.
        numeric_precision (`int`, *optional*, defaults to `15`):
            math-verify ``verify(numeric_precision=)``: significant digits of the numeric
            evaluation deciding whether two expressions differ (``evalf(n=...)``).
        strict (`bool`, *optional*, defaults to `True`):
            math-verify ``verify(strict=)``. `False` matches variables by position
            (``y+1`` equals ``x+1``) and lets a set equal a tuple (``\\{1,2\\}`` and ``(1,2)``).
        allow_set_relation_comp (`bool`, *optional*, defaults to `False`):
            math-verify ``verify(allow_set_relation_comp=)``. `True` also compares a predicted
            relation with a gold set (``1 < x < 2`` against ``(1, 2)``); a predicted set against
            a gold relation is always compared.
        boxed_match_priority (`int`, *optional*, defaults to `50`):
            math-verify ``LatexExtractionConfig(boxed_match_priority=)`` for the completion:
            when the box is read, lower first. ``0`` puts it before every phrase, ``50`` ties
            with "final answer ... is" (the later in the text wins), ``-1`` ignores boxes.
        try_extract_without_anchor (`bool`, *optional*, defaults to `True`):
            math-verify's option of that name for the completion's LaTeX and plain-expression
            extraction. `False` only reads an answer that is boxed or follows "answer" /
            "final answer", instead of also taking the last LaTeX or number in the text.
        extraction_mode (`str`, *optional*, defaults to `"any_match"`):
            math-verify ``parse(extraction_mode=)`` for the completion: ``"any_match"`` tries
            each candidate until one parses; ``"first_match"`` stops at the first candidate
            found, and a completion whose first candidate does not parse scores 0.0.

    Raises:
        ValueError: when the gold answer cannot be parsed (a dataset problem, reported as a
            verifier error rather than scored 0), or an option has a value math-verify does
            not accept (naming the option).
        TypeError: when an option has the wrong type, naming the option.
    """
    verify_options = {
        "float_rounding": float_rounding,
        "numeric_precision": numeric_precision,
        "strict": strict,
        "allow_set_relation_comp": allow_set_relation_comp,
    }
    _check_options(
        **verify_options,
        boxed_match_priority=boxed_match_priority,
        try_extract_without_anchor=try_extract_without_anchor,
        extraction_mode=extraction_mode,
    )
    gold_text = _gold_text(example, answer_field, gold_delimiter)
    if gold_text is None:
        return None
    if threading.current_thread() is not threading.main_thread():
        # math-verify raises ValueError if asked for its signal-based timeouts off the main thread.
        parsing_timeout_s = verify_timeout_s = None

    word_gold = _word_answer(gold_text)
    if word_gold is not None:
        if _word_answer(_stated_answer(completion) or "") == word_gold:
            return 1.0
        # An option gold that states its value, "(B) 7": the value is a right answer too.
        gold_text = _option_value(gold_text)
        if gold_text is None:
            return 0.0

    options = _completion_options(boxed_match_priority, try_extract_without_anchor, extraction_mode)
    return _verify_answer(completion, gold_text, options, verify_options, parsing_timeout_s, verify_timeout_s)


def _gold_text(example: Mapping, answer_field: str, gold_delimiter: str | None) -> str | None:
    """The gold answer's text: ``example[answer_field]`` after the last ``gold_delimiter`` (when
    set and present); None when the row has no such field."""
    gold_text = example.get(answer_field)
    if gold_text is None:
        return None
    gold_text = str(gold_text)
    if gold_delimiter and gold_delimiter in gold_text:
        gold_text = gold_text.rsplit(gold_delimiter, 1)[1]
    return gold_text


def _verify_answer(
    completion: str,
    gold_text: str,
    options: _CompletionOptions,
    verify_options: dict,
    parsing_timeout_s: int | None,
    verify_timeout_s: int | None,
) -> float:
    """1.0 when math-verify finds the completion's answer (read with ``options``) equal to the
    gold's (``verify_options`` are `verify`'s comparison options), 0.0 otherwise or when the
    completion has no readable answer."""
    from math_verify import parse, verify

    gold = _parse_gold(gold_text, parsing_timeout_s)
    predicted = parse(
        _for_math_verify(completion),
        extraction_config=options.extraction_config,
        extraction_mode=options.extraction_mode,
        parsing_timeout=parsing_timeout_s,
    )
    if not predicted:
        return 0.0
    same = verify(gold, predicted, **verify_options, timeout_seconds=verify_timeout_s)
    return 1.0 if same else 0.0


# --- reading a gold ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _parse_gold(gold_text: str, parsing_timeout_s: int | None) -> list:
    """math-verify's parse of a gold (see the module docstring), cached: every completion of a
    group is scored against the same gold. A gold that cannot be parsed raises (not cached)."""
    from math_verify import parse

    text = _strip_math_delimiters(gold_text.strip())
    if _DELIMITED.search(text) or "\n" in text or len(_PLAIN_WORD.findall(text)) >= 3:
        gold = parse(_for_math_verify(gold_text), parsing_timeout=parsing_timeout_s)
    else:
        gold = parse(f"${text}$", parsing_timeout=parsing_timeout_s)
        if not gold:
            gold = parse(text, parsing_timeout=parsing_timeout_s)
    if not gold:
        raise ValueError(f"math-verify could not parse the gold answer {gold_text!r}")
    return gold


def _strip_math_delimiters(text: str) -> str:
    """``$x$``, ``$$x$$``, ``\\(x\\)`` or ``\\[x\\]`` around the whole text -> ``x``."""
    for opening, closing in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        inner = text[len(opening) : -len(closing)]
        if (
            len(text) > len(opening) + len(closing)
            and text.startswith(opening)
            and text.endswith(closing)
            and "$" not in inner
        ):
            return inner.strip()
    return text


def _word_answer(text: str) -> str | None:
    """The normalised words of a word answer (``"\\text{(C)}"`` -> ``"c"``, ``" Monday."`` ->
    ``"monday"``, ``"(C) 12"`` -> ``"c"``), or `None` when ``text`` holds anything but letters,
    spaces, hyphens and apostrophes once wrappers, ``$``, ``**`` and a final full stop are
    removed."""
    text = _plain_text(text).casefold()
    option = _OPTION_LABEL.fullmatch(text)
    if option:
        return option.group(1)
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    return text if _WORDS.fullmatch(text) else None


def _option_value(gold_text: str) -> str | None:
    """The value of an option gold that states one, ``"\\textbf{(B) } 7"`` -> ``"7"``, else
    `None`."""
    option = _OPTION_LABEL.fullmatch(_plain_text(gold_text))
    return option.group(2) if option and option.group(2) else None


def _plain_text(text: str) -> str:
    """``text`` without math delimiters, ``\\text{...}``-like wrappers, ``**``, LaTeX spaces,
    repeated whitespace and a final full stop."""
    text = _strip_math_delimiters(text.strip())
    while True:
        unwrapped = _TEXT_WRAPPER.sub(r"\1", text)
        if unwrapped == text:
            break
        text = unwrapped
    text = text.replace("\\ ", " ").replace("\\,", " ").replace("$", "").replace("**", "")
    return " ".join(text.split()).rstrip(".").strip()


# --- reading a completion -----------------------------------------------------------------------


def _last_box(text: str) -> tuple[int, int, int] | None:
    """``(command_start, content_start, content_end)`` of the last complete ``\\boxed{...}`` or
    ``\\fbox{...}`` (braces matched; a box inside another counts as part of it), else `None`.

    Written here rather than taken from latex2sympy2's ``extract_boxed_content``, which joins
    neighbouring boxes separated by a comma or "and" into one answer."""
    last = None
    for match in _BOX_OPEN.finditer(text):
        if last is not None and match.start() < last[2]:
            continue  # nested inside the box already found
        depth, index = 1, match.end()
        while index < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        if depth == 0:
            last = (match.start(), match.end(), index - 1)
    return last


def last_boxed(text: str) -> str | None:
    """The content of the last complete ``\\boxed{...}`` / ``\\fbox{...}`` in ``text`` (the final
    answer of a MATH-style worked solution), else `None`: ``"so \\boxed{\\frac{1}{2}}."`` gives
    ``"\\frac{1}{2}"``."""
    box = _last_box(text)
    return None if box is None else text[box[1] : box[2]]


def _for_math_verify(text: str) -> str:
    """``text`` as handed to math-verify: every box command but the last complete box's removed
    (their content stays as plain text), so that math-verify sees one box, the final answer, as
    ``\\boxed``. Without a box or any ``$``, a last "answer is" sentence written in bare LaTeX
    and nothing else ("The answer is 2\\sqrt{2}.") is boxed: math-verify would read its leading
    number (2)."""
    box = _last_box(text)
    if box is None:
        text = _BOX_COMMAND.sub("", text)
        if _MATH_DELIMITER.search(text):
            return text
        sentences = _ANSWER_SENTENCE.findall(text)
        # Only a sentence that is all LaTeX: "x^2 when x=3, so 9" is better left to math-verify.
        if sentences and _LATEX_MARK.search(sentences[-1]) and not _PLAIN_WORD.search(sentences[-1]):
            return text + "\n\\boxed{" + sentences[-1] + "}"
        return text
    start, content_start, end = box
    before, after = text[:start], text[end + 1 :]
    # math-verify's extraction patterns know \boxed only (its normalisation also knows \fbox).
    boxed = "\\boxed{" + text[content_start : end + 1]
    return _BOX_COMMAND.sub("", before) + boxed + _BOX_COMMAND.sub("", after)


def _stated_answer(completion: str) -> str | None:
    """The completion's answer as text: its last box's content, else what follows the last
    "answer is" / "answer:" up to a comma or full stop, else `None`."""
    box = _last_box(completion)
    if box is not None:
        return completion[box[1] : box[2]]
    phrases = _ANSWER_PHRASE.findall(completion)
    return phrases[-1] if phrases else None


# --- options ----------------------------------------------------------------------------------


class _CompletionOptions:
    """math-verify extraction settings for completions, built once per distinct option set."""

    def __init__(self, extraction_config: list, extraction_mode: str):
        self.extraction_config = extraction_config
        self.extraction_mode = extraction_mode


@functools.lru_cache(maxsize=32)
def _completion_options(
    boxed_match_priority: int, try_extract_without_anchor: bool, extraction_mode: str
) -> _CompletionOptions:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    latex = LatexExtractionConfig(
        boxed_match_priority=boxed_match_priority,
        try_extract_without_anchor=try_extract_without_anchor,
    )
    expression = ExprExtractionConfig(try_extract_without_anchor=try_extract_without_anchor)
    return _CompletionOptions([latex, expression], extraction_mode)


_OPTION_TYPES = {
    "float_rounding": int,
    "numeric_precision": int,
    "strict": bool,
    "allow_set_relation_comp": bool,
    "boxed_match_priority": int,
    "try_extract_without_anchor": bool,
    "extraction_mode": str,
}


def _check_options(**options) -> None:
    """Reject an option math-verify would misread, naming it (a YAML ``"6"`` or ``yes``)."""
    for name, value in options.items():
        expected = _OPTION_TYPES[name]
        # bool is an int subclass: True is no number of decimal places, 1 is no switch.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise TypeError(f"math verifier: {name} must be {expected.__name__}, got {type(value).__name__} {value!r}")
    if options["extraction_mode"] not in _EXTRACTION_MODES:
        raise ValueError(
            f"math verifier: extraction_mode must be one of {_EXTRACTION_MODES}, got {options['extraction_mode']!r}"
        )
    if options["float_rounding"] < 0 or options["numeric_precision"] < 1:
        raise ValueError(
            "math verifier: float_rounding must be >= 0 and numeric_precision >= 1, got "
            f"float_rounding={options['float_rounding']!r}, "
            f"numeric_precision={options['numeric_precision']!r}"
        )
