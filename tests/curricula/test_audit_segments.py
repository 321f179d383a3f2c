"""The audit log's Parquet segments: compact, crash-safe, rewound with checkpoints, old logs still read."""

import json

import pytest

from curricula import audit_store
from curricula.audit import AUDIT_FIELDS, AuditLog, read_audit
from curricula.base import Decision


def decision(pid, what="kept", stats=None, skill="add2"):
    stats = {"pass_rate": 0.5, "active_pool": 3, "pool_size": 4} if stats is None else stats
    return Decision("frontier", pid, what, "in_frontier", f"{what}: {pid}", stats, {"skill": skill}, "h" + pid)


def write_steps(log, steps, per_step, start=0):
    for step in range(start, start + steps):
        for i in range(per_step):
            log.add(
                decision(f"p{i}", stats={"pass_rate": i / per_step, "n": step, "notes": ["x"] * (i % 2)}),
                global_step=step,
                epoch=0.0,
            )
        log.flush()


def test_segment_schema_is_the_record_schema_then_the_query_columns():
    names = audit_store.SEGMENT_SCHEMA.names
    assert names[: len(AUDIT_FIELDS)] == list(AUDIT_FIELDS)
    assert names[len(AUDIT_FIELDS) :] == [name for name, _ in audit_store.QUERY_COLUMNS]


def test_full_tail_becomes_a_segment_and_reads_back_exactly(tmp_path):
    log = AuditLog(tmp_path, "run", segment_records=10)
    write_steps(log, steps=9, per_step=3)  # a segment at 12 and at 24 records; 3 left in the tail
    segs = audit_store.segments(log.path)
    assert [(first, rows) for first, rows, _ in segs] == [(0, 12), (12, 12)]
    assert len(log.path.read_text().splitlines()) == 3
    records = read_audit(tmp_path)
    assert [r["seq"] for r in records] == list(range(27))
    assert all(list(r) == list(AUDIT_FIELDS) for r in records)
    # Exact round trip: a record without a key does not gain it, lists stay lists.
    assert records[1]["stats"] == {"pass_rate": 1 / 3, "n": 0, "notes": ["x"]}
    assert records[0]["stats"] == {"pass_rate": 0.0, "n": 0, "notes": []}
    assert records[5]["columns"] == {"skill": "add2"}
    table = next(audit_store.iter_tables(log.path, columns=["skill", "pass_rate", "active_pool"]))
    assert table.column("skill").to_pylist()[:2] == ["add2", "add2"]
    assert table.column("pass_rate").to_pylist()[:3] == pytest.approx([0.0, 1 / 3, 2 / 3])
    assert table.column("active_pool").null_count == 12  # these stats carry no active_pool


def test_kill_between_segment_and_tail_truncation_loses_and_doubles_nothing(tmp_path, monkeypatch):
    log = AuditLog(tmp_path, "run", segment_records=6)
    write_steps(log, steps=1, per_step=4)
    real_truncate = audit_store.os.replace

    def replace_then_die(src, dst):
        real_truncate(src, dst)
        raise KeyboardInterrupt  # killed right after the segment is in place

    monkeypatch.setattr(audit_store.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        write_steps(log, steps=1, per_step=4, start=1)
    monkeypatch.undo()
    assert log.path.stat().st_size > 0  # the tail still holds the 8 records the segment holds
    reopened = AuditLog(tmp_path, "run", segment_records=6)
    assert (reopened.seq, reopened.closed_records, reopened.tail_records) == (8, 8, 0)
    write_steps(reopened, steps=1, per_step=2, start=2)
    assert [r["seq"] for r in read_audit(tmp_path)] == list(range(10))


def test_kill_while_writing_a_segment_leaves_the_tail_whole(tmp_path, monkeypatch):
    log = AuditLog(tmp_path, "run", segment_records=6)
    write_steps(log, steps=1, per_step=4)

    def die(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(audit_store.os, "replace", die)
    with pytest.raises(KeyboardInterrupt):
        write_steps(log, steps=1, per_step=4, start=1)
    monkeypatch.undo()
    assert list(audit_store.segment_dir(log.path).glob("*.tmp"))
    reopened = AuditLog(tmp_path, "run", segment_records=6)
    assert not list(audit_store.segment_dir(log.path).glob("*.tmp"))
    assert (reopened.seq, reopened.closed_records) == (8, 0)
    assert [r["global_step"] for r in read_audit(tmp_path)] == [0] * 4 + [1] * 4


@pytest.mark.parametrize("checkpoint_step", [1, 3, 5])
def test_rewind_across_segments_keeps_exactly_the_checkpoint_prefix(tmp_path, checkpoint_step):
    log = AuditLog(tmp_path, "run", segment_records=5)
    write_steps(log, steps=checkpoint_step, per_step=3)
    position = log.position()
    write_steps(log, steps=8, per_step=3, start=checkpoint_step)
    total = (checkpoint_step + 8) * 3
    assert len(audit_store.segments(log.path)) >= 2
    resumed = AuditLog(tmp_path, "run", segment_records=5)
    assert resumed.rewind(position) == total - position["records"]
    write_steps(resumed, steps=8, per_step=3, start=checkpoint_step)  # the resumed run redoes the steps
    records = read_audit(tmp_path)
    assert [r["seq"] for r in records] == list(range(total))
    assert [r["global_step"] for r in records] == [s for s in range(checkpoint_step + 8) for _ in range(3)]


def test_rewind_refuses_a_log_changed_outside_the_run(tmp_path):
    log = AuditLog(tmp_path, "run")
    write_steps(log, steps=2, per_step=2)
    position = log.position()
    log.path.write_text("")  # someone emptied the log
    with pytest.raises(RuntimeError, match="changed outside this run"):
        AuditLog(tmp_path, "run").rewind(position)


def test_old_logs_and_old_checkpoint_positions_still_work(tmp_path):
    # A log written before segments: indented JSON separators, schema 1, position without segment_records.
    old = [
        {
            "schema_version": 1,
            "seq": i,
            "run_id": "old",
            "time": 1.0,
            "global_step": i,
            "epoch": 0.0,
            "filter": "frontier",
            "prompt_id": f"p{i}",
            "prompt_hash": "h",
            "decision": "kept",
            "reason": "in_frontier",
            "message": "m",
            "stats": {"pass_rate": 0.5},
            "columns": {"skill": "a"},
        }
        for i in range(4)
    ]
    lines = [json.dumps(r) + "\n" for r in old]
    (tmp_path / "audit.jsonl").write_text("".join(lines))
    assert read_audit(tmp_path) == old
    position = {"records": 2, "bytes": len(lines[0]) + len(lines[1])}
    log = AuditLog(tmp_path, "old")
    assert log.rewind(position) == 2
    assert [r["seq"] for r in read_audit(tmp_path)] == [0, 1]


def test_close_turns_a_long_tail_into_a_segment_and_leaves_a_short_one(tmp_path):
    short = AuditLog(tmp_path / "short", "run", min_segment_records=10)
    write_steps(short, steps=3, per_step=3)
    short.close()
    assert audit_store.segments(short.path) == [] and len(read_audit(short.path)) == 9
    long = AuditLog(tmp_path / "long", "run", min_segment_records=5)
    write_steps(long, steps=3, per_step=3)
    long.close()
    assert [rows for _, rows, _ in audit_store.segments(long.path)] == [9]
    assert len(read_audit(tmp_path / "long")) == 9
