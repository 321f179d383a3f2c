"""Pre-rollout substitution: which prompts of a batch are swapped out, and for which prompts.

Before a generation step the frontier filter's excluded prompts (dropped, not due for a
re-probe) and the prompts it skips at this step (``skip_zero_variance``) give their slot to
active prompts. `choose_replacements` makes that choice from plain values (the batch's ids, the
pool's ids, three questions about a prompt), seeded by (seed, step): every process, given the
same gathered batch, and a resumed run make the same choice. Reading the rows, counting and
auditing stay with the trainer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Replacements:
    """One step's substitution.

    Args:
        replacement: Batch prompt id -> the prompt id that takes its slot (excluded prompts first,
            then skipped ones; insertion order).
        skipped: The prompts skipped before rollout at this step (each has a replacement); a
            prompt the filter would skip but that no replacement was left for is rolled out.
    """

    replacement: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def excluded_and_skipped(
    ids: Sequence[str],
    *,
    is_excluded: Callable[[str], bool],
    wants_probe: Callable[[str], bool],
    skips: Callable[[str], bool],
) -> tuple[list[str], list[str]]:
    """The safety net's verdict on prompts before rollout, in their order: those excluded and not
    due for a re-probe, and the active ones skipped at this step."""
    excluded = [pid for pid in ids if is_excluded(pid) and not wants_probe(pid)]
    skipped = [pid for pid in ids if not is_excluded(pid) and skips(pid)]
    return excluded, skipped


def choose_replacements(
    batch_ids: Sequence[str],
    pool_ids: Sequence[str],
    *,
    is_excluded: Callable[[str], bool],
    wants_probe: Callable[[str], bool],
    skips: Callable[[str], bool],
    step: int,
    seed: int,
) -> Replacements:
    """Replacements for the excluded and skipped prompts of a batch.

    ``batch_ids`` are the batch's distinct prompt ids (gathered over processes); ``is_excluded``,
    ``wants_probe`` and ``skips`` answer for a prompt id at this step. An excluded prompt due for
    a re-probe stays. Replacements are active prompts outside the batch that are not skipped at
    this step, drawn without repeats by ``random.Random(f"rlvr-substitute-{seed}-{step}")``; a
    prompt is only skipped if such a replacement is left for it, while an excluded prompt falls
    back to skipped prompts outside the batch, then to repeating active ones (tiny pools).
    """
    excluded, want_skip = excluded_and_skipped(batch_ids, is_excluded=is_excluded, wants_probe=wants_probe, skips=skips)
    if not excluded and not want_skip:
        return Replacements()
    in_batch = set(batch_ids)
    active = [pid for pid in pool_ids if not is_excluded(pid)]
    outside = [pid for pid in active if pid not in in_batch]
    candidates = [pid for pid in outside if not skips(pid)]
    rng = random.Random(f"rlvr-substitute-{seed}-{step}")
    picks = rng.sample(candidates, min(len(excluded) + len(want_skip), len(candidates)))
    replacement = dict(zip(excluded, picks))
    skipped = want_skip[: max(0, len(picks) - len(excluded))]
    replacement.update(zip(skipped, picks[len(excluded) :]))
    short = [pid for pid in excluded if pid not in replacement]
    if short:  # few unskipped prompts left: excluded ones take skipped prompts, then repeats
        taken = set(picks)
        rest = [pid for pid in outside if pid not in taken]
        replacement.update(zip(short, rng.sample(rest, min(len(short), len(rest)))))
        for pid in short:
            if pid not in replacement and active:  # tiny pools: repeat active prompts
                replacement[pid] = rng.choice(active)
    return Replacements(replacement, skipped)
