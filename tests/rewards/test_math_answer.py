"""The ``math`` verifier on MATH-style gold answers, right and wrong completions, and options."""

from __future__ import annotations

import pytest

from rewards import get_verifier

math_answer = get_verifier("math")

# (gold as MATH / NuminaMath store it, completions that must score 1.0, completions that must
# score 0.0). The wrong ones include the leading-number trap: "\boxed{2}" against "2\sqrt{2}".
GOLD_TABLE: list[tuple[str, list[str], list[str]]] = [
    # radicals
    (
        "2\\sqrt{2}",
        ["\\boxed{2\\sqrt{2}}", "The answer is $2\\sqrt{2}$.", "$\\boxed{\\sqrt{8}}$", "The answer is 2\\sqrt{2}."],
        ["\\boxed{2}", "\\boxed{\\sqrt{2}}"],
    ),
    # ... and the trap the other way round: bare LaTeX in the completion is not its first number.
    ("2", ["\\boxed{2}", "The answer is 2."], ["\\boxed{2\\sqrt{2}}", "The answer is 2\\sqrt{2}.", "Answer: 2^{10}"]),
    ("4\\sqrt{5}", ["\\boxed{4\\sqrt{5}}", "The answer is $\\sqrt{80}$."], ["\\boxed{4}"]),
    (
        "1+\\sqrt{5}",
        ["\\boxed{\\sqrt{5}+1}", "so $x = 1 + \\sqrt{5}$. Final answer: $1+\\sqrt5$"],
        ["\\boxed{1}", "\\boxed{1-\\sqrt{5}}"],
    ),
    (
        "\\frac{\\sqrt{3}}{2}",
        ["\\boxed{\\frac{\\sqrt3}2}", "The answer is $\\dfrac{\\sqrt{3}}{2}$"],
        ["\\boxed{\\frac{1}{2}}", "\\boxed{\\sqrt{3}}"],
    ),
    # pi
    ("3\\pi", ["\\boxed{3\\pi}", "The answer is $3\\pi$."], ["\\boxed{3}", "\\boxed{\\pi}"]),
    ("\\frac{\\pi}{4}", ["\\boxed{\\pi/4}", "The answer is $\\frac{\\pi}{4}$"], ["\\boxed{4}"]),
    # powers
    ("2^{10}", ["\\boxed{1024}", "The answer is $2^{10}$."], ["\\boxed{2}", "\\boxed{10}"]),
    ("10^{6}", ["\\boxed{1000000}", "The answer is $10^6$"], ["\\boxed{10}"]),
    # fractions
    ("\\frac{1}{2}", ["\\boxed{0.5}", "The answer is $\\frac{2}{4}$."], ["\\boxed{1}", "\\boxed{2}"]),
    ("\\dfrac{3}{4}", ["\\boxed{\\frac{3}{4}}", "The answer is $0.75$."], ["\\boxed{3}"]),
    (
        "-\\frac{7}{3}",
        ["\\boxed{-\\frac{7}{3}}", "The answer is $-\\dfrac{7}{3}$"],
        ["\\boxed{\\frac{7}{3}}", "\\boxed{-7}"],
    ),
    # intervals, tuples, sets
    ("[-1, 4)", ["\\boxed{[-1,4)}", "The answer is $[-1, 4)$."], ["\\boxed{-1}", "\\boxed{[-1,4]}"]),
    ("(-\\infty, 3]", ["\\boxed{(-\\infty,3]}"], ["\\boxed{(-\\infty,3)}", "\\boxed{3}"]),
    ("(3, -2)", ["\\boxed{(3,-2)}", "The point is $(3, -2)$."], ["\\boxed{(-2, 3)}", "\\boxed{3}"]),
    ("1, 2", ["\\boxed{1, 2}", "\\boxed{2,1}"], ["\\boxed{1}", "\\boxed{2}"]),
    ("\\sqrt[3]{2}", ["\\boxed{2^{1/3}}"], ["\\boxed{2}", "\\boxed{\\sqrt{2}}"]),
    ("\\frac{1+\\sqrt{5}}{2}", ["\\boxed{\\frac{1+\\sqrt5}{2}}"], ["\\boxed{1}", "\\boxed{\\frac{1}{2}}"]),
    ("6\\sqrt{3}\\pi", ["\\boxed{6\\pi\\sqrt3}"], ["\\boxed{6}", "\\boxed{6\\sqrt{3}}"]),
    ("3^{2016}", ["\\boxed{3^{2016}}"], ["\\boxed{3}"]),
    ("\\log_2 3", ["\\boxed{\\log_2 3}"], ["\\boxed{2}"]),
    ("\\infty", ["\\boxed{\\infty}"], ["\\boxed{-\\infty}"]),
    ("\\pm 2", ["\\boxed{\\pm 2}"], ["\\boxed{2}"]),
    ("2+3i", ["\\boxed{2+3i}"], ["\\boxed{2}", "\\boxed{2-3i}"]),
    (
        "\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}",
        ["\\boxed{\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}}"],
        ["\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", "\\boxed{1}"],
    ),
    ("\\{1, 2, 3\\}", ["\\boxed{\\{3,2,1\\}}"], ["\\boxed{\\{1,2\\}}", "\\boxed{1}"]),
    ("x \\in [2, 5)", ["\\boxed{[2,5)}"], ["\\boxed{[2,5]}", "\\boxed{2}"]),
    # expressions and equations
    ("3x+2", ["\\boxed{2+3x}", "The answer is $3x + 2$."], ["\\boxed{3}", "\\boxed{3x}"]),
    ("x^2+2x+1", ["\\boxed{(x+1)^2}"], ["\\boxed{x^2+1}"]),
    ("x=3", ["\\boxed{3}", "\\boxed{x=3}", "The answer is $x = 3$."], ["\\boxed{x=4}", "\\boxed{4}"]),
    ("y=2x+5", ["\\boxed{y=5+2x}"], ["\\boxed{y=2x}", "\\boxed{2}"]),
    ("x^3-3x", ["\\boxed{x(x^2-3)}"], ["\\boxed{x^3}"]),
    ("a=2, b=3", ["\\boxed{a=2, b=3}"], ["\\boxed{a=3, b=2}", "\\boxed{2}"]),
    # units, percentages, degrees, money
    ("5\\text{ cm}", ["\\boxed{5}", "\\boxed{5 \\text{ cm}}"], ["\\boxed{6}"]),
    ("25\\%", ["\\boxed{25\\%}", "\\boxed{25}", "The answer is $25\\%$."], ["\\boxed{20\\%}"]),
    ("30^\\circ", ["\\boxed{30^\\circ}", "\\boxed{30}"], ["\\boxed{60^\\circ}"]),
    ("\\$18.90", ["\\boxed{\\$18.90}", "\\boxed{18.9}"], ["\\boxed{18}"]),
    # negatives and mixed numbers
    ("-3", ["\\boxed{-3}", "The answer is $-3$."], ["\\boxed{3}"]),
    ("-0.25", ["\\boxed{-\\frac14}"], ["\\boxed{0.25}"]),
    ("\\tfrac{5}{6}", ["\\boxed{\\frac56}"], ["\\boxed{5}", "\\boxed{6}"]),
    ("2\\frac{1}{2}", ["\\boxed{\\frac{5}{2}}", "\\boxed{2.5}"], ["\\boxed{2}", "\\boxed{\\frac{1}{2}}"]),
    # text answers
    ("\\text{Monday}", ["\\boxed{\\text{Monday}}", "The answer is Monday."], ["\\boxed{\\text{Tuesday}}"]),
    ("\\text{(C)}", ["\\boxed{\\text{(C)}}", "\\boxed{C}", "The answer is (C)."], ["\\boxed{\\text{(A)}}"]),
    ("\\text{odd}", ["\\boxed{\\text{odd}}", "\\boxed{odd}"], ["\\boxed{\\text{even}}"]),
    # plain golds (GSM8K and the like) keep working
    ("42", ["\\boxed{42}", "The answer is 42.", "so 6*7 = 42"], ["\\boxed{24}", "The answer is 4."]),
    ("1,000", ["\\boxed{1000}", "The answer is 1,000."], ["\\boxed{1}"]),
    ("10,000", ["\\boxed{10000}", "\\boxed{10{,}000}"], ["\\boxed{10}"]),
    ("0.5", ["\\boxed{\\frac{1}{2}}", "The answer is 0.5"], ["\\boxed{5}"]),
]

