"""Teacher-refined rows for the compatibility filter: read as a stream, validate one at a time.

Rows are never all in memory: JSONL is read line by line, Parquet by record batch, CSV by pandas
chunk, a `datasets` name in streaming mode. Every row comes with its 0-based index in the source.

A row that cannot be scored becomes a *bad record* with a problem code and a message naming the
source, row and field, e.g.::

    refined.jsonl row 17, field 'response' (column 'output'): empty

Bad records go through the same pipeline as scored ones (``scores.jsonl``, then a ``dropped``
decision in the audit log and a line in ``bad_rows.jsonl``): nothing is lost silently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from curricula.compat.rules import CompatConfig
from curricula.records import DataError, jsonl_lines, parse_jsonl_line, prompt_hash

# Problem codes of bad records (the audit log's `reason` for these drops).
INVALID_JSON = "invalid_json"
WRONG_TYPE = "wrong_type"
DUPLICATE_ID = "duplicate_id"
TOO_LONG = "too_long"
EMPTY_AFTER_TOKENIZATION = "empty_after_tokenization"
# ... and missing_<field> / empty_<field> for prompt and response.

TEXT_FIELDS = ("prompt", "response", "original_prompt", "original_response")


def open_source(data: Any, config: CompatConfig) -> tuple[Iterator[tuple[int, Any]], str, int | None]:
    """``(rows, source name, row count or None)``; rows are ``(index, dict | BadJson)``.

    ``data`` is a local ``.jsonl``/``.parquet``/``.csv`` file, a directory written by
    ``Dataset.save_to_disk``, a `datasets` name (streamed, split ``config.split``), or an
    in-memory iterable of dicts / a `datasets.Dataset`.
    """
    if not isinstance(data, (str, os.PathLike)):
        total = len(data) if hasattr(data, "__len__") else None
        return enumerate(iter(data)), "<dataset>", total
    spec = str(data)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".parquet", ".csv"):
        if not path.is_file():
            raise DataError(f"Data file '{spec}' does not exist.")
        if suffix in (".jsonl", ".json"):
            return _jsonl_rows(path), spec, _count_lines(path)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return _parquet_rows(path, config.chunk_size), spec, pq.ParquetFile(path).metadata.num_rows
        return _csv_rows(path, config.chunk_size), spec, None
    if path.is_dir():
        import datasets

        try:
            ds = datasets.load_from_disk(spec)
        except Exception as err:  # datasets raises several types for a folder it cannot read
            raise DataError(f"'{spec}' is a folder but not one written by Dataset.save_to_disk: {err}") from err
        if isinstance(ds, datasets.DatasetDict):
            if config.split not in ds:
                raise DataError(f"'{spec}' has no split '{config.split}'; it has: {', '.join(ds)}.")
            ds = ds[config.split]
        return enumerate(iter(ds)), spec, len(ds)
    if path.exists():
        raise DataError(f"'{spec}' has an unsupported extension; use .jsonl, .parquet or .csv.")
    import datasets

    try:
        stream = datasets.load_dataset(spec, split=config.split, streaming=True)
    except Exception as err:
        raise DataError(
            f"Could not load dataset '{spec}' (split '{config.split}'): {err}. Offline runs "
            "need a local file or a dataset already in the Hugging Face cache."
        ) from err
    return enumerate(iter(stream)), f"{spec}[{config.split}]", None


class BadJson:
    """A JSONL line that did not parse (kept as a row so it is reported, not skipped)."""

    def __init__(self, line: str, error: str):
        self.line, self.error = line, error

    def __repr__(self) -> str:
        # What a bad-row record shows as the row's values: the line as it was read, so the
        # record names the broken text (and is the same on every run, unlike an object address).
        return self.line.rstrip("\n")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Rows of a JSON Lines file as `rlvr.data` reads them (`curricula.records.jsonl_lines`): a
    line that is bad UTF-8 or broken JSON is one bad row, not a failed file; row numbers are line
    numbers - 1 (blank lines hold no row)."""
    for number, raw in jsonl_lines(path):
        value, problem = parse_jsonl_line(raw)
        if problem is not None:
            value = BadJson(raw.decode("utf-8", errors="replace").rstrip("\r\n"), problem)
        yield number - 1, value


def _count_lines(path: Path) -> int:
    count, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _parquet_rows(path: Path, batch_rows: int) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    index = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        for row in batch.to_pylist():
            yield index, row
            index += 1


def _csv_rows(path: Path, batch_rows: int) -> Iterator[tuple[int, Any]]:
    import pandas as pd

    index = 0
    for frame in pd.read_csv(path, chunksize=batch_rows, dtype=str, keep_default_na=False):
        for row in frame.to_dict(orient="records"):
            yield index, {k: (None if v == "" else v) for k, v in row.items()}
            index += 1


