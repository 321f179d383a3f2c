"""`rlvr audit` over long logs: selections and summaries computed column by column with pyarrow.

The log is streamed one segment (or tail chunk) at a time (`curricula.audit_store.iter_tables`),
reading only the columns a query needs, so memory is bounded by a segment and by the number of
prompts, not by the number of decisions. Results equal those of `rlvr.audit_report.select` and
`summary_table` on the same records (tests/rlvr/test_audit_query.py checks it).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from curricula import audit_schema, audit_store
from curricula.audit import audit_tail_path
from rlvr.audit_table import text_table

SUMMARY_COLUMNS = ["run_id", "global_step", "filter", "decision", "reason", "prompt_id", "skill"]


@dataclass
class Selection:
    """Which records a listing wants (the `rlvr audit` options); ``None`` = no condition."""

    run_id: str | None = "latest"
    decision: str | None = None
    prompt: str | None = None
    filter_name: str | None = None
    steps: str | None = None


def parse_steps(steps: str | None) -> tuple[int | None, int | None]:
    """``"A:B"`` as (A, B): inclusive A, exclusive B; either side may be empty."""
    if not steps:
        return None, None
    if ":" not in steps:
        raise ValueError(f"--steps must look like A:B (e.g. 10:20 or :5), got {steps!r}")
    lo, hi = steps.split(":", 1)
    return (int(lo) if lo else None), (int(hi) if hi else None)


def latest_run_id(path: Path) -> str | None:
    """The run id of the log's last record (the run `--run latest` means)."""
    path = audit_tail_path(path)
    last = _last_complete_line(path)
    if last is not None:
        return json.loads(last)["run_id"]
    found = audit_store.segments(path)
    if not found:
        return None
    import pyarrow.parquet as pq

    run_ids = pq.read_table(found[-1][2], columns=["run_id"]).column("run_id")
    return run_ids[len(run_ids) - 1].as_py()


def _last_complete_line(path: Path, block: int = 1 << 16) -> bytes | None:
    """The last newline-terminated line of ``path``, read from the end (a long old log is not parsed)."""
    if not path.exists():
        return None
    with open(path, "rb") as f:
        end = f.seek(0, 2)
        data = b""
        while end > 0:
            start = max(0, end - block)
            f.seek(start)
            data = f.read(end - start) + data
            end = start
            complete = data[: data.rfind(b"\n") + 1]  # drop a torn tail
            if complete.count(b"\n") >= 2 or (end == 0 and complete):
                return complete.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    return None


def _mask(table: pa.Table, selection: Selection) -> pa.ChunkedArray | None:
    conditions = []
    for column, value in (
        ("run_id", selection.run_id),
        ("decision", selection.decision),
        ("prompt_id", selection.prompt),
        ("filter", selection.filter_name),
    ):
        if value is not None:
            conditions.append(pc.equal(table.column(column), value))
    lo, hi = parse_steps(selection.steps)
    if lo is not None:
        conditions.append(pc.greater_equal(table.column("global_step"), lo))
    if hi is not None:
        conditions.append(pc.less(table.column("global_step"), hi))
    if not conditions:
        return None
    mask = conditions[0]
    for condition in conditions[1:]:
        mask = pc.and_(mask, condition)
    return mask


def resolve(path: Path, selection: Selection) -> Selection:
    """``run_id="latest"`` replaced by the last record's run id; a bad ``steps`` raises ValueError."""
    parse_steps(selection.steps)
    if selection.decision is not None:
        from curricula.base import DECISIONS

        if selection.decision not in DECISIONS:
            raise ValueError(f"--decision must be one of {', '.join(DECISIONS)}; got {selection.decision!r}")
    if selection.run_id == "latest":
        return Selection(
            latest_run_id(path), selection.decision, selection.prompt, selection.filter_name, selection.steps
        )
    return selection


KEY_COLUMNS = ["run_id", "decision", "prompt_id", "filter", "global_step"]  # what a `Selection` tests


