import json

import pandas as pd
import pytest

from curricula.audit import AUDIT_FIELDS, AuditLog, read_audit
from curricula.base import Decision
from rlvr.audit_report import figure, render, select, summary_table


def decision(pid, what="kept", reason="in_frontier", skill="add2"):
    return Decision(
        "frontier",
        pid,
        what,
        reason,
        f"{what}: {pid}",
        {"pass_rate": 0.5, "active_pool": 3, "pool_size": 4},
        {"skill": skill},
        "h",
    )


def test_records_have_one_schema_and_increasing_seq(tmp_path):
    log = AuditLog(tmp_path, "run-a")
    for step in range(3):
        log.add(decision(f"p{step}"), global_step=step, epoch=step / 3)
        log.flush()
    records = read_audit(tmp_path)
    assert [r["seq"] for r in records] == [0, 1, 2]
    assert all(list(r) == list(AUDIT_FIELDS) for r in records)
    # Loads with pandas as the docs promise.
    frame = pd.read_json(tmp_path / "audit.jsonl", lines=True)
    assert list(frame["prompt_id"]) == ["p0", "p1", "p2"]


def test_rewind_to_a_checkpoint_removes_only_later_records(tmp_path):
    log = AuditLog(tmp_path, "run-a")
    log.add(decision("p0"), 0, 0)
    log.add(decision("p1"), 1, 0)
    position = log.position()
    log.add(decision("p2"), 2, 0)
    log.add(decision("p3"), 3, 0)
    log.flush()
    # A new process resumes: same file, fresh AuditLog object.
    resumed = AuditLog(tmp_path, "run-a")
    assert resumed.seq == 4
    assert resumed.rewind(position) == 2
    resumed.add(decision("p2-again"), 2, 0)
    resumed.flush()
    records = read_audit(tmp_path)
    assert [(r["seq"], r["prompt_id"]) for r in records] == [(0, "p0"), (1, "p1"), (2, "p2-again")]


def test_torn_last_line_is_ignored_then_cut_before_appending(tmp_path):
    log = AuditLog(tmp_path, "run-a")
    log.add(decision("p0"), 0, 0)
    log.flush()
    with open(tmp_path / "audit.jsonl", "a") as f:
        f.write('{"schema_version": 1, "seq": 1, "run')  # killed mid-write
    assert len(read_audit(tmp_path)) == 1
    again = AuditLog(tmp_path, "run-b")
    again.add(decision("p1"), 0, 0)
    again.flush()
    assert [r["seq"] for r in read_audit(tmp_path)] == [0, 1]


def test_select_and_render(tmp_path):
    log = AuditLog(tmp_path, "old")
    log.add(decision("p0"), 0, 0)
    log.flush()
    log.run_id = "new"
    for step, (pid, what, reason) in enumerate(
        [
            ("p0", "kept", "in_frontier"),
            ("p1", "dropped", "too_hard"),
            ("p0", "dropped", "too_easy"),
            ("p1", "readmitted", "reprobe_success"),
        ]
    ):
        log.add(decision(pid, what, reason), step, 0)
    log.flush()
    records = read_audit(tmp_path)
    assert len(select(records)) == 4  # latest run only
    assert len(select(records, run_id=None)) == 5
    assert [r["prompt_id"] for r in select(records, dropped=True)] == ["p1", "p0"]
    assert [r["decision"] for r in select(records, prompt="p1")] == ["dropped", "readmitted"]
    assert [r["global_step"] for r in select(records, steps="1:3")] == [1, 2]
    with pytest.raises(ValueError, match="A:B"):
        select(records, steps="7")
    csv_text = render(select(records), "csv")
    assert csv_text.splitlines()[0] == ",".join(AUDIT_FIELDS)
    assert json.loads(render(select(records), "json").splitlines()[1])["reason"] == "too_hard"
    table = summary_table(tmp_path)
    assert "run new, 4 records" in table
    assert "frontier  dropped     too_hard" in table
    # Final status: p0 dropped (too easy), p1 readmitted -> active.
    assert table.splitlines()[-3:] == [
        "skill  active  dropped (too_easy)",
        "-----  ------  ------------------",
        "add2   1       1",
    ]


