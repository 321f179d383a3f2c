"""The built-in verifiers on the answers models actually write."""

from __future__ import annotations

import threading

import pytest

from rewards import get_verifier
from rewards.builtin.choice import extract_choice
from rewards.builtin.code import extract_program, split_tests
from rewards.builtin.format import THINK_ANSWER_PATTERN

exact = get_verifier("exact")
math_answer = get_verifier("math")
format_match = get_verifier("format")
choice = get_verifier("choice")
code = get_verifier("code")
digit_match = get_verifier("digit_match")


# --- digit_match ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "gold", "reward"),
    [
        ("56088", "56088", 1.0),
        (" 56088\n", "56088", 1.0),
        ("56000", "56088", 3 / 5),  # units with units: 0/8, 0/8 wrong; 0, 6, 5 right
        ("88", "56088", 2 / 5),  # a truncated answer is scored over the gold length
        ("1156088", "56088", 5 / 7),  # a padded one over its own length
        ("12345", "56088", 0.0),
        ("", "7", 0.0),
    ],
)
def test_digit_match_partial_credit(completion, gold, reward):
    assert digit_match(completion, {"answer": gold}) == pytest.approx(reward)
    assert digit_match(completion, {"prompt": "1+1="}) is None


# --- exact ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "gold", "reward"),
    [
        ("46", "46", 1.0),
        ("  46\n", "46", 1.0),
        ("Paris", "paris", 1.0),
        ("New   York", "new york", 1.0),
        ("46 because 40+6", "46", 0.0),  # the whole completion counts
        ("47", "46", 0.0),
        ("", "46", 0.0),
    ],
)
def test_exact(completion, gold, reward):
    assert exact(completion, {"answer": gold}) == reward


def test_exact_options():
    assert exact("46.", {"answer": "46"}) == 0.0
    assert exact("46.", {"answer": "46"}, strip_chars=".!") == 1.0
    assert exact("Paris", {"answer": "paris"}, casefold=False) == 0.0
    assert exact("a  b", {"answer": "a b"}, collapse_whitespace=False) == 0.0
    assert exact("7", {"answer": "46", "final": "7"}, answer_field="final") == 1.0
    assert exact("7", {"prompt": "3+4="}) is None


# --- math -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "gold"),
    [
        ("0.5", "\\frac{1}{2}"),
        ("\\frac{1}{2}", "0.5"),
        ("The answer is $\\frac{1}{2}$.", "1/2"),
        ("so we get \\boxed{2}", "2"),
        ("$\\boxed{\\frac{2}{4}}$", "$\\frac{1}{2}$"),
        ("Therefore $x = \\boxed{(x+1)^2}$", "x^2+2x+1"),
        ("First 3, then 5, finally \\boxed{46}", "46"),
        ("$\\sqrt{4}$", "2"),
    ],
)
def test_math_equivalent_forms_score_one(completion, gold):
    assert math_answer(completion, {"answer": gold}) == 1.0


@pytest.mark.parametrize(
    ("completion", "gold"),
    [
        ("0.5", "\\frac{1}{3}"),
        ("\\boxed{3}", "2"),
        ("The answer is 47", "46"),
        ("I don't know", "46"),
        ("\\boxed{x+1}", "x-1"),
    ],
)
def test_math_wrong_answers_score_zero(completion, gold):
    assert math_answer(completion, {"answer": gold}) == 0.0


def test_math_missing_and_unparseable_gold():
    assert math_answer("\\boxed{2}", {"prompt": "1+1"}) is None
    with pytest.raises(ValueError, match="could not parse the gold answer"):
        math_answer("\\boxed{2}", {"answer": ""})


def test_math_works_outside_the_main_thread():
    # math-verify's own timeouts use signal.alarm, which raises ValueError off the main thread.
    results = []
    thread = threading.Thread(target=lambda: results.append(math_answer("\\boxed{0.5}", {"answer": "1/2"})))
    thread.start()
    thread.join()
    assert results == [1.0]


# --- format ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "reward"),
    [
        ("<think>\n2+2 is 4\n</think>\n<answer>4</answer>", 1.0),
        ("<think>x</think><answer>4</answer>\n", 1.0),
        ("<answer>4</answer>", 0.0),
        ("<think>x</think>", 0.0),
        ("<think>x</think><answer>4</answer> and more", 0.0),
        ("4", 0.0),
    ],
)
def test_format_default_think_answer(completion, reward):
    assert format_match(completion, {}) == reward


def test_format_custom_pattern():
    assert format_match("Answer: 46", {}, pattern=r"Answer: \d+$") == 1.0
    assert format_match("Answer: x", {}, pattern=r"Answer: \d+$") == 0.0
    # Without DOTALL, "." stops at newlines.
    assert format_match("<think>a\nb</think><answer>1</answer>", {}, pattern=THINK_ANSWER_PATTERN, dotall=False) == 0.0


