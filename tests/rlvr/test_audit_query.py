"""`rlvr audit` over segments + tail: the columnar queries give what the record-by-record ones give."""

import json
import random
from collections import Counter

import pyarrow.parquet as pq

from curricula import audit_store
from curricula.audit import AuditLog, read_audit
from curricula.base import Decision
from rlvr.audit_query import Selection, export_parquet, resolve, scan, summarize
from rlvr.audit_report import select
from rlvr.cli import main


def random_log(tmp_path, records=900, seed=0):
    """Two runs, three filters, every decision kind; segments of 100 records plus a tail."""
    rng = random.Random(seed)
    log = AuditLog(tmp_path, "first", segment_records=100)
    for seq in range(records):
        if seq == records // 3:
            log.run_id = "second"
        what = rng.choice(["kept"] * 6 + ["dropped", "readmitted", "skipped", "probed"])
        reason = {"dropped": rng.choice(["too_hard", "too_easy"])}.get(what, what + "_reason")
        stats = {"pass_rate": rng.choice([None, 0.25, 0.5]), "active_pool": 50 - seq % 7}
        if seq % 5 == 0:
            stats["notes"] = ["short"]
        log.add(
            Decision(
                rng.choice(["frontier"] * 3 + ["zero_variance"]),
                f"p{rng.randrange(40)}",
                what,
                reason,
                f"{what} at {seq}",
                stats,
                {"skill": rng.choice(["add", "mul"])},
                "h",
            ),
            seq // 9,
            0.0,
        )
        if seq % 9 == 8:
            log.flush()
    log.flush()
    return log


def reference_status(records):
    """The original `rlvr audit` summary's final-status rule, record by record."""
    status, skill_of = {}, {}
    for r in records:
        skill_of[r["prompt_id"]] = str(r["columns"].get("skill", "-"))
        if r["filter"] != "frontier":
            continue
        if r["decision"] == "dropped":
            status[r["prompt_id"]] = f"dropped ({r['reason']})"
        elif r["decision"] == "readmitted" or (r["decision"] == "kept" and r["prompt_id"] not in status):
            status[r["prompt_id"]] = "active"
    return Counter((skill_of[p], s) for p, s in status.items())


def test_summary_matches_the_record_by_record_rules(tmp_path):
    log = random_log(tmp_path)
    assert (len(audit_store.segments(log.path)), log.tail_records) == (8, 36)  # 108-record segments, then a tail
    records = read_audit(tmp_path)
    for run_id in ("latest", "first", None):
        chosen = select(records, run_id=run_id)
        summary = summarize(tmp_path, run_id)
        assert summary.records == len(chosen)
        assert summary.counts == Counter((r["filter"], r["decision"], r["reason"]) for r in chosen)
        assert summary.status_by_skill == reference_status(chosen)
        assert (summary.first_step, summary.last_step) == (chosen[0]["global_step"], chosen[-1]["global_step"])


def test_selections_match_and_stream_in_order(tmp_path):
    random_log(tmp_path)
    records = read_audit(tmp_path)
    cases = [
        dict(decision="dropped"),
        dict(prompt="p7"),
        dict(filter_name="zero_variance", steps="10:40"),
        dict(run_id=None, steps=":5"),
        dict(run_id="first", decision="readmitted"),
    ]
    for case in cases:
        selection = resolve(tmp_path, Selection(**case))
        got = [r for t in scan(tmp_path, selection) for r in audit_store.table_to_records(t)]
        want = select(
            records,
            run_id=case.get("run_id", "latest"),
            decision=case.get("decision"),
            prompt=case.get("prompt"),
            filter_name=case.get("filter_name"),
            steps=case.get("steps"),
        )
        assert got == want and got, case


def test_parquet_export_stores_stats_as_a_struct(tmp_path):
    random_log(tmp_path)
    export_parquet(tmp_path, resolve(tmp_path, Selection(run_id=None)), tmp_path / "all.parquet")
    schema = pq.read_schema(tmp_path / "all.parquet")
    assert (
        str(schema.field("stats").type) == "struct<pass_rate: double, active_pool: int64, notes: list<element: string>>"
    )
    rows = pq.read_table(tmp_path / "all.parquet").to_pylist()
    records = read_audit(tmp_path)
    assert [r["seq"] for r in rows] == list(range(len(records)))
    assert rows[5]["stats"] == {**records[5]["stats"], "notes": ["short"]}
    assert rows[6]["stats"]["notes"] is None and rows[6]["columns"] == records[6]["columns"]


