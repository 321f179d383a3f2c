"""Synthetic task families ("skills") of graded difficulty.

Every skill is a seeded generator of ``(prompt, answer)`` pairs over a fixed prompt space. Which
split (``train`` or ``eval``) a prompt belongs to is a pure function of the prompt text (a hash), so
the two splits never share a prompt, whatever the seed, ``n`` or generation order.

Formats (the model completes the prompt with the answer, then EOS)::

    copy     "copy:abc="   -> "abc"      1-5 lowercase letters
    add1     "3+4="        -> "7"        one-digit operands
    add2     "37+45="      -> "82"       two-digit operands (10-99)
    sub      "82-45="      -> "37"       two-digit operands, a >= b
    mul1x2   "7*45="       -> "315"      one-digit (2-9) times two-digit (10-99)
    mul3x3   "123*456="    -> "56088"    three-digit times three-digit
    dsum     "s:123*456="  -> "27"       digit sum of a three-digit x three-digit product

``dsum`` belongs to the ``accident`` world only (see ``rlvr.toy.variants``): its answers cluster
(27 is the answer to 12% of its prompts, 18 to 10%), so a policy that cannot multiply is still
sometimes right by guessing the frequent answer: the accidental success the default world lacks.
``SKILLS`` lists the default world's skills; ``SKILL_REGISTRY`` every skill of every world.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SPLITS = ("train", "eval")
EVAL_PERCENT = 25  # share of each skill's prompt space held out for evaluation


@dataclass(frozen=True)
class Skill:
    name: str
    sample: Callable[[random.Random], tuple[str, str]]
    # Full prompt space, for spaces small enough to list (None: sample by rejection instead).
    enumerate: Callable[[], Iterator[tuple[str, str]]] | None = None


def _copy(rng: random.Random) -> tuple[str, str]:
    s = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 5)))
    return f"copy:{s}=", s


def _binop(op: str, a: int, b: int) -> tuple[str, str]:
    value = {"+": a + b, "-": a - b, "*": a * b}[op]
    return f"{a}{op}{b}=", str(value)


def _add1(rng: random.Random) -> tuple[str, str]:
    return _binop("+", rng.randint(0, 9), rng.randint(0, 9))


def _add2(rng: random.Random) -> tuple[str, str]:
    return _binop("+", rng.randint(10, 99), rng.randint(10, 99))


def _sub(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return _binop("-", max(a, b), min(a, b))


def _mul1x2(rng: random.Random) -> tuple[str, str]:
    return _binop("*", rng.randint(2, 9), rng.randint(10, 99))


def _mul3x3(rng: random.Random) -> tuple[str, str]:
    return _binop("*", rng.randint(100, 999), rng.randint(100, 999))


def digit_sum(n: int) -> int:
    return sum(int(d) for d in str(n))


def _dsum(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(100, 999), rng.randint(100, 999)
    return f"s:{a}*{b}=", str(digit_sum(a * b))


def _grid(op: str, ra: range, rb: range, keep=lambda a, b: True):
    def gen() -> Iterator[tuple[str, str]]:
        for a in ra:
            for b in rb:
                if keep(a, b):
                    yield _binop(op, a, b)

    return gen


_SKILL_LIST = [
    Skill("copy", _copy),
    Skill("add1", _add1, _grid("+", range(10), range(10))),
    Skill("add2", _add2, _grid("+", range(10, 100), range(10, 100))),
    Skill("sub", _sub, _grid("-", range(10, 100), range(10, 100), lambda a, b: a >= b)),
    Skill("mul1x2", _mul1x2, _grid("*", range(2, 10), range(10, 100))),
    Skill("mul3x3", _mul3x3),
    Skill("dsum", _dsum),
]
SKILL_REGISTRY: dict[str, Skill] = {s.name: s for s in _SKILL_LIST}
# The default world's skills (its recipe hash depends on this tuple: do not add to it).
SKILLS: tuple[str, ...] = ("copy", "add1", "add2", "sub", "mul1x2", "mul3x3")


def split_of(prompt: str) -> str:
    """The split a prompt belongs to: a pure function of its text."""
    h = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big")
    return "eval" if h % 100 < EVAL_PERCENT else "train"


def example_id(skill: str, prompt: str) -> str:
    """Stable id: the same prompt always gets the same id."""
    return f"{skill}-{hashlib.sha1(prompt.encode()).hexdigest()[:10]}"


def _check(skill: str, split: str) -> Skill:
    if skill not in SKILL_REGISTRY:
        raise ValueError(f"unknown skill {skill!r}; expected one of {tuple(SKILL_REGISTRY)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return SKILL_REGISTRY[skill]


def prompt_space(skill: str, split: str) -> list[tuple[str, str]] | None:
    """Every ``(prompt, answer)`` of a split, or None when the space is too large to list."""
    sk = _check(skill, split)
    if sk.enumerate is None:
        return None
    return [pa for pa in sk.enumerate() if split_of(pa[0]) == split]


def make_examples(skill: str, n: int, split: str = "train", seed: int = 0) -> list[dict]:
    """``n`` distinct examples of one skill from one split, as dicts (id, prompt, answer, skill).

    Deterministic in ``(skill, n, split, seed)``. For small prompt spaces (``add1`` has 100 prompts,
    about 25 of them in ``eval``) ``n`` is capped at the number of prompts in the split.
    """
    sk = _check(skill, split)
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(f"rlvr.toy/{skill}/{split}/{seed}")
    space = prompt_space(skill, split)
    if space is not None:
        rng.shuffle(space)
        pairs = space[:n]
    else:
        seen: set[str] = set()
        pairs = []
        while len(pairs) < n:
            prompt, answer = sk.sample(rng)
            if prompt in seen or split_of(prompt) != split:
                continue
            seen.add(prompt)
            pairs.append((prompt, answer))
    return [{"id": example_id(skill, p), "prompt": p, "answer": a, "skill": skill} for p, a in pairs]


class TrainSampler:
    """Endless seeded stream of train-split ``(prompt, answer)`` pairs of one skill (with repeats)."""

    def __init__(self, skill: str, seed: int = 0):
        self.skill = _check(skill, "train")
        self.rng = random.Random(f"rlvr.toy/stream/{skill}/{seed}")
        self.space = prompt_space(skill, "train")

    def __call__(self) -> tuple[str, str]:
        if self.space is not None:
            return self.rng.choice(self.space)
        while True:
            prompt, answer = self.skill.sample(self.rng)
            if split_of(prompt) == "train":
                return prompt, answer