# Words math-verify cannot read as mathematics (it reads "no" as the product n*o, equal to "on").
WORD_GOLD_TABLE: list[tuple[str, list[str], list[str]]] = [
    (
        "Monday",
        ["\\boxed{Monday}", "\\boxed{\\text{monday}}", "The answer is Monday, since..."],
        ["\\boxed{Dynamo}", "\\boxed{Tuesday}", "I am not sure."],
    ),
    (
        "(C)",
        ["\\boxed{C}", "The answer is (C).", "**Answer:** (C)", "\\boxed{\\textbf{(C)}\\ 12}"],
        ["\\boxed{B}", "The answer is (A)."],
    ),
    ("no", ["\\boxed{\\text{No}}", "Answer: no"], ["\\boxed{on}", "\\boxed{yes}"]),
    # An option that states its value (AMC in NuminaMath): the letter or the value.
    (
        "\\textbf{(B) } 7",
        ["\\boxed{7}", "The answer is (B).", "\\boxed{\\textbf{(B)}}"],
        ["\\boxed{8}", "\\boxed{(A)}"],
    ),
    ("$\\textbf{(B)}\\ \\frac{1}{2}$", ["\\boxed{0.5}", "\\boxed{\\textbf{(B)}\\ \\frac12}"], ["\\boxed{1}"]),
]


