"""Reading the audit log: summaries, selections, exports and plots (`rlvr audit RUN_DIR`)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from curricula import audit_store
from curricula.audit import audit_tail_path
from curricula.audit_schema import AUDIT_FIELDS
from rlvr.audit_table import text_table


def select(
    records: list[dict],
    run_id: str | None = "latest",
    dropped: bool = False,
    prompt: str | None = None,
    steps: str | None = None,
    filter_name: str | None = None,
    decision: str | None = None,
) -> list[dict]:
    """Records of one run (``"latest"``, an id, or ``None`` for all) matching the options.

    ``steps`` is ``"A:B"`` (inclusive A, exclusive B; either side may be empty).
    """
    if run_id == "latest" and records:
        run_id = records[-1]["run_id"]
    out = [r for r in records if run_id is None or r["run_id"] == run_id]
    if dropped:  # shorthand for decision="dropped"
        decision = "dropped"
    if decision is not None:
        from curricula.base import DECISIONS

        if decision not in DECISIONS:
            raise ValueError(f"--decision must be one of {', '.join(DECISIONS)}; got {decision!r}")
        out = [r for r in out if r["decision"] == decision]
    if prompt is not None:
        out = [r for r in out if r["prompt_id"] == prompt]
    if filter_name is not None:
        out = [r for r in out if r["filter"] == filter_name]
    if steps:
        if ":" not in steps:
            raise ValueError(f"--steps must look like A:B (e.g. 10:20 or :5), got {steps!r}")
        lo, hi = steps.split(":", 1)
        lo_v = int(lo) if lo else None
        hi_v = int(hi) if hi else None
        out = [
            r for r in out if (lo_v is None or r["global_step"] >= lo_v) and (hi_v is None or r["global_step"] < hi_v)
        ]
    return out


def summary_table(path, run_id: str | None = "latest") -> str:
    """Counts by filter, decision, reason and skill, plus the final state of every prompt.

    Streams the log column by column (`rlvr.audit_query.summarize`): seconds at 10M decisions.
    """
    from rlvr.audit_query import summarize, summary_text

    return summary_text(summarize(path, run_id))


def render(records: list[dict], fmt: str) -> str | bytes:
    """Records as a table, CSV, JSON lines or Parquet (bytes)."""
    if fmt == "json":
        return "".join(json.dumps(r) + "\n" for r in records)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(AUDIT_FIELDS))
        writer.writeheader()
        for r in records:
            writer.writerow({k: json.dumps(r[k]) if isinstance(r.get(k), dict) else r.get(k) for k in AUDIT_FIELDS})
        return buf.getvalue()
    if fmt == "parquet":  # stats and columns as structs (rlvr.audit_query.export_parquet streams long logs)
        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in AUDIT_FIELDS} for r in records]), buf)
        return buf.getvalue()
    if fmt == "table":
        rows = [
            [r["global_step"], r["prompt_id"], r["columns"].get("skill", "-"), r["filter"], r["decision"], r["message"]]
            for r in records
        ]
        return text_table(["step", "prompt", "skill", "filter", "decision", "message"], rows) + "\n"
    raise ValueError(f"unknown format {fmt!r}; use table, csv, json or parquet")


def plot(records: list[dict], out: str | Path) -> Path:
    """Write `figure` of ``records`` to ``out`` (PNG)."""
    from rlvr.audit_plot import save

    return save(figure(records), out)


def figure(records: list[dict]):
    """`rlvr.audit_plot.figure` of a list of records."""
    from rlvr.audit_plot import PlotData
    from rlvr.audit_plot import figure as draw

    return draw(PlotData.from_records(records))


def main(args) -> int:
    """`rlvr audit` entry (args from rlvr.cli)."""
    from rlvr import audit_query

    path = audit_tail_path(args.run_dir)
    wanted = audit_query.Selection(
        run_id=None if args.run == "all" else args.run,
        decision="dropped" if args.dropped else args.decision,
        prompt=args.prompt,
        filter_name=args.filter,
        steps=args.steps,
    )
    selection = audit_query.resolve(path, wanted)
    if args.prompt is not None:
        missing = _unknown_prompt(path, args.prompt, selection.run_id, args.run_dir)
        if missing:
            print(f"rlvr audit: {missing}", file=sys.stderr)
            return 1
    if args.plot:
        from rlvr.audit_plot import PlotData, save
        from rlvr.audit_plot import figure as draw

        print(f"wrote {save(draw(PlotData.from_log(path, selection)), args.plot)}")
        drawn = reliability_plot(args.run_dir, args.plot)
        if drawn is not None:
            print(f"wrote {drawn}")
    if getattr(args, "html", None):
        from rlvr.audit_html import write_html

        print(f"wrote {write_html(path, args.html, run_id=selection.run_id)}")
    listing = (
        args.dropped
        or args.prompt is not None
        or args.steps is not None
        or args.filter is not None
        or args.decision is not None
        or args.format != "table"
    )
    if not listing:
        if not (args.plot or getattr(args, "html", None)):
            print(summary_table(path, run_id=selection.run_id))
        return 0
    return _list(path, selection, args.format, args.output)


def _list(path: Path, selection, fmt: str, output: str | None) -> int:
    """Write the selected records in ``fmt``, a segment at a time, to ``output`` or stdout."""
    from rlvr import audit_query

    if fmt == "parquet":
        if not output:
            raise ValueError("--format parquet needs --output FILE")
        written = audit_query.export_parquet(path, selection, output)
        print(f"wrote {written} records to {output}")
        return 0
    if fmt not in ("table", "csv", "json"):
        raise ValueError(f"unknown format {fmt!r}; use table, csv, json or parquet")
    sink = open(output, "w", encoding="utf-8") if output else sys.stdout
    written = 0
    try:
        for number, table in enumerate(audit_query.scan(path, selection)):
            text = render(audit_store.table_to_records(table), fmt)
            if number and fmt in ("csv", "table"):
                text = text.split("\n", 2 if fmt == "table" else 1)[-1]  # the header once
            sink.write(text)
            written += table.num_rows
    finally:
        if output:
            sink.close()
    if output:
        print(f"wrote {written} records to {output}")
    elif not written:  # an empty listing looked like success (`--filter predicter`, a typo)
        print(f"rlvr audit: no records match ({_describe(selection)}).", file=sys.stderr)
    return 0


def _describe(selection) -> str:
    """The selection's conditions in words, for the empty-listing notice."""
    wanted = {
        "run": selection.run_id,
        "filter": selection.filter_name,
        "decision": selection.decision,
        "prompt": selection.prompt,
        "steps": selection.steps,
    }
    said = [f"{name} {value!r}" for name, value in wanted.items() if value is not None]
    return ", ".join(said) + "; `rlvr audit RUN_DIR` counts the records by filter and decision"


