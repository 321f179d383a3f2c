"""The audit record schema, defined once in `curricula.audit_schema`, and what derives from it."""

import dataclasses
from unittest import mock

import pytest

from curricula import audit_schema
from curricula.audit import AuditLog
from curricula.base import Decision

# The format pinned: changing it changes every log, so it needs a new SCHEMA_VERSION.
PINNED_COLUMNS = [
    ("schema_version", "int16"),
    ("seq", "int64"),
    ("run_id", "string"),
    ("time", "double"),
    ("global_step", "int64"),
    ("epoch", "double"),
    ("filter", "string"),
    ("prompt_id", "string"),
    ("prompt_hash", "string"),
    ("decision", "string"),
    ("reason", "string"),
    ("message", "string"),
    ("stats", "string"),
    ("columns", "string"),
]


def test_schema_is_pinned_at_version_1():
    assert audit_schema.SCHEMA_VERSION == 1
    assert [(f.name, str(f.type)) for f in audit_schema.ARROW_SCHEMA] == PINNED_COLUMNS
    assert audit_schema.JSON_FIELDS == ("stats", "columns")


def test_every_decision_field_is_a_column_taken_from_the_decision():
    from_decision = {f.name for f in audit_schema.RECORD_SCHEMA if f.from_decision}
    assert from_decision == {f.name for f in dataclasses.fields(Decision)}
    assert set(audit_schema.LOG_FIELDS) == {"schema_version", "seq", "run_id", "time", "global_step", "epoch"}


def test_a_column_decision_lacks_or_cannot_store_is_refused():
    with pytest.raises(TypeError, match="has not"):
        audit_schema._from_decision("not_a_field")
    with mock.patch.dict(audit_schema._DECISION_TYPES, {"score": float}):
        with pytest.raises(TypeError, match="str or a dict"):
            audit_schema._from_decision("score")


def test_new_record_needs_exactly_the_log_fields():
    d = Decision("frontier", "p0", "kept", "in_frontier", "m", {"n": 1}, {"skill": "add"}, "h")
    record = audit_schema.new_record(d, seq=3, run_id="r", time=1.5, global_step=2, epoch=0.25)
    assert list(record) == list(audit_schema.AUDIT_FIELDS)
    assert record["stats"] is d.stats and record["prompt_hash"] == "h" and record["schema_version"] == 1
    with pytest.raises(TypeError, match="exactly"):
        audit_schema.new_record(d, seq=3, run_id="r", time=1.5, global_step=2)
    with pytest.raises(TypeError, match="exactly"):
        audit_schema.new_record(d, seq=3, run_id="r", time=1.5, global_step=2, epoch=0.0, extra=1)


def test_jsonl_line_is_byte_for_byte_the_version_1_format(tmp_path):
    log = AuditLog(tmp_path, "run-a")
    d = Decision("frontier", "p0", "dropped", "too_hard", "0/16 passed", {"n": 16, "ub": 0.1}, {"skill": "mul"}, "ab")
    with mock.patch("time.time", return_value=1700000000.12345):
        log.add(d, global_step=7, epoch=0.123456)
    log.flush()
    assert (tmp_path / "audit.jsonl").read_text() == (
        '{"schema_version":1,"seq":0,"run_id":"run-a","time":1700000000.123,"global_step":7,"epoch":0.1235,'
        '"filter":"frontier","prompt_id":"p0","prompt_hash":"ab","decision":"dropped","reason":"too_hard",'
        '"message":"0/16 passed","stats":{"n":16,"ub":0.1},"columns":{"skill":"mul"}}\n'
    )