def _rows(table):
    for gold, rights, wrongs in table:
        yield from ((gold, completion, 1.0) for completion in rights)
        yield from ((gold, completion, 0.0) for completion in wrongs)


@pytest.mark.parametrize(("gold", "completion", "reward"), list(_rows(GOLD_TABLE)))
def test_math_style_golds(gold, completion, reward):
    assert math_answer(completion, {"answer": gold}) == reward


@pytest.mark.parametrize(("gold", "completion", "reward"), list(_rows(WORD_GOLD_TABLE)))
def test_word_golds_compare_as_normalised_text(gold, completion, reward):
    assert math_answer(completion, {"answer": gold}) == reward


@pytest.mark.parametrize(
    ("gold", "completion", "reward"),
    [
        # A self-correction: the last box is the answer, not the set of both.
        ("73", "\\boxed{72} wait, no. Final Answer: \\boxed{73}", 1.0),
        ("72", "\\boxed{72} wait, no. Final Answer: \\boxed{73}", 0.0),
        ("73", "$\\boxed{72}$, or rather $\\boxed{73}$", 1.0),
        ("73", "\\fbox{72} and then \\fbox{73}", 1.0),
        # Braces are matched: the whole fraction, and a box nested in a box.
        ("\\frac{1}{2}", "first \\boxed{3}, then \\boxed{\\frac{1}{2}}", 1.0),
        ("\\frac{1}{2}", "\\boxed{\\boxed{\\frac{1}{2}}}", 1.0),
        # A truncated last box is no box: the last complete one counts.
        ("5", "\\boxed{5} hmm, maybe \\boxed{\\frac{1", 1.0),
        # A set answer in one box is still a set.
        ("1,2", "\\boxed{1, 2}", 1.0),
        ("1,2", "\\boxed{3} no: \\boxed{1, 2}", 1.0),
    ],
)
def test_the_last_box_is_the_answer(gold, completion, reward):
    assert math_answer(completion, {"answer": gold}) == reward


@pytest.mark.parametrize(
    ("gold", "reward"),
    [
        # The gold itself written with delimiters or as a worked solution: its last box counts.
        ("$2\\sqrt{2}$", 1.0),
        ("\\boxed{2\\sqrt{2}}", 1.0),
        ("We get \\boxed{2} at first, but correcting, \\boxed{2\\sqrt{2}}.", 1.0),
        ("\\boxed{2}", 0.0),
    ],
)
def test_delimited_and_prose_golds(gold, reward):
    assert math_answer("\\boxed{2\\sqrt{2}}", {"answer": gold}) == reward


def test_gsm8k_gold_with_delimiter():
    gold = "She sold 48/2 = <<48/2=24>>24 clips in May.\nIn all 48+24 = <<48+24=72>>72.\n#### 72"
    assert math_answer("\\boxed{72}", {"answer": gold}, gold_delimiter="####") == 1.0
    assert math_answer("\\boxed{24}", {"answer": gold}, gold_delimiter="####") == 0.0
    # Without the delimiter the prose is read like a completion: its last number.
    assert math_answer("\\boxed{72}", {"answer": gold}) == 1.0


def test_unparseable_gold_raises_and_missing_gold_is_none():
    assert math_answer("\\boxed{2}", {"question": "1+1"}) is None
    with pytest.raises(ValueError, match="could not parse the gold answer ' '"):
        math_answer("\\boxed{2}", {"answer": " "})


# --- options ----------------------------------------------------------------------------------


