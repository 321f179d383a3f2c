"""The audit log: one append-only JSONL file, one schema, written by one process.

Every curriculum decision becomes one record (see `AUDIT_FIELDS`). The file is flushed after
every step, so a killed run loses at most the step in flight. A checkpoint stores how many
records (and bytes) the log held when it was saved; resuming truncates the log back to that
point, so the steps the resumed run redoes are written once, not twice.

The log loads with pandas (``pd.read_json(path, lines=True)``) or `datasets`
(``load_dataset("json", data_files=path)``); `rlvr audit RUN_DIR` summarises it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
AUDIT_FILE = "audit.jsonl"

# The record schema, in column order. `stats` and `columns` are JSON objects.
AUDIT_FIELDS = (
    "schema_version",  # int: this schema's version
    "seq",             # int: record number in the file, from 0, never repeated
    "run_id",          # str: the run that wrote the record (a resumed run keeps its id)
    "time",            # float: unix time of writing
    "global_step",     # int: optimizer step at which the decision was taken
    "epoch",           # float: trainer epoch at that step
    "filter",          # str: which filter decided ("frontier", "zero_variance", ...)
    "prompt_id",       # str: the row's stable id
    "prompt_hash",     # str: content hash of the prompt
    "decision",        # str: kept | dropped | readmitted | masked | probed | skipped
    "reason",          # str: machine-readable reason code
    "message",         # str: the reason as a sentence, with its numbers
    "stats",           # dict: the statistics behind the decision
    "columns",         # dict: the prompt's user columns (skill, source, ...)
)


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

    Args:
        run_dir: The run's output directory; the log is ``run_dir/audit.jsonl``.
        run_id: Identifies the run in every record.
    """

    def __init__(self, run_dir: str | os.PathLike, run_id: str):
        self.path = Path(run_dir) / AUDIT_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self._pending: list[dict] = []
        drop_torn_tail(self.path)
        self.seq = count_records(self.path)

    def add(self, decision, global_step: int, epoch: float) -> None:
        """Queue one decision (a `curricula.base.Decision`); written at the next `flush`."""
        record = {
            "schema_version": SCHEMA_VERSION, "seq": self.seq, "run_id": self.run_id, "time": round(time.time(), 3),
            "global_step": int(global_step), "epoch": round(float(epoch or 0.0), 4), "filter": decision.filter,
            "prompt_id": decision.prompt_id, "prompt_hash": decision.prompt_hash, "decision": decision.decision,
            "reason": decision.reason, "message": decision.message, "stats": decision.stats,
            "columns": decision.columns,
        }
        self.seq += 1
        self._pending.append(record)

    def flush(self) -> None:
        """Append queued records and flush them to disk (called once per step)."""
        if not self._pending:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            for record in self._pending:
                f.write(json.dumps(record, default=_json_default) + "\n")
            # Flushed to the OS: a killed process loses nothing written. (No fsync per step: it
            # guards against power loss, costs milliseconds a step, and checkpoints rewind anyway.)
            f.flush()
        self._pending.clear()

    def position(self) -> dict:
        """Where the log stands (saved with a checkpoint): records and bytes on disk."""
        self.flush()
        size = self.path.stat().st_size if self.path.exists() else 0
        return {"records": self.seq, "bytes": size}

    def rewind(self, position: dict) -> int:
        """Truncate the log to a checkpoint's position; returns how many records were removed.

        The removed records describe steps after the checkpoint, which the resumed run redoes
        and records again; keeping them would write those steps twice.
        """
        self._pending.clear()
        if not self.path.exists():
            self.seq = 0
            return 0
        before = count_records(self.path)
        with open(self.path, "r+b") as f:
            f.truncate(position["bytes"])
        self.seq = count_records(self.path)
        if self.seq != position["records"]:
            raise RuntimeError(f"Audit log {self.path} holds {self.seq} records after rewinding to the checkpoint, "
                               f"which recorded {position['records']}; the log was changed outside this run.")
        return before - self.seq


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


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
    """All complete records of an audit log (a file, or a run directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / AUDIT_FILE
    if not path.exists():
        raise FileNotFoundError(f"No audit log at {path}.")
    records = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f):
            if not line.endswith("\n"):
                break  # torn last line of a killed run
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {line_number + 1} is not valid JSON: {err}") from err
    return records


def new_run_id(prefix: str = "") -> str:
    """A run id for audit records: ``[prefix-]YYYYmmdd-HHMMSS-xxxxxx`` (local time, 6 random hex digits,
    so two runs started in the same second differ). Every command and the trainer mint theirs here."""
    import uuid

    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return f"{prefix}-{stamp}" if prefix else stamp