def row_id(index: int, raw: Any, config: CompatConfig) -> str:
    """The row's stable id: its ``id`` column, or the row number plus a hash of its prompt.

    Derived ids match `rlvr.data`'s, so a row keeps its id when the filtered file is trained on.
    """
    if isinstance(raw, dict):
        value = raw.get(config.column("id"))
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value)
        prompt = raw.get(config.column("prompt"))
        if isinstance(prompt, str):
            return f"{index:06d}-{prompt_hash(prompt)[:6]}"
    return f"{index:06d}-bad"


def _short(value: Any, limit: int = 200) -> Any:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def bad_record(index: int, rid: str, source: str, field: str | None, problem: str, message: str, raw: Any) -> dict:
    """A ``scores.jsonl`` record for a row that cannot be scored."""
    values = {k: _short(v) for k, v in raw.items()} if isinstance(raw, dict) else _short(raw)
    return {
        "id": rid,
        "row": index,
        "source": source,
        "status": "bad",
        "field": field,
        "problem": problem,
        "message": message,
        "values": values,
    }


def validate_row(index: int, raw: Any, source: str, config: CompatConfig, seen_ids: set[str]) -> dict:
    """A row ready to score (``status: ok``) or a bad record (``status: bad``).

    Required: ``prompt`` and ``response``, non-empty strings. ``original_prompt`` defaults to
    the prompt; an absent or empty ``original_response`` means there is nothing to compare the
    refinement with (noted in the record). Columns that are not mapped pass through.
    """
    rid = row_id(index, raw, config)

    def bad(field: str | None, problem: str, why: str) -> dict:
        where = f"{source} row {index}"
        if field is not None:
            column = config.column(field)
            where += f", field '{field}'" + (f" (column '{column}')" if column != field else "")
        return bad_record(index, rid, source, field, problem, f"{where}: {why}", raw)

    if isinstance(raw, BadJson):
        return bad(None, INVALID_JSON, f"not a JSON object ({raw.error}): {_short(raw.line.strip(), 80)!r}")
    if not isinstance(raw, dict):
        return bad(None, WRONG_TYPE, f"expected an object with prompt and response, got {type(raw).__name__}")

    values = {name: raw.get(config.column(name)) for name in ("id", "answer", *TEXT_FIELDS)}
    for name in ("prompt", "response"):
        value = values[name]
        if value is None:
            present = ", ".join(sorted(k for k, v in raw.items() if v is not None)) or "nothing"
            return bad(name, f"missing_{name}", f"missing; the row has: {present}")
        if not isinstance(value, str):
            return bad(name, WRONG_TYPE, f"expected a string, got {type(value).__name__} {_short(value, 40)!r}")
        if not value.strip():
            return bad(name, f"empty_{name}", "empty")
    for name in ("original_prompt", "original_response"):
        if values[name] is not None and not isinstance(values[name], str):
            return bad(name, WRONG_TYPE, f"expected a string, got {type(values[name]).__name__}")
    answer = values["answer"]
    if answer is not None and (isinstance(answer, bool) or not isinstance(answer, (str, int, float))):
        return bad("answer", WRONG_TYPE, f"expected a string or number, got {type(answer).__name__}")
    raw_id = values["id"]
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, (str, int))):
        return bad("id", WRONG_TYPE, f"expected a string or integer, got {type(raw_id).__name__}")
    if rid in seen_ids:
        return bad("id", DUPLICATE_ID, f"duplicate id '{rid}' (an earlier row has it)")

    notes = []
    original_response = values["original_response"]
    if original_response is not None and not original_response.strip():
        original_response = None
        notes.append("original_response is empty: the refined answer is judged alone")
    mapped = {config.column(name) for name in ("id", "answer", *TEXT_FIELDS)}
    return {
        "id": rid,
        "row": index,
        "source": source,
        "status": "ok",
        "prompt_hash": prompt_hash(values["prompt"]),
        "prompt": values["prompt"],
        "response": values["response"],
        "original_prompt": values["original_prompt"] or values["prompt"],
        "original_response": original_response,
        "answer": None if answer is None else str(answer),
        "columns": {k: v for k, v in raw.items() if k not in mapped},
        "notes": notes,
    }


def audit_columns(columns: dict) -> dict:
    """The passthrough columns worth putting in the audit log: short scalars (skill, source)."""
    return {
        k: v for k, v in columns.items() if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 100)
    }


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Write records to a new file in one go (used for small side files)."""
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, default=str) + "\n")