def test_float_rounding_and_numeric_precision():
    assert math_answer("\\boxed{0.333}", {"answer": "\\frac{1}{3}"}) == 0.0
    assert math_answer("\\boxed{0.333}", {"answer": "\\frac{1}{3}"}, float_rounding=3) == 1.0
    assert math_answer("\\boxed{3.14159}", {"answer": "\\pi"}) == 0.0
    assert math_answer("\\boxed{3.14159}", {"answer": "\\pi"}, float_rounding=5) == 1.0
    # numeric_precision: digits of evalf for expressions that are not bare numbers.
    assert math_answer("\\boxed{x+1.41421}", {"answer": "x+\\sqrt{2}"}) == 0.0
    assert math_answer("\\boxed{x+1.41421}", {"answer": "x+\\sqrt{2}"}, numeric_precision=3) == 1.0


def test_strict():
    assert math_answer("\\boxed{y+1}", {"answer": "x+1"}) == 0.0
    assert math_answer("\\boxed{y+1}", {"answer": "x+1"}, strict=False) == 1.0


def test_allow_set_relation_comp():
    assert math_answer("\\boxed{1 < x < 2}", {"answer": "(1, 2)"}) == 0.0
    assert math_answer("\\boxed{1 < x < 2}", {"answer": "(1, 2)"}, allow_set_relation_comp=True) == 1.0


def test_boxed_match_priority():
    completion = "\\boxed{7}. The final answer is $8$. I hope it is correct."
    assert math_answer(completion, {"answer": "8"}) == 1.0  # the "I hope" phrase comes first
    assert math_answer(completion, {"answer": "7"}, boxed_match_priority=-1) == 0.0
    assert math_answer("\\boxed{7} or maybe 8", {"answer": "8"}, boxed_match_priority=-1) == 1.0


def test_try_extract_without_anchor():
    assert math_answer("so x is 3", {"answer": "3"}) == 1.0
    assert math_answer("so x is 3", {"answer": "3"}, try_extract_without_anchor=False) == 0.0
    assert math_answer("Answer: 3", {"answer": "3"}, try_extract_without_anchor=False) == 1.0


def test_extraction_mode():
    assert math_answer("\\boxed{3}", {"answer": "3"}, extraction_mode="first_match") == 1.0
    with pytest.raises(ValueError, match="extraction_mode must be one of"):
        math_answer("\\boxed{3}", {"answer": "3"}, extraction_mode="last")


def test_unknown_or_mistyped_option_is_named():
    with pytest.raises(TypeError, match="unexpected keyword argument 'precision'"):
        math_answer("\\boxed{3}", {"answer": "3"}, precision=6)
    with pytest.raises(TypeError, match="float_rounding must be int, got str '6'"):
        math_answer("\\boxed{3}", {"answer": "3"}, float_rounding="6")
    with pytest.raises(TypeError, match="strict must be bool, got int 0"):
        math_answer("\\boxed{3}", {"answer": "3"}, strict=0)
    # Checked on every row, also those whose gold is a word (compared without math-verify).
    with pytest.raises(TypeError, match="try_extract_without_anchor must be bool, got str 'no'"):
        math_answer("\\boxed{Monday}", {"answer": "Monday"}, try_extract_without_anchor="no")


def _count_right_verdicts(verifier, table) -> tuple[int, int]:
    """(verdicts as the table says, rows): an exception counts as a wrong verdict."""
    rows = list(_rows(table))
    right = 0
    for gold, completion, reward in rows:
        try:
            right += verifier(completion, {"answer": gold}) == reward
        except Exception:  # noqa: BLE001 - a raising verifier gave no verdict
            pass
    return right, len(rows)


if __name__ == "__main__":
    # Before/after figure: python tests/rewards/test_math_answer.py OLD_MATH_ANSWER.py, where the
    # file is an older rewards/builtin/math_answer.py without its @register_verifier line.
    import importlib.util
    import logging
    import sys

    logging.disable(logging.WARNING)  # math-verify warns once that its timeouts are off
    spec = importlib.util.spec_from_file_location("old_math_answer", sys.argv[1])
    old_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old_module)
    for label, table in (("GOLD_TABLE", GOLD_TABLE), ("WORD_GOLD_TABLE", WORD_GOLD_TABLE)):
        for name, verifier in ((sys.argv[1], old_module.math_answer), ("current", math_answer)):
            print(f"{label} {name}: %d/%d verdicts right" % _count_right_verdicts(verifier, table))
