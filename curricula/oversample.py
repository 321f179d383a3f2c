"""DAPO-style over-sampling, the decisions: how many extra groups, from which prompts, and which
zero-variance group each informative new group replaces.

The trainer generates a batch; while some process still holds zero-variance groups (and the
budget allows), it generates more groups from active prompts and overwrites zero-variance groups
with informative ones. Everything here is a function of plain values (flags gathered over every
process, the pool's ids, (seed, step, round)), so every process computes the same numbers and a
resumed run draws the same prompts. Generating and merging tensors stay with the trainer.

Group indices: the global batch holds ``n_proc x groups_per_proc`` groups, process ``p`` owning
``[p * groups_per_proc, (p + 1) * groups_per_proc)``; a round draws ``n_draw`` groups per process,
laid out the same way.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def extra_group_budget(max_generation_multiplier: float, n_groups: int) -> int:
    """Extra groups a generation batch of ``n_groups`` may add: up to ``max_generation_multiplier``
    x the batch in all (rounded down), less the batch itself."""
    return int(max_generation_multiplier * n_groups) - n_groups


def process_deficits(zero: Sequence[bool], n_proc: int, groups_per_proc: int) -> list[int]:
    """Zero-variance groups each process holds (``zero``: one global flag per group)."""
    return [sum(zero[p * groups_per_proc : (p + 1) * groups_per_proc]) for p in range(n_proc)]


def groups_to_draw(draw: str, deficit: int, zero_share: float, groups_per_proc: int, budget_left: int) -> int:
    """Groups per process to generate in the next over-sampling round.

    ``draw="batch"``: a whole generation batch, as DAPO does (fewest rounds: on a GPU one bigger
    generate call costs little more than a small one). ``"deficit"``: only as many as the largest
    per-process ``deficit`` needs at the informative rate the batch showed (``1 - zero_share``,
    floored at 0.25, so at most 4x the deficit), never past ``budget_left`` (groups per process)
    and at least 1: fewer generated tokens, possibly more rounds.
    """
    if draw == "batch":
        return groups_per_proc
    informative = max(1.0 - zero_share, 0.25)
    wanted = math.ceil(deficit / informative)
    return max(1, min(groups_per_proc, wanted, budget_left))


def draw_prompts(
    pool_ids: Sequence[str],
    n_groups: int,
    *,
    is_excluded: Callable[[str], bool],
    skips: Callable[[str], bool],
    step: int,
    seed: int,
    round_index: int,
) -> list[str] | None:
    """``n_groups`` prompt ids to over-sample from, or ``None`` when no prompt is active.

    Active prompts (not ``is_excluded``) that are not skipped at this step (``skips``), unless all
    are; drawn without repeats by ``random.Random(f"rlvr-oversample-{seed}-{step}-{round_index}")``,
    then with repeats once the pool is used up.
    """
    active = [pid for pid in pool_ids if not is_excluded(pid)]
    if not active:
        return None
    unskipped = [pid for pid in active if not skips(pid)]
    active = unskipped or active
    rng = random.Random(f"rlvr-oversample-{seed}-{step}-{round_index}")
    picks = rng.sample(active, min(n_groups, len(active)))
    while len(picks) < n_groups:
        picks.append(rng.choice(active))
    return picks


@dataclass
class Pairing:
    """One round's replacements.

    Args:
        pairs: Per process, ``(batch group, new group)`` in that process's local indices: the
            batch group is overwritten by the new one.
        zero: The global zero-variance flags of the batch after the replacements.
    """

    pairs: list[list[tuple[int, int]]]
    zero: list[bool]


def pair_groups(
    zero: Sequence[bool], new_zero: Sequence[bool], n_proc: int, groups_per_proc: int, n_draw: int
) -> Pairing:
    """Pair each process's zero-variance groups with its informative new groups, both in order.

    ``zero``: the batch's global flags; ``new_zero``: the round's global flags (``n_draw`` groups
    per process). Groups never cross processes, so per-process shapes never change.
    """
    zero = list(zero)
    pairs = []
    for p in range(n_proc):
        span = range(p * groups_per_proc, (p + 1) * groups_per_proc)
        new_span = range(p * n_draw, (p + 1) * n_draw)
        matched = list(zip([g for g in span if zero[g]], [g for g in new_span if not new_zero[g]]))
        pairs.append([(t - p * groups_per_proc, s - p * n_draw) for t, s in matched])
        for t, _ in matched:
            zero[t] = False
    return Pairing(pairs, zero)