def reliability_plot(run_dir: str | Path, plot_path: str | Path) -> Path | None:
    """The pass-rate predictor's reliability plot (predicted vs observed pass rate), beside
    ``plot_path`` as ``<stem>-reliability.png``, when the run has predictor calibration
    (``predictor_calibration.npz``, written by the trainer with ``curricula.predictor`` on);
    ``None`` otherwise."""
    import numpy as np

    from curricula.calibration import Calibration, reliability_figure
    from rlvr.checkpoint import CALIBRATION_FILE

    folder = Path(run_dir)
    source = (folder if folder.is_dir() else folder.parent) / CALIBRATION_FILE
    if not source.exists():
        return None
    with np.load(source) as saved:
        bins = saved["cal_bins"].shape[1]
        calibration = Calibration(bins)
        calibration.load_state_dict({k: saved[k] for k in saved.files})
    metrics = calibration.metrics()
    fig = reliability_figure(calibration.reliability(), brier=metrics.get("brier"))
    plot_path = Path(plot_path)
    out = plot_path.with_name(f"{plot_path.stem}-reliability.png")
    fig.savefig(out, dpi=110)
    return out


def _unknown_prompt(path: Path, prompt_id: str, run_id: str | None, where) -> str | None:
    """Why ``prompt_id`` has no history in the resolved run (with the closest ids), or ``None``."""
    from rewards.config_types import close_names
    from rlvr.audit_query import Selection, prompt_ids, scan

    if next(scan(path, Selection(run_id=run_id, prompt=prompt_id), columns=["prompt_id"]), None) is not None:
        return None  # found: stops at the first segment holding it, reading only the key columns
    in_run = prompt_ids(path, run_id)
    message = f"prompt {prompt_id!r} is not in the audit log {where}"
    if run_id is not None:
        message += f" (run {run_id})"
        if prompt_id in prompt_ids(path, None):
            return message + "; it is in another run's records: add --run all."
    close = close_names(prompt_id, in_run, n=3)
    if close:
        return message + "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message + (
        f"; its {len(in_run)} prompt ids are listed by `rlvr audit {where} --format csv` "
        "(column prompt_id). Prompts are recorded when a filter decides on them."
    )
