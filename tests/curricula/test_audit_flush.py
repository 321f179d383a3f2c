"""`AuditLog(flush_seconds=...)`: writes at most that often, yet a checkpoint's position and the
run's end always write, so a resumed run loses nothing."""

from curricula.audit import AuditLog, count_records
from curricula.base import Decision


def decision(i):
    return Decision(filter="frontier", prompt_id=f"p{i}", decision="kept", reason="r", message="m")


def test_flush_waits_for_the_interval_but_position_and_close_always_write(tmp_path):
    log = AuditLog(tmp_path, "run", flush_seconds=3600)
    log.add(decision(0), global_step=0, epoch=0.0)
    log.flush()  # the first write goes through at once
    assert count_records(log.path) == 1
    log.add(decision(1), global_step=1, epoch=0.0)
    log.flush()  # within the interval: held back
    assert count_records(log.path) == 1
    assert log.position()["records"] == 2 and count_records(log.path) == 2  # a checkpoint writes
    log.add(decision(2), global_step=2, epoch=0.0)
    log.flush()
    assert count_records(log.path) == 2
    log.close()
    assert count_records(log.path) == 3


def test_flush_seconds_zero_writes_every_call(tmp_path):
    log = AuditLog(tmp_path, "run")
    for i in range(3):
        log.add(decision(i), global_step=i, epoch=0.0)
        log.flush()
        assert count_records(log.path) == i + 1
