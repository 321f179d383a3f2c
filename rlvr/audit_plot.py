"""`rlvr audit --plot`: per-skill pass-rate heatmaps (shared colour scale, one colorbar), the active
pool, skips and the predictor's deferrals per step, and drops by reason and skill.

The figure is drawn from `PlotData`, a few counters built either from a list of records
(`PlotData.from_records`) or by streaming a log column by column (`PlotData.from_log`, bounded
memory at any length), so both give the same picture.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAX_HEATMAP_SKILLS = 8  # more skills than this: the largest 7, then one panel for the rest
STEP_BINS, RATE_BINS = 40, 10


@dataclass
class PlotData:
    """What the figure shows, as counts over the frontier's records."""

    step_range: tuple[int, int] | None = None  # first and last step with a pass rate
    heat: dict[str, np.ndarray] = field(default_factory=dict)  # skill -> visits per (step bin, rate bin)
    pool: dict[int, float] = field(default_factory=dict)  # step -> active pool (last record of the step)
    pool_size: int | None = None
    skipped: Counter = field(default_factory=Counter)  # step -> pre-rollout skips
    deferred: Counter = field(default_factory=Counter)  # (step, skill) -> the predictor's deferrals
    steps: set = field(default_factory=set)  # every step with a frontier or deferral record
    drops: Counter = field(default_factory=Counter)  # (reason, skill) -> drop decisions

    def bins(self) -> tuple[int, list]:
        lo, hi = self.step_range
        return max(1, min(STEP_BINS, hi - lo + 1)), [[lo, hi + 1], [0, 1]]

    def add_visits(self, skills, steps, rates) -> None:
        """Histogram (step, pass rate) visits per skill into the heatmap counts."""
        step_bins, extent = self.bins()
        skills, steps, rates = np.asarray(skills, dtype=object), np.asarray(steps), np.asarray(rates)
        for skill in sorted(set(skills.tolist())):
            chosen = skills == skill
            counts, _, _ = np.histogram2d(steps[chosen], rates[chosen], bins=[step_bins, RATE_BINS], range=extent)
            self.heat[skill] = self.heat.get(skill, 0) + counts

    @classmethod
    def from_records(cls, records: list[dict]) -> PlotData:
        frontier = [r for r in records if r["filter"] == "frontier"]
        data = cls()
        rated = [r for r in frontier if r["stats"].get("pass_rate") is not None]
        if rated:
            data.step_range = (min(r["global_step"] for r in rated), max(r["global_step"] for r in rated))
            data.add_visits(
                [str(r["columns"].get("skill", "-")) for r in rated],
                [r["global_step"] for r in rated],
                [r["stats"]["pass_rate"] for r in rated],
            )
        for r in frontier:
            data.steps.add(r["global_step"])
            if "active_pool" in r["stats"]:
                data.pool[r["global_step"]] = r["stats"]["active_pool"]
            if r["decision"] == "skipped":
                data.skipped[r["global_step"]] += 1
            if r["decision"] == "dropped":
                data.drops[(r["reason"], str(r["columns"].get("skill", "-")))] += 1
        data.pool_size = frontier[-1]["stats"].get("pool_size") if frontier else None
        for r in records:
            if r["filter"] == "predictor" and r["decision"] == "deferred":
                data.deferred[(r["global_step"], str(r["columns"].get("skill", "-")))] += 1
                data.steps.add(r["global_step"])
        return data

    @classmethod
    def from_log(cls, path: Path, selection) -> PlotData:
        """Two streaming passes over the frontier's records: the step range, then the counts."""
        import pyarrow.compute as pc

        from rlvr.audit_query import Selection, scan

        data, last_stats = cls(), None
        data._add_deferrals(path, selection)
        frontier = Selection(selection.run_id, selection.decision, selection.prompt, "frontier", selection.steps)
        if selection.filter_name not in (None, "frontier"):
            return data
        for table in scan(path, frontier, columns=["global_step", "pass_rate"]):
            steps = table.filter(pc.is_valid(table.column("pass_rate"))).column("global_step")
            if len(steps):
                lo, hi = pc.min(steps).as_py(), pc.max(steps).as_py()
                data.step_range = (
                    (lo, hi) if data.step_range is None else (min(lo, data.step_range[0]), max(hi, data.step_range[1]))
                )
        columns = ["global_step", "pass_rate", "skill", "active_pool", "decision", "reason", "stats"]
        for table in scan(path, frontier, columns=columns):
            data._add_table(table)
            last_stats = table.column("stats")[table.num_rows - 1].as_py()
        data.pool_size = json.loads(last_stats).get("pool_size") if last_stats else None
        return data

    def _add_deferrals(self, path: Path, selection) -> None:
        """The predictor's deferrals per step and skill, streamed (only those two columns are read)."""
        import pyarrow.compute as pc

        from rlvr.audit_query import Selection, scan

        if selection.filter_name not in (None, "predictor") or selection.decision not in (None, "deferred"):
            return
        deferred = Selection(selection.run_id, "deferred", selection.prompt, "predictor", selection.steps)
        for table in scan(path, deferred, columns=["global_step", "skill"]):
            steps = table.column("global_step").to_pylist()
            self.deferred.update(zip(steps, pc.fill_null(table.column("skill"), "-").to_pylist()))
            self.steps.update(steps)

    def _add_table(self, table) -> None:
        import pyarrow.compute as pc

        skills = pc.fill_null(table.column("skill"), "-")
        rated = pc.is_valid(table.column("pass_rate"))
        if self.step_range is not None and pc.any(rated).as_py():
            kept = table.filter(rated)
            self.add_visits(
                pc.fill_null(kept.column("skill"), "-").to_pylist(),
                kept.column("global_step").to_numpy(),
                kept.column("pass_rate").to_numpy(),
            )
        steps = table.column("global_step").to_pylist()
        self.steps.update(steps)
        for step, pool in zip(steps, table.column("active_pool").to_pylist()):
            if pool is not None:
                self.pool[step] = int(pool) if float(pool).is_integer() else pool
        decisions = table.column("decision").to_pylist()
        self.skipped.update(s for s, d in zip(steps, decisions) if d == "skipped")
        self.drops.update(
            (r, k)
            for d, r, k in zip(decisions, table.column("reason").to_pylist(), skills.to_pylist())
            if d == "dropped"
        )


