"""The audit log: append-only, one schema, written by one process.

Every curriculum decision becomes one record (its schema, defined once: `curricula.audit_schema`).
Records are appended to ``audit.jsonl`` and flushed after every step, so a killed run loses at
most the step in flight; long logs move closed steps into zstd Parquet segments
(``audit.segments/``, see `curricula.audit_store`). A checkpoint stores how many records the log
held when it was saved; resuming cuts the log back to that point, so the steps the resumed run
redoes are written once, not twice.

`read_audit` returns the records as dicts; `curricula.audit_store.iter_tables` streams them as
Arrow tables (``pd.concat(t.to_pandas() for t in iter_tables(path))``); `rlvr audit RUN_DIR`
summarises them.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from curricula import audit_store
from curricula.audit_schema import AUDIT_FIELDS as AUDIT_FIELDS  # re-exported (defined once there)
from curricula.audit_schema import SCHEMA_VERSION as SCHEMA_VERSION
from curricula.audit_schema import new_record

AUDIT_FILE = "audit.jsonl"


class JsonlWriter:
    """Append JSON records to a file, one per line, flushed on every write; thread-safe."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.count = 0
        self._file = None
        self._lock = threading.Lock()

    def write_record(self, record: Any) -> None:
        if is_dataclass(record):
            record = asdict(record)
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(json.dumps(record, default=str) + "\n")
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


VERIFIER_ERRORS_GLOB = "verifier_errors.rank*.jsonl"
# Where in a run a verifier error happened; training errors also carry the step.
EVAL_BEFORE, TRAIN, EVAL_DURING, EVAL_AFTER = "eval_before", "train", "eval_during", "eval_after"
# Phases whose records carry the training step (and are rewound with it on resume).
STEPPED_PHASES = (TRAIN, EVAL_DURING)


class VerifierErrorLog(JsonlWriter):
    """One process's verifier error records (``verifier_errors.rank<i>.jsonl``).

    Each `rewards.VerifierError` is written with two more fields, so that a resumed run can
    rewind the file to its checkpoint as it rewinds the audit log: ``phase`` (``eval_before``,
    ``train`` or ``eval_after``, set by the recipe as it goes) and ``step`` (the trainer's global
    step for training errors, read from ``step_of``; ``None`` in the evaluations).

    Args:
        path: The file (appended to; `count` starts at the records it already holds).
        skip_phases: Phases not written: a resumed run keeps the original run's ``eval_before``
            records (`rewind_verifier_errors`) and does not write its repeat of them.
    """

    def __init__(self, path: str | os.PathLike, skip_phases: tuple[str, ...] = ()):
        super().__init__(path)
        drop_torn_tail(self.path)
        self.count = count_records(self.path)
        self.skip_phases = set(skip_phases)
        self.phase = EVAL_BEFORE
        self.step_of = None  # callable -> the trainer's global step, set once the trainer exists

    def write_error(self, error) -> None:
        """The error sink for `rewards.make_reward_funcs`."""
        if self.phase in self.skip_phases:
            return
        record = asdict(error) if is_dataclass(error) else dict(error)
        step = self.step_of() if self.phase in STEPPED_PHASES and self.step_of is not None else None
        self.write_record({**record, "phase": self.phase, "step": step})


def rewind_verifier_errors(run_dir: str | os.PathLike, step: int) -> int:
    """Cut every ``verifier_errors.rank*.jsonl`` of ``run_dir`` back to a checkpoint at ``step``.

    Kept: ``eval_before`` records, and training and ``eval_during`` records of steps before ``step``; the resumed run
    redoes the later steps and the final evaluation and records them again. Records without a
    ``phase`` (written by an older rlvr) cannot be placed and are kept. Returns records removed.
    """
    removed = 0
    for path in sorted(Path(run_dir).glob(VERIFIER_ERRORS_GLOB)):
        drop_torn_tail(path)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if _before_checkpoint(json.loads(line), step)]
        if len(kept) != len(lines):
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(kept), encoding="utf-8")
            os.replace(tmp, path)  # all or nothing, even if killed here
            removed += len(lines) - len(kept)
    return removed


def _before_checkpoint(record: dict, step: int) -> bool:
    phase = record.get("phase")
    if phase is None or phase == EVAL_BEFORE:
        return True
    return phase in STEPPED_PHASES and record.get("step") is not None and record["step"] < step