def test_cli_exports_parquet_and_plots(tmp_path):
    import pyarrow.parquet as pq

    from rlvr.cli import main

    log = AuditLog(tmp_path, "run")
    for step, (pid, what, reason) in enumerate([("p0", "kept", "in_frontier"), ("p1", "dropped", "too_hard")]):
        log.add(decision(pid, what, reason), step, 0)
    log.flush()
    assert main(["audit", str(tmp_path), "--format", "parquet", "-o", str(tmp_path / "a.parquet")]) == 0
    table = pq.read_table(tmp_path / "a.parquet").to_pylist()
    assert [(r["prompt_id"], r["decision"]) for r in table] == [("p0", "kept"), ("p1", "dropped")]
    assert table[1]["columns"] == {"skill": "add2"}  # structs, not JSON text
    assert table[1]["stats"] == {"pass_rate": 0.5, "active_pool": 3, "pool_size": 4}
    assert pq.read_schema(tmp_path / "a.parquet").field("stats").type.field("pass_rate").type == "double"
    assert main(["audit", str(tmp_path), "--plot", str(tmp_path / "audit.png")]) == 0
    assert (tmp_path / "audit.png").stat().st_size > 10_000
    for step in (2, 2, 4):
        log.add(decision("p0", "skipped", "zero_variance_streak"), step, 0)
    log.flush()
    from rlvr.audit_report import figure

    bars = panel(figure(read_audit(tmp_path)), "active pool, skips and deferrals").containers  # skips per step
    assert [[rect.get_height() for rect in c] for c in bars] == [[0, 0, 2, 1]]
    assert panel(figure(read_audit(tmp_path)[:2]), "active pool, skips and deferrals").containers == []
    assert main(["audit", str(tmp_path / "missing")]) == 2


def panel(fig, title):
    return next(axis for axis in fig.axes if axis.get_title().endswith(title))


def test_heatmap_is_split_by_skill_with_one_colour_scale_and_a_colorbar(tmp_path):
    log = AuditLog(tmp_path, "run")
    for step in range(4):
        for i in range(3):  # add2 visited three times a step, mul3 once
            log.add(decision(f"a{i}"), step, 0)
        log.add(Decision("frontier", "m0", "kept", "in_frontier", "m", {"pass_rate": 0.95}, {"skill": "mul3"}), step, 0)
    log.flush()
    fig = figure(read_audit(tmp_path))
    add2 = panel(fig, "add2")
    mul3 = panel(fig, "mul3")
    colorbars = [axis for axis in fig.axes if axis.get_ylabel() == "visits per cell"]
    assert len(colorbars) == 1
    mesh_add2, mesh_mul3 = add2.collections[0], mul3.collections[0]
    assert mesh_add2.norm is mesh_mul3.norm and mesh_add2.norm.vmax == 3  # shared scale: the busiest cell
    assert mesh_add2.get_array().max() == 3 and mesh_mul3.get_array().max() == 1


def test_cli_lists_one_kind_of_decision(tmp_path, capsys):
    from rlvr.cli import main

    log = AuditLog(tmp_path, "run")
    for step, (pid, what, reason) in enumerate(
        [
            ("p0", "kept", "in_frontier"),
            ("p1", "skipped", "zero_variance_streak"),
            ("p2", "skipped", "zero_variance_streak"),
        ]
    ):
        log.add(decision(pid, what, reason), step, 0)
    log.flush()
    assert [r["prompt_id"] for r in select(read_audit(tmp_path), decision="skipped")] == ["p1", "p2"]
    with pytest.raises(
        ValueError, match="--decision must be one of kept, dropped, readmitted, masked, probed, skipped"
    ):
        select(read_audit(tmp_path), decision="skiped")
    assert main(["audit", str(tmp_path), "--decision", "skipped"]) == 0
    listing = capsys.readouterr().out
    assert "skipped: p1" in listing and "skipped: p2" in listing and "kept: p0" not in listing
    assert main(["audit", str(tmp_path), "--decision", "skiped"]) == 2


def test_cli_says_when_a_listing_matches_nothing(tmp_path, capsys):
    from rlvr.cli import main

    log = AuditLog(tmp_path, "run")
    log.add(decision("p0"), 0, 0)
    log.flush()
    # A misspelt filter used to print nothing at all, as if the run had no such records.
    assert main(["audit", str(tmp_path), "--filter", "predicter"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no records match" in captured.err and "filter 'predicter'" in captured.err
    assert main(["audit", str(tmp_path), "--filter", "frontier"]) == 0
    captured = capsys.readouterr()
    assert "kept: p0" in captured.out and captured.err == ""
