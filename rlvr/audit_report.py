"""Reading the audit log: summaries, selections, exports and plots (`rlvr audit RUN_DIR`)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from pathlib import Path

from curricula.audit import AUDIT_FIELDS, read_audit


def select(records: list[dict], run_id: str | None = "latest", dropped: bool = False, prompt: str | None = None,
           steps: str | None = None, filter_name: str | None = None, decision: str | None = None) -> list[dict]:
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
        out = [r for r in out if (lo_v is None or r["global_step"] >= lo_v) and (hi_v is None or r["global_step"] < hi_v)]
    return out


def unknown_prompt_message(records: list[dict], prompt_id: str, run_id: str | None, where) -> str | None:
    """Why ``prompt_id`` has no history in the selected run (with the closest ids), or ``None``."""
    import difflib

    in_run = {r["prompt_id"] for r in select(records, run_id=run_id)}
    if prompt_id in in_run:
        return None
    message = f"prompt {prompt_id!r} is not in the audit log {where}"
    if run_id is not None and records:
        message += f" (run {records[-1]['run_id'] if run_id == 'latest' else run_id})"
        if any(r["prompt_id"] == prompt_id for r in records):
            return message + "; it is in another run's records: add --run all."
    close = difflib.get_close_matches(prompt_id, sorted(in_run), n=3, cutoff=0.6)
    if close:
        return message + "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message + (f"; its {len(in_run)} prompt ids are listed by `rlvr audit {where} --format csv` "
                      "(column prompt_id). Prompts are recorded when a filter decides on them.")


def _table(headers: list[str], rows: list[list]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_table(path, run_id: str | None = "latest") -> str:
    """Counts by filter, decision, reason and skill, plus the final state of every prompt."""
    records = select(read_audit(path), run_id=run_id)
    if not records:
        return "audit log: no records"
    head = records[0]
    by_decision = Counter((r["filter"], r["decision"], r["reason"]) for r in records)
    lines = [f"=== audit: run {head['run_id']}, {len(records)} records, steps "
             f"{records[0]['global_step']}..{records[-1]['global_step']} ===",
             _table(["filter", "decision", "reason", "records"],
                    [[f, d, r, n] for (f, d, r), n in sorted(by_decision.items())])]
    # Final status per prompt (frontier): the last drop/readmit decides.
    status: dict[str, str] = {}
    skill_of: dict[str, str] = {}
    for r in records:
        skill_of[r["prompt_id"]] = str(r["columns"].get("skill", "-"))
        if r["filter"] != "frontier":
            continue
        if r["decision"] == "dropped":
            status[r["prompt_id"]] = f"dropped ({r['reason']})"
        elif r["decision"] in ("readmitted", "kept") and r["prompt_id"] not in status:
            status[r["prompt_id"]] = "active"
        elif r["decision"] == "readmitted":
            status[r["prompt_id"]] = "active"
    if status:
        per_skill: dict[str, Counter] = defaultdict(Counter)
        for pid, s in status.items():
            per_skill[skill_of[pid]][s] += 1
        kinds = sorted({k for c in per_skill.values() for k in c})
        lines.append("prompts by skill and final status (seen so far):")
        lines.append(_table(["skill"] + kinds, [[sk] + [c.get(k, 0) for k in kinds] for sk, c in sorted(per_skill.items())]))
    return "\n".join(lines)


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
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = [{k: json.dumps(r[k]) if isinstance(r.get(k), dict) else r.get(k) for k in AUDIT_FIELDS} for r in records]
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(flat), buf)
        return buf.getvalue()
    if fmt == "table":
        rows = [[r["global_step"], r["prompt_id"], r["columns"].get("skill", "-"), r["filter"], r["decision"],
                 r["message"]] for r in records]
        return _table(["step", "prompt", "skill", "filter", "decision", "message"], rows) + "\n"
    raise ValueError(f"unknown format {fmt!r}; use table, csv, json or parquet")


def plot(records: list[dict], out: str | Path) -> Path:
    """Write `figure` of ``records`` to ``out`` (PNG)."""
    import matplotlib.pyplot as plt

    fig = figure(records)
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def figure(records: list[dict]):
    """Three panels: pass-rate distribution of visited prompts over steps, active pool size and
    pre-rollout skips over steps, and dropped prompts by reason."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frontier = [r for r in records if r["filter"] == "frontier"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))

    steps = [r["global_step"] for r in frontier if r["stats"].get("pass_rate") is not None]
    rates = [r["stats"]["pass_rate"] for r in frontier if r["stats"].get("pass_rate") is not None]
    if steps:
        axes[0].hist2d(steps, rates, bins=[max(1, min(40, len(set(steps)))), 10], range=[[min(steps), max(steps) + 1], [0, 1]],
                       cmap="Blues")
    axes[0].set(title="pass rate of visited prompts", xlabel="step", ylabel="pass rate (since admission)")

    pool = {}
    for r in frontier:
        if "active_pool" in r["stats"]:
            pool[r["global_step"]] = r["stats"]["active_pool"]
    if pool:
        xs = sorted(pool)
        axes[1].step(xs, [pool[x] for x in xs], where="post", label="active")
        size = frontier[-1]["stats"].get("pool_size")
        if size:
            axes[1].axhline(size, color="grey", ls="--", lw=0.8, label=f"pool size {size}")
    skipped = Counter(r["global_step"] for r in frontier if r["decision"] == "skipped")
    if skipped:  # pre-rollout skips per step (skip_zero_variance)
        xs = sorted({r["global_step"] for r in frontier})
        axes[1].bar(xs, [skipped.get(x, 0) for x in xs], color="tab:orange", alpha=0.6, label="skipped this step")
    if pool or skipped:
        axes[1].legend()
    axes[1].set(title="active pool and skips", xlabel="step", ylabel="prompts")

    reasons = Counter((r["reason"], str(r["columns"].get("skill", "-"))) for r in frontier if r["decision"] == "dropped")
    if reasons:
        skills = sorted({s for _, s in reasons})
        kinds = sorted({k for k, _ in reasons})
        bottom = [0] * len(skills)
        for kind in kinds:
            heights = [reasons.get((kind, s), 0) for s in skills]
            axes[2].bar(skills, heights, bottom=bottom, label=kind)
            bottom = [b + h for b, h in zip(bottom, heights)]
        axes[2].legend()
    axes[2].set(title="drop decisions by reason and skill", ylabel="decisions")
    fig.tight_layout()
    return fig
