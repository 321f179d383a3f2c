"""Audit log at scale: bytes per decision, and `rlvr audit` query time and peak memory.

Synthetic logs are written through the real writer (`curricula.audit.AuditLog`) from real
frontier decisions: a `FrontierFilter` over 100k prompts with Beta-distributed true pass rates
decides on 8-rollout groups; its first ``--template`` decisions are replayed (steps shifted) until
the log holds N decisions. The old path is the same records as one JSONL file written as the
previous writer did (``json.dumps`` per record) and read back into a list, as `rlvr audit` did
before segments; it runs only at sizes where that fits in memory (``--old-max``).

Each query runs in a fresh subprocess; peak memory is that process's max RSS (interpreter and
imports included).

    flock /work/wt/_notes/cpu.lock python scripts/bench_audit.py --sizes 100000 1000000 10000000
"""

from rlvr.benchmarks.audit import main

if __name__ == "__main__":
    main(description=__doc__)