def scan(path: Path, selection: Selection, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The records matching a resolved ``selection``, as tables in record order (empty ones left out).

    A selective query (one prompt, one decision) reads only the key columns of a segment holding
    no match; the other columns (messages, stats) are read where a match is.
    """
    for read in audit_store.iter_sources(audit_tail_path(path)):
        keys = read(KEY_COLUMNS if columns is None else list(dict.fromkeys(columns + KEY_COLUMNS)))
        mask = _mask(keys, selection)
        if mask is not None and not pc.any(mask).as_py():
            continue
        table = keys if columns is not None else read(None)
        if mask is not None:
            table = table.filter(mask)
        if table.num_rows:
            yield table.select(columns) if columns is not None else table


class LastPerKey:
    """Per key, the last value seen, fed table by table in record order.

    Tables are reduced to their last row per key at once, and merged into the running result 16
    at a time: the running result (one row per prompt) is regrouped every 16 tables, not every table.
    """

    def __init__(self, key: str, value: str, batch: int = 16):
        self.key, self.value, self.batch = key, value, batch
        self.pending: list[pa.Table] = []
        self.result: pa.Table | None = None

    def _last(self, tables: list[pa.Table]) -> pa.Table:
        last = pa.concat_tables(tables).group_by(self.key, use_threads=False).aggregate([(self.value, "last")])
        return last.rename_columns([self.key, self.value])  # ordered "last": needs one thread

    def add(self, table: pa.Table) -> None:
        if table.num_rows:
            self.pending.append(self._last([table.select([self.key, self.value])]))
        if len(self.pending) >= self.batch:
            self.merge()

    def merge(self) -> pa.Table | None:
        if self.pending:
            self.result = self._last(([self.result] if self.result is not None else []) + self.pending)
            self.pending = []
        return self.result


@dataclass
class Summary:
    """What `rlvr audit RUN` prints: counts, and each prompt's final frontier status by skill."""

    run_id: str | None
    records: int
    first_step: int | None
    last_step: int | None
    counts: Counter  # (filter, decision, reason) -> records
    status_by_skill: Counter  # (skill, status) -> prompts


def _status_rows(table: pa.Table) -> tuple[pa.Table, pa.Array]:
    """A table's frontier drops/readmissions as (prompt_id, status), and its kept prompt ids."""
    frontier = table.filter(pc.equal(table.column("filter"), "frontier"))
    decision = frontier.column("decision")
    strong = frontier.filter(pc.is_in(decision, pa.array(["dropped", "readmitted"])))
    status = pc.if_else(
        pc.equal(strong.column("decision"), "dropped"),
        pc.binary_join_element_wise("dropped (", strong.column("reason"), ")", ""),
        "active",
    )
    kept = frontier.filter(pc.equal(decision, "kept")).column("prompt_id")
    return pa.table({"prompt_id": strong.column("prompt_id"), "status": status}), pc.unique(kept)


def summarize(path: Path, run_id: str | None = "latest") -> Summary:
    """Stream the log once and summarise the records of ``run_id`` (see `Summary`)."""
    selection = resolve(path, Selection(run_id=run_id))
    counts, records, first, last, kept = Counter(), 0, None, None, None
    strong, skills = LastPerKey("prompt_id", "status"), LastPerKey("prompt_id", "skill")
    for table in scan(path, selection, columns=SUMMARY_COLUMNS):
        records += table.num_rows
        steps = table.column("global_step")
        first = steps[0].as_py() if first is None else first
        last = steps[len(steps) - 1].as_py()
        grouped = table.group_by(["filter", "decision", "reason"]).aggregate([("prompt_id", "count")])
        for f, d, r, n in zip(
            *(grouped.column(c).to_pylist() for c in ("filter", "decision", "reason", "prompt_id_count"))
        ):
            counts[(f, d, r)] += n
        rows, kept_ids = _status_rows(table)
        strong.add(rows)
        kept = kept_ids if kept is None else pc.unique(pa.concat_arrays([kept, kept_ids]))
        skills.add(
            pa.table({"prompt_id": table.column("prompt_id"), "skill": pc.fill_null(table.column("skill"), "-")})
        )
    return Summary(
        selection.run_id, records, first, last, counts, _status_by_skill(strong.merge(), kept, skills.merge())
    )


def _status_by_skill(strong: pa.Table | None, kept: pa.Array | None, skills: pa.Table | None) -> Counter:
    """Prompts per (skill, final status): the last drop or readmission, else active if ever kept."""
    if skills is None:
        return Counter()
    status = (
        strong
        if strong is not None
        else pa.table({"prompt_id": pa.array([], pa.string()), "status": pa.array([], pa.string())})
    )
    if kept is not None and len(kept):
        only_kept = pc.filter(kept, pc.invert(pc.is_in(kept, status.column("prompt_id"))))
        status = pa.concat_tables(
            [status, pa.table({"prompt_id": only_kept, "status": pa.array(["active"] * len(only_kept), pa.string())})]
        )
    joined = status.join(skills, "prompt_id")
    grouped = joined.group_by(["skill", "status"]).aggregate([("prompt_id", "count")])
    return Counter(
        {
            (s, st): n
            for s, st, n in zip(*(grouped.column(c).to_pylist() for c in ("skill", "status", "prompt_id_count")))
        }
    )


def summary_text(summary: Summary) -> str:
    """The summary as `rlvr audit RUN` prints it."""
    if not summary.records:
        return "audit log: no records"
    lines = [
        f"=== audit: run {summary.run_id}, {summary.records} records, steps "
        f"{summary.first_step}..{summary.last_step} ===",
        text_table(
            ["filter", "decision", "reason", "records"],
            [[f, d, r, n] for (f, d, r), n in sorted(summary.counts.items())],
        ),
    ]
    if summary.status_by_skill:
        kinds = sorted({k for _, k in summary.status_by_skill})
        skills = sorted({s for s, _ in summary.status_by_skill})
        lines.append("prompts by skill and final status (seen so far):")
        lines.append(
            text_table(
                ["skill"] + kinds, [[s] + [summary.status_by_skill.get((s, k), 0) for k in kinds] for s in skills]
            )
        )
    return "\n".join(lines)


def prompt_ids(path: Path, run_id: str | None) -> set[str]:
    """The distinct prompt ids of a resolved run (``None``: all runs)."""
    ids: set[str] = set()
    for table in scan(path, Selection(run_id=run_id), columns=["prompt_id"]):
        ids.update(pc.unique(table.column("prompt_id")).to_pylist())
    return ids


def _struct_type(texts: list[str], text_keys: frozenset) -> pa.DataType:
    return _as_struct(texts, text_keys).type


def _as_struct(texts: list[str], text_keys: frozenset, type_: pa.DataType | None = None) -> pa.Array:
    dicts = [json.loads(t) for t in texts]
    if text_keys:
        dicts = [{k: (json.dumps(v) if k in text_keys and v is not None else v) for k, v in d.items()} for d in dicts]
    if type_ is not None and type_ == pa.null():
        return pa.nulls(len(dicts))
    return pa.array(dicts, type=type_)


def _conflicting_keys(path: Path, selection: Selection, name: str) -> frozenset:
    """Top-level keys whose values differ in kind between records (stored as JSON text in the export)."""
    kinds: dict[str, set] = {}
    for table in scan(path, selection, columns=[name]):
        for text in table.column(name).to_pylist():
            for key, value in json.loads(text).items():
                if value is not None:
                    kind = "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value)
                    kinds.setdefault(key, set()).add(kind)
    return frozenset(k for k, found in kinds.items() if len(found) > 1 or dict in found or list in found)


def _unified_type(path: Path, selection: Selection, name: str) -> tuple[pa.DataType, frozenset]:
    """One struct type for ``name`` (stats or columns) over every selected record; keys of mixed kinds as text."""
    for text_keys in (frozenset(), None):
        if text_keys is None:
            text_keys = _conflicting_keys(path, selection, name)
        try:
            types = [_struct_type(t.column(name).to_pylist(), text_keys) for t in scan(path, selection, [name])]
            schema = pa.unify_schemas([pa.schema([(name, t)]) for t in types], promote_options="permissive")
            type_ = schema.field(name).type
            return (pa.null() if type_.num_fields == 0 else type_), text_keys  # Parquet has no empty struct
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
    raise ValueError(f"audit records' {name} cannot be stored as one Parquet struct")


def export_parquet(path: Path, selection: Selection, out: str | Path) -> int:
    """Write the selected records to a zstd Parquet file, ``stats`` and ``columns`` as structs.

    Two streaming passes (one to learn the struct types, one to write), so memory stays bounded
    by one segment. Returns the records written.
    """
    import pyarrow.parquet as pq

    types = {name: _unified_type(path, selection, name) for name in audit_schema.JSON_FIELDS}
    fields = [f if f.name not in types else pa.field(f.name, types[f.name][0]) for f in audit_schema.ARROW_SCHEMA]
    schema, written = pa.schema(fields), 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for table in scan(path, selection, columns=list(audit_schema.AUDIT_FIELDS)):
            for name, (type_, text_keys) in types.items():
                structs = _as_struct(table.column(name).to_pylist(), text_keys, type_)
                table = table.set_column(table.schema.get_field_index(name), pa.field(name, type_), structs)
            writer.write_table(table.cast(schema))
            written += table.num_rows
    return written