def test_parquet_export_keeps_keys_of_mixed_kinds_as_text(tmp_path):
    log = AuditLog(tmp_path, "run", segment_records=2)
    for value in (3, "three", {"n": 3}):
        log.add(Decision("compat", "p", "kept", "ok", "m", {"value": value, "n": 1}, {}, ""), 0, 0.0)
    log.flush()
    assert main(["audit", str(tmp_path), "--format", "parquet", "-o", str(tmp_path / "x.parquet")]) == 0
    rows = pq.read_table(tmp_path / "x.parquet").to_pylist()
    assert [json.loads(r["stats"]["value"]) for r in rows] == [3, "three", {"n": 3}]
    assert [r["stats"]["n"] for r in rows] == [1, 1, 1]


def test_cli_lists_across_segments_with_one_header(tmp_path, capsys):
    random_log(tmp_path)
    assert main(["audit", str(tmp_path), "--run", "all", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("schema_version,seq,") and len(lines) == 1 + 900
    assert sum(line.startswith("schema_version") for line in lines) == 1
    assert main(["audit", str(tmp_path), "--prompt", "p999"]) == 1
    assert "p999" in capsys.readouterr().err


def test_plot_data_streamed_from_the_log_equals_that_of_the_records(tmp_path):
    import numpy as np

    from rlvr.audit_plot import PlotData

    random_log(tmp_path)
    records = read_audit(tmp_path)
    for case in (dict(run_id=None), dict(run_id="latest", steps="20:60")):
        selection = resolve(tmp_path, Selection(**case))
        chosen = select(records, run_id=case["run_id"], steps=case.get("steps"))
        streamed, listed = PlotData.from_log(tmp_path, selection), PlotData.from_records(chosen)
        assert streamed.step_range == listed.step_range and sorted(streamed.heat) == ["add", "mul"]
        for skill in listed.heat:
            assert np.array_equal(streamed.heat[skill], listed.heat[skill])
        assert sum(c.sum() for c in streamed.heat.values()) == sum(
            1 for r in chosen if r["filter"] == "frontier" and r["stats"]["pass_rate"] is not None
        )
        assert (streamed.pool, streamed.skipped, streamed.drops, streamed.steps) == (
            listed.pool,
            listed.skipped,
            listed.drops,
            listed.steps,
        )


def test_latest_run_is_read_from_the_end_of_the_tail(tmp_path):
    from rlvr.audit_query import _last_complete_line

    path = tmp_path / "audit.jsonl"
    cases = [
        (b"", None),
        (b'{"a":1}\n', b'{"a":1}'),
        (b'{"a":1}\n{"b":2}\n{"c"', b'{"b":2}'),
        (b"x" * 7000 + b"\n" + b"y" * 7000 + b"\n", b"y" * 7000),
        (b'{"a', None),
    ]
    for content, last in cases:
        path.write_bytes(content)
        assert _last_complete_line(path, block=1000) == last


def test_the_plot_counts_the_predictors_deferrals_per_step(tmp_path):
    from rlvr.audit_plot import PlotData, figure

    log = AuditLog(tmp_path, "run", segment_records=10)
    for step in range(6):
        for i in range(step % 3):  # 0, 1, 2, 0, 1, 2 deferrals
            log.add(
                Decision("predictor", f"p{i}", "deferred", "low_signal", "deferred", {}, {"skill": "a"}, ""), step, 0.0
            )
        log.add(Decision("predictor", "p9", "kept", "returned", "taken", {}, {"skill": "a"}, ""), step, 0.0)
        log.flush()
    log.close()
    records = read_audit(tmp_path)
    streamed = PlotData.from_log(tmp_path, resolve(tmp_path, Selection(run_id=None)))
    listed = PlotData.from_records(records)
    assert streamed.deferred == listed.deferred == {(1, "a"): 1, (2, "a"): 2, (4, "a"): 1, (5, "a"): 2}
    assert streamed.steps == listed.steps == {1, 2, 4, 5}
    for other in (Selection(run_id=None, filter_name="frontier"), Selection(run_id=None, decision="kept")):
        assert not PlotData.from_log(tmp_path, resolve(tmp_path, other)).deferred
    labels = [t.get_text() for a in figure(listed).axes for t in (a.get_legend().get_texts() if a.get_legend() else [])]
    assert "deferred: a" in labels