class AuditLog:
    """The run's audit log. Create it on the main process only; other processes pass ``None``.

    Records are appended to ``run_dir/audit.jsonl`` (the open tail) by `flush`, at most every
    ``flush_seconds`` (a trainer calls it every step); `position` (each checkpoint) and `close`
    always write. A killed run loses only records of steps after its last checkpoint, which a
    resumed run redoes and records again. Once
    the tail holds ``segment_records`` records, a flush moves them into a zstd Parquet segment
    (`curricula.audit_store`): a small fraction of the JSONL bytes (measured in the README) and
    read column by column. `close` does the same for what is left (when it is at least
    ``min_segment_records``).

    Crash safety: a segment is written to a temporary file and renamed into place, then the tail
    is emptied; a kill between the two leaves the tail's records in both places, and the next
    open drops them from the tail (every record carries its ``seq``).

    Args:
        run_dir: The run's output directory; the log is ``run_dir/audit.jsonl`` plus
            ``run_dir/audit.segments/``.
        run_id: Identifies the run in every record.
        segment_records: Tail size at which a flush writes a segment.
        min_segment_records: Smallest tail `close` turns into a segment (a short log stays
            plain JSONL, where ``head`` and ``grep`` work).
        flush_seconds: Least time between two writes of `flush` (0 = write at every call). Each
            write opens the file and converts the records: about a millisecond, which is a few
            percent of a small model's step when done twice per step.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        run_id: str,
        segment_records: int = 50_000,
        min_segment_records: int = 1_000,
        flush_seconds: float = 0.0,
    ):
        self.path = Path(run_dir) / AUDIT_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.segment_records = segment_records
        self.min_segment_records = min_segment_records
        self.flush_seconds = flush_seconds
        self._last_write = -math.inf
        self._pending: list[dict] = []
        drop_torn_tail(self.path)
        audit_store.remove_partial_segments(self.path)
        self.closed_records = _segments_end(self.path)
        _drop_tail_records_in_segments(self.path, self.closed_records)
        self.tail_records = count_records(self.path)
        self.seq = self.closed_records + self.tail_records
        # The tail's rows as this process wrote them (the segment is built from these, without
        # re-reading the file); None when the tail holds records written before this process.
        self._tail_rows: list[tuple] | None = [] if self.tail_records == 0 else None

    def add(self, decision, global_step: int, epoch: float) -> None:
        """Queue one decision (a `curricula.base.Decision`); written at the next `flush`."""
        self.add_all([decision], global_step, epoch)

    def add_all(self, decisions, global_step: int, epoch: float) -> None:
        """Queue decisions taken together (one step's), in order, with one timestamp."""
        logged = {
            "run_id": self.run_id,
            "time": round(time.time(), 3),
            "global_step": int(global_step),
            "epoch": round(float(epoch or 0.0), 4),
        }
        for decision in decisions:
            self._pending.append(new_record(decision, seq=self.seq, **logged))
            self.seq += 1

    def flush(self, force: bool = False) -> None:
        """Append queued records and flush them to the OS, unless the last write was less than
        ``flush_seconds`` ago (``force``: write now)."""
        if not self._pending or (not force and time.monotonic() - self._last_write < self.flush_seconds):
            return
        self._last_write = time.monotonic()
        rows = [audit_store.record_row(r) for r in self._pending]
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(audit_store.row_line(row) for row in rows))
            # Flushed to the OS: a killed process loses nothing written. (No fsync per step: it
            # guards against power loss, costs milliseconds a step, and checkpoints rewind anyway.)
            f.flush()
        if self._tail_rows is not None:
            self._tail_rows.extend(rows)
        self.tail_records += len(self._pending)
        self._pending.clear()
        if self.tail_records >= self.segment_records:
            self.close_segment()

    def close_segment(self) -> None:
        """Move every tail record into a new Parquet segment (see the class docstring)."""
        if self.tail_records == 0:
            return
        rows = self._tail_rows
        if rows is None or len(rows) != self.tail_records:  # a tail this process did not write whole
            rows = [audit_store.record_row(r) for chunk in audit_store.iter_tail_records(self.path) for r in chunk]
        audit_store.write_segment(self.path, self.closed_records, audit_store.rows_to_table(rows))
        with open(self.path, "r+b") as f:
            f.truncate(0)
        self.closed_records += len(rows)
        self.tail_records = 0
        self._tail_rows = []

    def close(self) -> None:
        """End of run: write what is queued; a tail of ``min_segment_records`` or more becomes a segment."""
        self.flush(force=True)
        if self.tail_records >= self.min_segment_records:
            self.close_segment()

    def position(self) -> dict:
        """Where the log stands (saved with a checkpoint): records in all, in segments, tail bytes."""
        self.flush(force=True)
        size = self.path.stat().st_size if self.path.exists() else 0
        return {"records": self.seq, "bytes": size, "segment_records": self.closed_records}

    def rewind(self, position: dict) -> int:
        """Cut the log back to a checkpoint's position; returns how many records were removed.

        The removed records describe steps after the checkpoint, which the resumed run redoes
        and records again; keeping them would write those steps twice. Each cut leaves a whole
        prefix of the log, so a kill in the middle of rewinding is undone by rewinding again.
        """
        self._pending.clear()
        target, before = position["records"], self.seq
        if target > before:
            raise RuntimeError(
                f"Audit log {self.path} holds {before} records, fewer than the checkpoint's "
                f"{target}; the log was changed outside this run."
            )
        if target < self.closed_records:
            _truncate_tail(self.path, 0)
            self.closed_records = _cut_segments(self.path, target)
        else:
            keep = target - self.closed_records
            offset = _tail_offset(self.path, keep)
            same_tail = position.get("segment_records", 0) == self.closed_records
            if offset is None or (same_tail and "bytes" in position and offset != position["bytes"]):
                raise RuntimeError(
                    f"Audit log {self.path} does not match the checkpoint's position {position}; "
                    "the log was changed outside this run."
                )
            _truncate_tail(self.path, offset)
        self.tail_records = count_records(self.path)
        self._tail_rows = [] if self.tail_records == 0 else None
        self.seq = self.closed_records + self.tail_records
        return before - self.seq


