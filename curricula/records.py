"""What every layer above `rewards` says about an input row: its error type, its prompt hash,
and how a JSON Lines file is read line by line.

They live here, below `rlvr`, because curricula's own readers (`curricula.compat.data`) and
audit records need them; `rlvr.data` re-exports ``DataError`` and ``prompt_hash``, so
``from rlvr.data import DataError`` keeps working.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

# Compressed JSON Lines/JSON/CSV (not Parquet, compressed inside), by the stdlib's openers.
COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

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


def open_binary(path: str | Path):
    """A data file opened for reading bytes, decompressed when its name says so."""
    opener = COMPRESSED.get(Path(path).suffix.lower())
    return opener(path, "rb") if opener else open(path, "rb")


def jsonl_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """``(1-based line number, raw bytes)`` of every non-blank line of a JSON Lines file.

    A UTF-8 byte order mark is dropped; a UTF-16 one is a `DataError` for the whole file (every
    line would be bad: the file is in another encoding). Blank lines are not rows, as JSON Lines
    readers agree; CRLF line ends and a last line without newline are fine.
    """
    with open_binary(path) as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM) :]
            if number == 1 and raw[:2] in UTF16_BOMS:
                raise DataError(
                    f"'{path}' is UTF-16 encoded (it starts with a UTF-16 byte order mark); "
                    f"JSON Lines must be UTF-8: convert it, e.g. iconv -f UTF-16 -t UTF-8 {path}"
                )
            if raw.strip():
                yield number, raw


def parse_jsonl_line(raw: bytes) -> tuple[Any, str | None]:
    """One JSON Lines line as ``(value, None)``, or ``(None, why it is not JSON)``: bad UTF-8,
    broken JSON, or a lone UTF-16 surrogate escape. Any JSON value parses; callers that need
    an object say so themselves (`json_type` names what they got)."""
    # Without its line end, so that an error at the end of the line is placed on this line
    # (json would report "line 2 column 1" of the text, i.e. past the newline).
    raw = raw.rstrip(b"\r\n")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"not valid UTF-8 (byte {raw[err.start : err.start + 1]!r} at column {err.start + 1})"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"invalid JSON ({err.msg} at column {err.colno})"
    if b"\\u" in raw.lower() and _has_lone_surrogate(value):
        # "\ud800" alone is valid JSON but no character: the text could not be hashed, tokenized
        # or written back as UTF-8.
        return None, "a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not a character"
    return value, None


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def json_type(value: Any) -> str:
    """What a JSON value is, for messages (``an object``, ``an array``, ``a number``...)."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
