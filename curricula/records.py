"""What every layer above `rewards` says about an input row: its error type and its prompt hash.

They live here, below `rlvr`, because curricula's own readers (`curricula.compat.data`) and
audit records need them; `rlvr.data` re-exports both, so ``from rlvr.data import DataError``
keeps working.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rewards.base import UserInputError


class DataError(UserInputError):
    """Input data that cannot be trained on; the message names the file, row and field."""


def prompt_hash(prompt: Any) -> str:
    """A short content hash of a prompt (string or chat messages), stable across runs."""
    text = prompt if isinstance(prompt, str) else repr(prompt)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]
