"""The audit log's closed part: Parquet segments (zstd), read back in record order.

A run's log is ``audit.segments/seg-<first seq>.parquet`` files (closed steps, written whole and
renamed into place, so a segment is either complete or absent) followed by ``audit.jsonl`` (the
open tail, appended to every step). `curricula.audit.AuditLog` moves the tail into a new segment
once it holds enough records; a log written before segments existed is a tail alone.

A segment holds the record (`curricula.audit_schema.RECORD_SCHEMA`, defined there once; ``stats``
and ``columns`` as compact JSON text, so every record reads back exactly as written, whatever keys
its filter used) plus four typed columns copied out of them for queries that must not parse JSON
at 10M records (`QUERY_COLUMNS`): ``skill`` (``columns["skill"]``), ``pass_rate``,
``active_pool`` and ``predicted_pass_rate`` (from ``stats``; null where a record has none).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curricula import audit_schema

SEGMENT_DIR = "audit.segments"
SEGMENT_GLOB = "seg-*.parquet"
# Typed copies of values inside the JSON objects, appended after the record's fields: `skill`
# from ``columns``, the rest from ``stats`` (null where a record has none).
QUERY_COLUMNS = [
    ("skill", pa.string()),
    ("pass_rate", pa.float64()),
    ("active_pool", pa.float64()),
    ("predicted_pass_rate", pa.float64()),
]
QUERY_NUMBERS = tuple(name for name, _ in QUERY_COLUMNS[1:])  # the `stats` keys copied

SEGMENT_SCHEMA = pa.schema([*audit_schema.ARROW_SCHEMA, *QUERY_COLUMNS])
RECORD_FIELDS = audit_schema.AUDIT_FIELDS
JSON_FIELDS = audit_schema.JSON_FIELDS
SCALAR_FIELDS = audit_schema.SCALAR_FIELDS  # all but the JSON objects, which end a record
if JSON_FIELDS != ("stats", "columns"):  # `record_row` writes these two, in this order
    raise TypeError(f"audit_store writes the JSON objects stats and columns; the schema has {JSON_FIELDS}")


def json_default(obj):
    """numpy / torch scalars as numbers; anything else as its text."""
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


# One compact encoder for every record: `json.dumps` with options builds a new encoder per call,
# which cost more than encoding a record's small objects (several calls per record, every step).
_encode = json.JSONEncoder(separators=(",", ":"), default=json_default).encode
# Each JSON object's key as it opens in a JSONL line (``,"stats":``), written after the scalars.
_OBJECT_KEYS = tuple(f",{json.dumps(name)}:" for name in JSON_FIELDS)
_SCALARS = len(SCALAR_FIELDS)


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def record_row(record: dict) -> tuple:
    """One record as a row of `SEGMENT_SCHEMA` (``stats`` and ``columns`` as JSON text)."""
    get = record.get
    stats, columns = get("stats") or {}, get("columns") or {}
    skill = columns.get("skill")
    return (
        *[get(name) for name in SCALAR_FIELDS],
        _encode(stats),
        _encode(columns),
        None if skill is None else str(skill),
        *[_number(stats.get(key)) for key in QUERY_NUMBERS],
    )


def row_line(row: tuple) -> str:
    """A row's JSONL line: the record with its fields in schema order (its JSON text written as is)."""
    head = _encode(dict(zip(SCALAR_FIELDS, row)))
    texts = row[_SCALARS : len(RECORD_FIELDS)]
    return head[:-1] + "".join(key + text for key, text in zip(_OBJECT_KEYS, texts)) + "}\n"


def rows_to_table(rows: list[tuple]) -> pa.Table:
    """`record_row` rows as a table of `SEGMENT_SCHEMA`."""
    columns = list(zip(*rows)) if rows else [()] * len(SEGMENT_SCHEMA)
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, SEGMENT_SCHEMA)], schema=SEGMENT_SCHEMA
    )


def records_to_table(records: list[dict]) -> pa.Table:
    """Audit records (dicts of `RECORD_FIELDS`) as a table of `SEGMENT_SCHEMA`."""
    return rows_to_table([record_row(r) for r in records])


def table_to_records(table: pa.Table) -> list[dict]:
    """The records of a `SEGMENT_SCHEMA` table, exactly as they were written."""
    rows = table.select(list(RECORD_FIELDS)).to_pylist()
    for row in rows:
        for name in JSON_FIELDS:
            row[name] = json.loads(row[name])
    return rows


def segment_dir(log_path: Path) -> Path:
    """Where the segments of the log whose tail is ``log_path`` live."""
    return Path(log_path).parent / SEGMENT_DIR


def segments(log_path: Path) -> list[tuple[int, int, Path]]:
    """``(first seq, records, path)`` of each complete segment, in record order."""
    folder = segment_dir(log_path)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(SEGMENT_GLOB):
        first = int(path.name[len("seg-") : -len(".parquet")])
        found.append((first, pq.read_metadata(path).num_rows, path))
    return sorted(found)


def write_segment(log_path: Path, first: int, table: pa.Table) -> Path:
    """Write ``table`` (records from seq ``first``) as a segment: whole, or not at all."""
    folder = segment_dir(log_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"seg-{first:012d}.parquet"
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(
        table, tmp, compression="zstd", compression_level=9, use_dictionary=True, row_group_size=max(1, table.num_rows)
    )
    os.replace(tmp, path)  # a kill before this leaves a .tmp file, removed on the next open
    return path


def remove_partial_segments(log_path: Path) -> None:
    """Delete ``.tmp`` files left by a kill in the middle of writing a segment."""
    folder = segment_dir(log_path)
    if folder.is_dir():
        for tmp in folder.glob("*.tmp"):
            tmp.unlink()


def iter_tail_records(path: Path, chunk: int = 50_000) -> Iterator[list[dict]]:
    """The complete JSONL records of ``path`` in lists of at most ``chunk`` (a torn last line is left out)."""
    if not path.exists():
        return
    batch = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f):
            if not line.endswith("\n"):
                break  # torn last line of a killed run
            try:
                batch.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {line_number + 1} is not valid JSON: {err}") from err
            if len(batch) >= chunk:
                yield batch
                batch = []
    if batch:
        yield batch


def iter_tables(log_path: Path, columns: list[str] | None = None, chunk: int = 50_000) -> Iterator[pa.Table]:
    """The whole log as `SEGMENT_SCHEMA` tables in record order: each segment, then the tail in chunks.

    Memory is bounded by one segment (or ``chunk`` tail records), however long the log; ``columns``
    reads only those columns of a segment (Parquet is columnar, so the rest is never decoded).
    """
    for _, _, path in segments(log_path):
        yield pq.read_table(path, columns=columns)
    for records in iter_tail_records(Path(log_path), chunk):
        table = records_to_table(records)
        yield table.select(columns) if columns is not None else table


def iter_sources(log_path: Path, chunk: int = 50_000) -> Iterator:
    """Like `iter_tables`, but each item is ``read(columns)``: a query can read a segment's key
    columns first and skip the rest of a segment with nothing it wants."""
    for _, _, path in segments(log_path):
        yield lambda columns, path=path: pq.read_table(path, columns=columns)
    for records in iter_tail_records(Path(log_path), chunk):
        table = records_to_table(records)
        yield lambda columns, table=table: table.select(columns) if columns is not None else table