def _top_skills(heat: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """At most `MAX_HEATMAP_SKILLS` panels: the largest skills, the rest pooled as ``other``."""
    if len(heat) <= MAX_HEATMAP_SKILLS:
        return dict(sorted(heat.items()))
    ranked = sorted(heat, key=lambda s: -heat[s].sum())
    kept = {s: heat[s] for s in sorted(ranked[: MAX_HEATMAP_SKILLS - 1])}
    kept["other"] = sum(heat[s] for s in ranked[MAX_HEATMAP_SKILLS - 1 :])
    return kept


def figure(data: PlotData):
    """Top row: one heatmap per skill, one colour scale and colorbar. Bottom: pool and skips, drops."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heat = _top_skills(data.heat)
    fig = plt.figure(figsize=(15, 8.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    heat_axes = top.subplots(1, max(1, len(heat)), squeeze=False)[0]
    _heatmaps(top, heat_axes, heat, data)
    pool_axis, drop_axis = bottom.subplots(1, 2)
    _pool_panel(pool_axis, data)
    _drops_panel(drop_axis, data)
    return fig


def _heatmaps(fig, axes, heat: dict[str, np.ndarray], data: PlotData) -> None:
    from matplotlib.colors import Normalize

    if not heat:
        axes[0].set(title="pass rate of visited prompts (no pass rates recorded)", xlabel="step")
        return
    step_bins, ((lo, hi), _) = data.bins()
    x_edges, y_edges = np.linspace(lo, hi, step_bins + 1), np.linspace(0, 1, RATE_BINS + 1)
    norm = Normalize(0, max(counts.max() for counts in heat.values()))
    mesh = None
    for axis, (skill, counts) in zip(axes, heat.items()):
        mesh = axis.pcolormesh(x_edges, y_edges, counts.T, cmap="Blues", norm=norm)
        axis.set(title=skill, xlabel="step")
    fig.suptitle("pass rate of visited prompts, per skill")
    axes[0].set_ylabel("pass rate (since admission)")
    fig.colorbar(mesh, ax=list(axes), label="visits per cell")


def _pool_panel(axis, data: PlotData) -> None:
    if data.pool:
        xs = sorted(data.pool)
        axis.step(xs, [data.pool[x] for x in xs], where="post", label="active")
        if data.pool_size:
            axis.axhline(data.pool_size, color="grey", ls="--", lw=0.8, label=f"pool size {data.pool_size}")
    if data.skipped:  # pre-rollout skips per step (skip_zero_variance)
        xs = sorted(data.steps)
        axis.bar(xs, [data.skipped.get(x, 0) for x in xs], color="tab:orange", alpha=0.6, label="skipped this step")
    if data.deferred:  # the predictor's deferrals per step, stacked by skill (curricula.predictor)
        _deferral_bars(axis, data)
    if data.pool or data.skipped or data.deferred:
        axis.set_ylim(top=axis.get_ylim()[1] * 1.35)  # head room for the legend above the bars
        axis.legend(fontsize="small", ncols=3, loc="upper left")
    else:
        axis.text(0.5, 0.5, "no pool, skip or deferral records", ha="center", va="center", transform=axis.transAxes)
    axis.set(title="active pool, skips and deferrals", xlabel="step", ylabel="prompts")


def _deferral_bars(axis, data: PlotData) -> None:
    """Deferrals per step stacked by skill: which skills the predictor held back, and when (the
    heatmaps' rule for many skills: the largest, the rest as ``other``)."""
    xs = sorted(data.steps)
    column = {step: i for i, step in enumerate(xs)}
    per_skill: dict[str, np.ndarray] = {}
    for (step, skill), n in data.deferred.items():
        per_skill.setdefault(skill, np.zeros(len(xs)))[column[step]] += n
    bottom = np.zeros(len(xs))
    for skill, heights in _top_skills(per_skill).items():
        axis.bar(xs, heights, bottom=bottom, alpha=0.6, label=f"deferred: {skill}")
        bottom = bottom + heights


def _drops_panel(axis, data: PlotData) -> None:
    if data.drops:
        skills = sorted({s for _, s in data.drops})
        bottom = [0] * len(skills)
        for kind in sorted({k for k, _ in data.drops}):
            heights = [data.drops.get((kind, s), 0) for s in skills]
            axis.bar(skills, heights, bottom=bottom, label=kind)
            bottom = [b + h for b, h in zip(bottom, heights)]
        axis.legend()
    else:
        axis.text(0.5, 0.5, "no prompt was dropped", ha="center", va="center", transform=axis.transAxes)
    axis.set(title="drop decisions by reason and skill", ylabel="decisions")


def save(fig, out: str | Path) -> Path:
    import matplotlib.pyplot as plt

    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