# --- choice ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "letter"),
    [
        ("The answer is (B)", "B"),
        ("B", "B"),
        ("b.", "B"),
        ("**B**", "B"),
        ("Answer: b", "B"),
        ("**Answer:** C", "C"),
        ("Options: (A) cat (B) dog. I pick (D)", "D"),
        ("A is wrong, C is wrong. The answer is D because it fits.", "D"),
        ("the answer is option c", "C"),
        ("The answer is a bit unclear", None),
        ("I cannot decide", None),
    ],
)
def test_extract_choice(completion, letter):
    assert extract_choice(completion) == letter


def test_choice_scores_against_gold_letter():
    assert choice("The answer is (B)", {"answer": "B"}) == 1.0
    assert choice("The answer is (B)", {"answer": "(b)"}) == 1.0
    assert choice("The answer is (C)", {"answer": "B"}) == 0.0
    assert choice("no idea", {"answer": "B"}) == 0.0
    # "E" is an option only when the letters include it.
    assert choice("The answer is (E), else (A)", {"answer": "A"}) == 0.0
    assert choice("The answer is (E), else (A)", {"answer": "A"}, letters="ABCD") == 1.0
    assert choice("B", {"prompt": "?"}) is None
    with pytest.raises(ValueError, match="not one of the letters"):
        choice("B", {"answer": "46"})


# --- code -----------------------------------------------------------------------------------


def test_extract_program():
    assert extract_program("def f(): return 1") == "def f(): return 1"
    fenced = "Here:\n```python\ndef f():\n    return 1\n```\nDone."
    assert extract_program(fenced) == "def f():\n    return 1\n"
    draft_then_final = "```python\ndraft()\n```\ntext\n```py\nfinal()\n```"
    assert extract_program(draft_then_final) == "final()\n"
    assert extract_program("```bash\nls\n```\n```\nuntagged()\n```") == "untagged()\n"
    assert extract_program("```python\ncut_off(") == "cut_off("


def test_split_tests():
    entries = split_tests("import math\ndef helper(x):\n    return x\nassert f(1) == 1\ncheck(f)\n")
    assert [entry["counted"] for entry in entries] == [False, False, True, True]
    assert entries[2]["code"] == "assert f(1) == 1"
    assert split_tests(["assert f(1) == 1", "assert f(2) == 2"])[1] == {
        "code": "assert f(2) == 2",
        "counted": True,
    }
    with pytest.raises(ValueError, match="not valid Python"):
        split_tests("assert (")


ADD_TESTS = [
    "assert add(1, 2) == 3",
    "assert add(-1, 1) == 0",
    "assert add(2, 2) == 4",
    "assert add(0, 5) == 5",
]


def test_code_rewards_fraction_of_tests_passed():
    completions = [
        "```python\ndef add(a, b):\n    return a + b\n```",  # all pass
        "def add(a, b):\n    return a + b if a > 0 else 0",  # tests 1, 3 pass; 2 ok (0); 4 fails
        "def add(a, b):\n    return a - b",  # -2, -5: passes none
        "def add(a, b) return a + b",  # syntax error
        "print('no function at all')",
    ]
    examples = [{"tests": ADD_TESTS}] * len(completions)
    assert code(completions, examples) == [1.0, 0.75, 0.0, 0.0, 0.0]


def test_code_string_tests_and_all_or_nothing():
    humaneval_style = (
        "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n\ncheck(square)\n"
    )
    examples = [{"tests": humaneval_style}, {"tests": humaneval_style}, {"prompt": "no tests"}]
    completions = [
        "def square(x):\n    return x * x",
        "def square(x):\n    return x + x",
        "anything",
    ]
    assert code(completions, examples) == [1.0, 0.0, None]
    assert code(
        ["def add(a, b):\n    return a + b if a > 0 else 0"],
        [{"tests": ADD_TESTS}],
        partial_credit=False,
    ) == [0.0]


def test_code_contains_hostile_programs():
    completions = [
        "while True:\n    pass",  # hangs: killed at the time limit, scores 0
        # Forging result lines without the run's random marker earns nothing.
        ("import sys\nfor i in range(4):\n    sys.__stdout__.write(f'x {i} pass\\n')\nraise SystemExit(0)"),
        # Exiting before the tests run earns nothing either.
        "import os\nos._exit(0)",
        # Passes the first test, then hangs in the second: partial credit up to the hang.
        "def add(a, b):\n    if a < 0:\n        while True:\n            pass\n    return a + b",
    ]
    rewards = code(completions, [{"tests": ADD_TESTS}] * len(completions), timeout_s=1.0)
    assert rewards == [0.0, 0.0, 0.0, 0.25]
