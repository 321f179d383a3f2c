"""Data selectors for the "influence vs difficulty" comparison: pure functions over rows + scores.

A selector takes the pool's rows, a mapping of precomputed per-row scores (name -> one float per
row, e.g. from `curricula.difficulty.make_scorer`) and a budget (a fraction of the pool), and
returns the indices it keeps, in pool order. Computing the scores (which needs a model) is kept
apart, so the selectors are cheap, deterministic and testable on hand-made numbers.

==================  =====================  ==========================================================
name                scores needed          keeps
==================  =====================  ==========================================================
full                -                      every row (the budget is ignored)
random              -                      a seeded uniform sample
loss, perplexity,   the same name          the hardest rows (highest score; forgetting: most
el2n, grand,                               forgotten, never-learned first)
forgetting
pass_band           answer_prob            rows whose exact answer probability lies in the band,
                                           most uncertain (p(1-p) highest) first
influence           influence              the rows most aligned with the target (LESS score)
frontier_influence  answer_prob,           rows on the student's frontier (answer probability in
                    influence              the band), ranked by influence
==================  =====================  ==========================================================

Band-limited selectors may keep fewer rows than the budget when too few rows are in the band.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rewards.registries import Registry

Scores = Mapping[str, Sequence[float]]

DEFAULT_BAND = (0.05, 0.95)


@dataclass(frozen=True)
class Selector:
    """A registered selector: ``fn(rows, scores, count, seed, band) -> indices``."""

    name: str
    needs: tuple[str, ...]
    fn: Callable[..., list[int]]
    description: str = ""

    def __call__(
        self,
        rows: Sequence[dict],
        scores: Scores | None = None,
        fraction: float = 1.0,
        seed: int = 0,
        band: tuple[float, float] = DEFAULT_BAND,
    ) -> list[int]:
        scores = scores or {}
        missing = [k for k in self.needs if k not in scores]
        if missing:
            raise KeyError(f"selector {self.name!r} needs scores {missing}; got {sorted(scores)}.")
        for k in self.needs:
            if len(scores[k]) != len(rows):
                raise ValueError(f"{len(rows)} rows but {len(scores[k])} {k!r} scores.")
        if not 0 < fraction <= 1:
            raise ValueError(f"budget must be a fraction in (0, 1], got {fraction}.")
        return sorted(self.fn(rows, scores, budget_count(len(rows), fraction), seed, band))


SELECTORS: Registry[Selector] = Registry("selector")


def register(name: str, needs: tuple[str, ...] = (), description: str = ""):
    def decorate(fn):
        SELECTORS.register(name, Selector(name, needs, fn, description))
        return fn

    return decorate


def get_selector(name: str) -> Selector:
    return SELECTORS.get(name)


def list_selectors() -> list[str]:
    return SELECTORS.names()


def scores_needed(names: Sequence[str]) -> list[str]:
    """The score names the given selectors need, each once, in a stable order."""
    out: list[str] = []
    for name in names:
        for k in get_selector(name).needs:
            if k not in out:
                out.append(k)
    return out


def budget_count(n: int, fraction: float) -> int:
    """Rows a budget of ``fraction`` keeps out of ``n`` (at least one)."""
    return max(1, min(n, round(fraction * n)))


def top_k(
    values: Sequence[float], count: int, candidates: Sequence[int] | None = None, highest: bool = True
) -> list[int]:
    """Indices of the ``count`` best values among ``candidates`` (ties by index; NaN last)."""
    pool = range(len(values)) if candidates is None else candidates

    def key(i):
        v = values[i]
        if v is None or math.isnan(v):
            return (1, 0.0, i)
        return (0, -v if highest else v, i)

    return sorted(pool, key=key)[:count]


def in_band(probs: Sequence[float], band: tuple[float, float]) -> list[int]:
    lo, hi = band
    return [i for i, p in enumerate(probs) if p is not None and not math.isnan(p) and lo <= p <= hi]


@register("full", description="every row of the pool")
def _full(rows, scores, count, seed, band):
    return list(range(len(rows)))


@register("random", description="seeded uniform sample")
def _random(rows, scores, count, seed, band):
    return random.Random(f"curricula.selectors/random/{seed}").sample(range(len(rows)), count)


def _hardest(name: str):
    def fn(rows, scores, count, seed, band):
        return top_k(scores[name], count)

    return fn


for _name, _what in (
    ("loss", "highest answer NLL"),
    ("perplexity", "highest answer perplexity"),
    ("el2n", "highest LM-EL2N"),
    ("grand", "highest gradient norm (GraNd)"),
    ("forgetting", "most forgetting events, never learned first"),
):
    register(_name, needs=(_name,), description=f"hardest first: {_what}")(_hardest(_name))


@register("pass_band", needs=("answer_prob",), description="answer probability in the band, most uncertain first")
def _pass_band(rows, scores, count, seed, band):
    probs = scores["answer_prob"]
    uncertainty = [p * (1 - p) for p in probs]
    return top_k(uncertainty, count, in_band(probs, band))


@register("influence", needs=("influence",), description="highest LESS influence on the target skill")
def _influence(rows, scores, count, seed, band):
    return top_k(scores["influence"], count)


@register(
    "frontier_influence",
    needs=("answer_prob", "influence"),
    description="on-frontier rows (answer probability in the band), highest influence first",
)
def _frontier_influence(rows, scores, count, seed, band):
    return top_k(scores["influence"], count, in_band(scores["answer_prob"], band))
