"""The audit record's schema, defined once: `RECORD_SCHEMA`.

Every record has the log's own fields (which run wrote it, where, when) and the fields of the
filter's `curricula.base.Decision`. Everything else is derived from this one table: the field
names (`AUDIT_FIELDS`), the records `curricula.audit.AuditLog` writes (`new_record`), the
Parquet segment schema of `curricula.audit_store` and the exports of `rlvr audit`.

A Decision field's column type follows its annotation: text for ``str``, and for a ``dict`` a JSON
object (stored in a segment as compact JSON text). Their meaning is documented on `Decision`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

import pyarrow as pa

from curricula.base import Decision

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AuditField:
    """One column of the audit record.

    Args:
        name: The field's name (a JSONL key, a Parquet column).
        arrow_type: Its column type in a Parquet segment.
        doc: What it holds; for a Decision field, see `Decision`.
        from_decision: Copied from the `Decision` field of the same name (else the log sets it).
        json_object: A dict, written in a segment as compact JSON text.
    """

    name: str
    arrow_type: pa.DataType
    doc: str
    from_decision: bool = False
    json_object: bool = False


_DECISION_TYPES = typing.get_type_hints(Decision)


def _from_decision(name: str) -> AuditField:
    """The `Decision` field ``name`` as a column, typed by its annotation."""
    if name not in _DECISION_TYPES:
        raise TypeError(f"the audit record names {name!r}, which `Decision` has not")
    hint = _DECISION_TYPES[name]
    is_dict = (typing.get_origin(hint) or hint) is dict
    if not is_dict and hint is not str:
        raise TypeError(f"`Decision.{name}` is {hint}; an audit column holds str or a dict (as JSON)")
    return AuditField(name, pa.string(), f"`Decision.{name}`", from_decision=True, json_object=is_dict)


# The record, in column order (the order of every JSONL line and segment). The Decision fields
# are named here only to place them: Decision keeps its own order, which its callers construct
# positionally (`prompt_hash` last, with a default), while the record puts it after `prompt_id`.
RECORD_SCHEMA: tuple[AuditField, ...] = (
    AuditField("schema_version", pa.int16(), "int: this schema's version (`SCHEMA_VERSION`)"),
    AuditField("seq", pa.int64(), "int: record number in the log, from 0, never repeated"),
    AuditField("run_id", pa.string(), "str: the run that wrote the record (a resumed run keeps its id)"),
    AuditField("time", pa.float64(), "float: unix time of writing"),
    AuditField("global_step", pa.int64(), "int: optimizer step at which the decision was taken"),
    AuditField("epoch", pa.float64(), "float: trainer epoch at that step"),
    *map(_from_decision, ("filter", "prompt_id", "prompt_hash", "decision", "reason", "message", "stats", "columns")),
)

AUDIT_FIELDS = tuple(f.name for f in RECORD_SCHEMA)
LOG_FIELDS = tuple(f.name for f in RECORD_SCHEMA if not f.from_decision)  # set by the log, not the filter
JSON_FIELDS = tuple(f.name for f in RECORD_SCHEMA if f.json_object)
SCALAR_FIELDS = tuple(f.name for f in RECORD_SCHEMA if not f.json_object)
ARROW_SCHEMA = pa.schema([(f.name, f.arrow_type) for f in RECORD_SCHEMA])


def _check_schema() -> None:
    """Fail on import, not in a run, when the table and `Decision` disagree."""
    missing = [f.name for f in dataclasses.fields(Decision) if f.name not in AUDIT_FIELDS]
    if missing:
        raise TypeError(f"`Decision` fields {missing} have no audit column; add them to RECORD_SCHEMA")
    if len(set(AUDIT_FIELDS)) != len(AUDIT_FIELDS):
        raise TypeError(f"RECORD_SCHEMA names a field twice: {AUDIT_FIELDS}")
    # A segment row and a JSONL line write the JSON objects after the scalars (audit_store.row_line).
    if AUDIT_FIELDS != SCALAR_FIELDS + JSON_FIELDS:
        raise TypeError(f"RECORD_SCHEMA must end with its JSON objects {JSON_FIELDS}")


_check_schema()
_LOGGED_BY_CALLER = frozenset(LOG_FIELDS) - {"schema_version"}
_COLUMNS = tuple((f.name, f.from_decision) for f in RECORD_SCHEMA)


def new_record(decision: Decision, **logged) -> dict:
    """One audit record (a dict in column order): ``decision``'s fields plus the log's ``logged`` ones.

    ``logged`` gives every log field but ``schema_version`` (`SCHEMA_VERSION`): ``seq``,
    ``run_id``, ``time``, ``global_step`` and ``epoch``.
    """
    if logged.keys() != _LOGGED_BY_CALLER:
        raise TypeError(f"an audit record needs exactly {sorted(_LOGGED_BY_CALLER)}; got {sorted(logged)}")
    logged["schema_version"] = SCHEMA_VERSION
    return {name: getattr(decision, name) if from_decision else logged[name] for name, from_decision in _COLUMNS}
