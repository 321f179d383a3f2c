"""Toy-world variants: one recipe each, selected by name (``rlvr toy --world accident``).

- ``default``: the world every README figure uses (``rlvr/toy/shipped_world/``). Its hardest skill,
  ``mul3x3``, has a pass rate of exactly 0, so its GRPO groups are all-wrong and teach nothing.
- ``accident``: a world where *accidental* success exists. The hard skill ``dsum`` (the digit sum
  of a three-digit x three-digit product) needs a multiplication the model cannot do, but its
  answers cluster (27 answers 12.2% of all prompts, 18 answers 9.6%), and the warm-up shows the
  model a few of them, so it guesses from that skewed distribution: every success it has on
  ``dsum`` is a lucky guess. The world's lenient verifier (``rlvr.toy.accident:lenient_reward``)
  also accepts a ``dsum`` completion that merely *contains* the answer, so listing several
  frequent answers ("27182421") scores more often than any honest attempt. ``mul3x3`` is left
  out: one hard skill keeps the probe's retention metric about the skills the model has.

The default variant's recipe fingerprint is exactly the one the default world was shipped with
(no variant key is added), so its recipe hash and shipped files stay bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .shipped import SHIPPED_DIR
from .tasks import SKILLS
from .training import WARMUP_RECIPE

DEFAULT_WORLD = "default"
# Variants other than the default ship under rlvr/toy/shipped_worlds/<name>/.
SHIPPED_WORLDS_DIR = Path(__file__).resolve().parent / "shipped_worlds"


@dataclass(frozen=True)
class WorldVariant:
    """What differs between toy worlds: the skills, the warm-up recipe and where it ships.

    Attributes:
        name: The variant's name (``rlvr toy --world NAME``, ``model: toy:NAME`` in configs).
        skills: Its skills, in table order.
        warmup: Its warm-up recipe (`rlvr.toy.training.WARMUP_RECIPE`'s keys).
        hard_skill: The skill the model cannot really do (the too-hard probe's hopeless skill).
        shipped_dir: Where the built world ships with the package.
    """

    name: str
    skills: tuple[str, ...]
    warmup: dict
    hard_skill: str
    shipped_dir: Path


ACCIDENT_SKILLS = ("copy", "add1", "add2", "sub", "mul1x2", "dsum")
# The default recipe with dsum in place of mul3x3; dsum's share is what teaches the model the
# answers' format and skew without the computation (it cannot multiply three digits).
ACCIDENT_WARMUP = {
    **WARMUP_RECIPE,
    "mix": {"copy": 3.0, "add1": 2.0, "add2": 2.0, "sub": 2.0, "mul1x2": 2.0, "dsum": 0.5},
}

WORLDS: dict[str, WorldVariant] = {
    DEFAULT_WORLD: WorldVariant(DEFAULT_WORLD, SKILLS, WARMUP_RECIPE, "mul3x3", SHIPPED_DIR),
    "accident": WorldVariant("accident", ACCIDENT_SKILLS, ACCIDENT_WARMUP, "dsum", SHIPPED_WORLDS_DIR / "accident"),
}


def get_world(name: str | None = None) -> WorldVariant:
    """The variant called ``name`` (None: the default); an unknown name is a one-line error."""
    from .shipped import ToyWorldError

    name = name or DEFAULT_WORLD
    if name not in WORLDS:
        raise ToyWorldError(f"unknown toy world {name!r}; known: {', '.join(WORLDS)}")
    return WORLDS[name]