def _segments_end(path: Path) -> int:
    """Records held by the segments of the log whose tail is ``path`` (checked to be contiguous)."""
    end = 0
    for first, rows, seg in audit_store.segments(path):
        if first != end:
            raise RuntimeError(
                f"Audit segment {seg} starts at record {first}, expected {end}; the log was changed outside rlvr."
            )
        end = first + rows
    return end


def _drop_tail_records_in_segments(path: Path, closed: int) -> None:
    """After a kill between writing a segment and emptying the tail, drop the tail's copies."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, encoding="utf-8") as f:
        first = json.loads(f.readline())["seq"]
    if first < closed:
        _truncate_tail(path, 0)  # a segment always takes the whole tail


def _tail_offset(path: Path, lines: int) -> int | None:
    """Byte offset just after the first ``lines`` complete lines of ``path`` (None: it has fewer)."""
    if lines == 0:
        return 0
    offset = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            offset += len(line)
            if number == lines:
                return offset if line.endswith(b"\n") else None
    return None


def _truncate_tail(path: Path, size: int) -> None:
    if path.exists():
        with open(path, "r+b") as f:
            f.truncate(size)


def _cut_segments(path: Path, target: int) -> int:
    """Keep the segments' first ``target`` records: later segments go, last first; one may be cut short."""
    for first, rows, seg in reversed(audit_store.segments(path)):
        if first >= target:
            seg.unlink()
        elif first + rows > target:
            table = pq.read_table(seg).slice(0, target - first)
            audit_store.write_segment(path, first, table)  # replaces it whole
    return _segments_end(path)


_json_default = audit_store.json_default


def drop_torn_tail(path: Path) -> None:
    """A run killed mid-write can leave half a line; cut it before appending after it."""
    if not path.exists():
        return
    with open(path, "rb") as f:
        data = f.read()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with open(path, "r+b") as f:
            f.truncate(end)


def count_records(path: Path) -> int:
    """Complete lines in a JSONL file (a torn last line from a kill is not counted)."""
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        data = f.read()
    return data.count(b"\n")


def read_audit(path: str | os.PathLike) -> list[dict]:
    """All complete records of an audit log (a run directory, or its ``audit.jsonl``): segments, then tail.

    For long logs use `audit_tail_path` with `curricula.audit_store.iter_tables`, which reads a
    segment at a time and only the columns asked for.
    """
    path = audit_tail_path(path)
    return [r for table in audit_store.iter_tables(path) for r in audit_store.table_to_records(table)]


def audit_tail_path(path: str | os.PathLike) -> Path:
    """The ``audit.jsonl`` of a run directory (or the file given); FileNotFoundError when there is no log."""
    path = Path(path)
    if path.is_dir():
        path = path / AUDIT_FILE
    if not path.exists() and not audit_store.segments(path):
        raise FileNotFoundError(f"No audit log at {path}.")
    return path


def new_run_id(prefix: str = "") -> str:
    """A run id for audit records: ``[prefix-]YYYYmmdd-HHMMSS-xxxxxx`` (local time, 6 random hex digits,
    so two runs started in the same second differ). Every command and the trainer mint theirs here."""
    import uuid

    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return f"{prefix}-{stamp}" if prefix else stamp
