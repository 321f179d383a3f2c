"""The audit log lives in `curricula.audit` (the filters write it; curricula cannot import rlvr).

Re-exported here so ``from rlvr.audit import AuditLog, read_audit`` keeps working.
"""

from curricula.audit import (
    AUDIT_FIELDS,
    AUDIT_FILE,
    EVAL_AFTER,
    EVAL_BEFORE,
    EVAL_DURING,
    SCHEMA_VERSION,
    TRAIN,
    VERIFIER_ERRORS_GLOB,
    AuditLog,
    JsonlWriter,
    VerifierErrorLog,
    count_records,
    drop_torn_tail,
    read_audit,
    rewind_verifier_errors,
)

__all__ = [
    "AUDIT_FIELDS",
    "AUDIT_FILE",
    "EVAL_AFTER",
    "EVAL_BEFORE",
    "EVAL_DURING",
    "SCHEMA_VERSION",
    "TRAIN",
    "VERIFIER_ERRORS_GLOB",
    "AuditLog",
    "JsonlWriter",
    "VerifierErrorLog",
    "count_records",
    "drop_torn_tail",
    "read_audit",
    "rewind_verifier_errors",
]
