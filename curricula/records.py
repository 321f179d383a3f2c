"""What every layer above `rewards` says about an input row: its error type and its prompt hash.

They live here, below `rlvr`, because curricula's own readers (`curricula.compat.data`) and
audit records need them; `rlvr.data` re-exports both, so ``from rlvr.data import DataError``
keeps working.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from rewards.base import UserInputError


class DataError(UserInputError):
    """Input data that cannot be trained on; the message names the file, row and field."""


def prompt_hash(prompt: Any) -> str:
    """A short content hash of a prompt (string or chat messages), stable across runs."""
    text = prompt if isinstance(prompt, str) else repr(prompt)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def rows_by_skill(
    rows: Sequence[dict], limit: int | None = None, skills: Iterable[str] | None = None
) -> dict[str, list[dict]]:
    """The first ``limit`` rows (all when None) of each skill, in file order, keyed by skill in the
    order skills first appear; only ``skills`` when given. A row without a ``skill`` is in ``"all"``."""
    wanted = None if skills is None else {str(s) for s in skills}
    by_skill: dict[str, list[dict]] = {}
    for row in rows:
        skill = str(row.get("skill", "all"))
        if wanted is not None and skill not in wanted:
            continue
        bucket = by_skill.setdefault(skill, [])
        if limit is None or len(bucket) < limit:
            bucket.append(row)
    return by_skill
