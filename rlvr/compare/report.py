"""The comparison's report (Markdown + PNG plots), rebuilt from the results file alone.

    rlvr report runs/showdown/results.jsonl --out runs/showdown

Means are over seeds, ``±`` is the sample standard deviation over seeds. Margins between two
selectors are *paired*: both arms of a seed share the seed (and, for ``random``, nothing else),
so a margin is the mean of the per-seed differences ``a - b`` over the seeds both arms have, with
its 95% paired t interval ``mean ± t(0.975, n-1) · sd / sqrt(n)``. A win (or loss) is called only
when that interval excludes zero; one seed gives no interval and no call. The plots draw each
mean with the 95% t interval of that mean over seeds.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rlvr.compare.run import BASELINE, RESULT_COLUMNS

REPORT_FILE = "report.md"
PLOT_FILES = {"sft": "report_sft.png", "grpo": "report_grpo.png", "probe": "report_probe.png"}
INFLUENCE_TYPE = ("influence", "frontier_influence")
DIFFICULTY_TYPE = ("loss", "perplexity", "el2n", "grand", "forgetting", "pass_band")
REGIME_METRIC = {"targeted": "target_acc", "general": "mean_acc"}
TABLE_METRICS = ("target_acc", "retention_acc", "mean_acc", "target_share", "repeat_rate", "length_ratio")
METHOD_TITLE = {"sft": "SFT (equal optimizer steps x batch)", "grpo": "GRPO (equal generated tokens)"}

Cell = dict[int, float]  # seed -> value


def read_results(path: str | os.PathLike) -> list[dict]:
    """The rows of a results file; a malformed line is an error naming the file and line."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {n}: not JSON ({err}).") from err
        missing = [c for c in RESULT_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"{path} line {n}: missing columns {missing}.")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no results.")
    return rows


def cells(rows: Sequence[dict]) -> dict[tuple, Cell]:
    """``(method, regime, selector, budget, metric) -> {seed: value}``."""
    out: dict[tuple, Cell] = defaultdict(dict)
    for r in rows:
        out[(r["method"], r["regime"], r["selector"], float(r["budget"]), r["metric"])][int(r["seed"])] = float(
            r["value"]
        )
    return dict(out)


def stats(cell: Cell | None) -> tuple[float, float, int]:
    """``(mean, std, n)`` over seeds (NaN values skipped; std 0 for one seed)."""
    values = [v for v in (cell or {}).values() if not math.isnan(v)]
    if not values:
        return math.nan, math.nan, 0
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)


# Two-sided 95% Student t quantiles t(0.975, df) for df = 1..30, to 6 digits. scipy is not a
# dependency of rlvr and numpy has no t quantile; a table for the seed counts a comparison runs is
# exact where it matters. Beyond 30 the Cornish-Fisher expansion around the normal quantile is
# within 1e-4 of the exact value (plain 1.96 would make the interval up to 3% too narrow).
T975 = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.131450,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.045230,
    2.042272,
)
Z975 = 1.959964


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"t quantile needs df >= 1, got {df}.")
    if df <= len(T975):
        return T975[df - 1]
    z = Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


class Margin(NamedTuple):
    """A paired margin ``a - b``: mean and sample std of the per-seed differences over ``n`` shared
    seeds, and the 95% paired t interval ``[low, high]`` (NaN when n < 2)."""

    mean: float
    std: float
    n: int
    low: float
    high: float


def paired(a: Cell, b: Cell) -> Margin:
    """The per-seed differences ``a - b`` over the seeds both have, with their 95% t interval."""
    mean, std, n = stats({s: a[s] - b[s] for s in sorted(set(a) & set(b))})
    if n < 2:
        return Margin(mean, std, n, math.nan, math.nan)
    half = t975(n - 1) * std / math.sqrt(n)
    return Margin(mean, std, n, mean - half, mean + half)


def fmt(cell: Cell | None) -> str:
    mean, std, n = stats(cell)
    return "-" if n == 0 else f"{mean:.3f} ± {std:.3f}"


def signed(m: Margin) -> str:
    """``+0.057 [+0.012, +0.102]``: the mean difference and its 95% interval (no interval for one seed)."""
    if m.n == 0:
        return "-"
    return f"{m.mean:+.3f}" if m.n == 1 else f"{m.mean:+.3f} [{m.low:+.3f}, {m.high:+.3f}]"


def call(m: Margin, up: str = "win", down: str = "loss") -> str:
    """``up`` / ``down`` only when the 95% interval lies wholly above / below zero."""
    if m.n == 0:
        return "no shared seeds"
    if m.n == 1:
        return "one seed: no interval"
    if m.low > 0:
        return up
    return down if m.high < 0 else "no clear difference"


def margin(m: Margin, up: str = "win", down: str = "loss") -> str:
    """A margin as the report prints it: ``+0.057 [+0.012, +0.102] (win)``."""
    return f"{signed(m)} ({call(m, up, down)})"


# -- verdicts ----------------------------------------------------------------------------------
def budget_verdicts(table: dict[tuple, Cell], method: str, regime: str, metric: str) -> list[dict]:
    """Per budget: the selectors ranked by mean, the top one's paired margin (a ``Margin`` with its
    95% interval; a win only if it excludes zero) over the runner-up and random, and the best
    influence-type selector against the best difficulty-type one."""
    out = []
    budgets = sorted({k[3] for k in table if k[:2] == (method, regime) and k[4] == metric})
    for budget in budgets:
        arms = {k[2]: v for k, v in table.items() if k[:2] == (method, regime) and k[3] == budget and k[4] == metric}
        ranked = sorted(arms, key=lambda s: (-stats(arms[s])[0], s))
        win = {"budget": budget, "ranked": ranked, "cells": arms}
        if len(ranked) > 1:
            win["runner_up"] = paired(arms[ranked[0]], arms[ranked[1]])
        if "random" in arms and ranked[0] != "random":
            win["vs_random"] = paired(arms[ranked[0]], arms["random"])
        inf = [s for s in ranked if s in INFLUENCE_TYPE]
        dif = [s for s in ranked if s in DIFFICULTY_TYPE]
        if inf and dif:
            win["influence_vs_difficulty"] = (inf[0], dif[0], paired(arms[inf[0]], arms[dif[0]]))
        out.append(win)
    return out


def _verdict_lines(verdicts: list[dict], label: str) -> list[str]:
    lines = []
    for v in verdicts:
        best = v["ranked"][0]
        text = f"- budget {v['budget']:g}: **{best}** highest on {label} ({fmt(v['cells'][best])})"
        if "runner_up" in v:
            text += f", ahead of {v['ranked'][1]} by {margin(v['runner_up'])}"
        else:
            text += " (the only arm at this budget)"
        if "vs_random" in v and v["ranked"][1:2] != ["random"]:
            text += f"; vs random {margin(v['vs_random'])}"
        if "influence_vs_difficulty" in v:
            inf, dif, diff = v["influence_vs_difficulty"]
            text += f"; best influence-type ({inf}) vs best difficulty-type ({dif}): {margin(diff)}"
        lines.append(text + ".")
    return lines


def _headline(verdicts: list[dict], method: str, regime: str) -> str:
    """Winners counted only where the best arm's interval over the runner-up excludes zero."""
    contested = [v for v in verdicts if "runner_up" in v]
    if not contested:
        return f"**{METHOD_TITLE.get(method, method)}, {regime}:** one arm per budget, nothing to rank."
    winners = [v["ranked"][0] for v in contested if call(v["runner_up"]) == "win"]
    kinds = {
        "influence-type": sum(w in INFLUENCE_TYPE for w in winners),
        "difficulty-type": sum(w in DIFFICULTY_TYPE for w in winners),
        "random/full": sum(w not in INFLUENCE_TYPE + DIFFICULTY_TYPE for w in winners),
    }
    per_budget = [
        f"{v['ranked'][0]} @ {v['budget']:g}"
        if call(v["runner_up"]) == "win"
        else f"no clear winner @ {v['budget']:g} ({v['ranked'][0]} over {v['ranked'][1]} {margin(v['runner_up'])})"
        for v in contested
    ]
    text = (
        f"**{METHOD_TITLE.get(method, method)}, {regime} regime:** clear best selector per budget — "
        + ", ".join(per_budget)
        + f" ({kinds['influence-type']} influence-type, {kinds['difficulty-type']} difficulty-type, "
        f"{kinds['random/full']} random/full clear wins of {len(contested)} budgets)."
    )
    duel = [(v["budget"], v["influence_vs_difficulty"][2]) for v in contested if "influence_vs_difficulty" in v]
    if duel:
        calls = [call(d) for _, d in duel]
        text += (
            f" Best influence-type minus best difficulty-type: influence-type clearly ahead at "
            f"{calls.count('win')}, difficulty-type at {calls.count('loss')}, no clear call at "
            f"{len(calls) - calls.count('win') - calls.count('loss')} of {len(duel)} budgets (per budget: "
            + ", ".join(f"{signed(d)} @ {b:g}" for b, d in duel)
            + ")."
        )
    return text


# -- report ------------------------------------------------------------------------------------
def write_report(results: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """``report.md`` and its PNG plots in ``out_dir``, from the results file alone."""
    rows = read_results(results)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = cells(rows)
    target = rows[0]["target_skill"]
    seeds = sorted({int(r["seed"]) for r in rows})
    methods = [m for m in ("sft", "grpo") if any(r["method"] == m and r["regime"] != "probe" for r in rows)]
    regimes = [g for g in ("targeted", "general") if any(r["regime"] == g for r in rows)]
    selectors = list(dict.fromkeys(r["selector"] for r in rows))
    n_selected = {(r["method"], r["regime"], r["selector"], float(r["budget"])): r["n_selected"] for r in rows}
    warm = {m: v for (me, _, s, _, m), v in table.items() if s == BASELINE}
    skills = sorted(m[4:] for m in warm if m.startswith("acc/"))
    has_probe = any(r["regime"] == "probe" for r in rows)

    lines = _intro_lines(target, seeds, bool(methods), warm, skills)
    lines += _compute_lines(rows, methods)
    verdicts = {
        (method, regime): budget_verdicts(table, method, regime, REGIME_METRIC[regime])
        for method in methods
        for regime in regimes
    }
    lines += _verdict_section(verdicts, table, has_probe)

    for method in methods:
        for regime in regimes:
            lines += _regime_section(
                table, method, regime, verdicts[(method, regime)], target, selectors, n_selected, skills
            )
        lines += [f"![{method}]({PLOT_FILES[method]})", ""]
        _plot_method(table, method, regimes, selectors, target, warm, out_dir / PLOT_FILES[method])
    if has_probe:
        rewards = sorted({r.get("reward", "?") for r in rows if r["regime"] == "probe"})
        lines += _probe_section(table, warm, skills, ", ".join(rewards))
        _plot_probe(table, warm, out_dir / PLOT_FILES["probe"])
    path = out_dir / REPORT_FILE
    path.write_text("\n".join(lines) + "\n")
    return path


def _intro_lines(target: str, seeds: list[int], has_methods: bool, warm: dict, skills: list[str]) -> list[str]:
    """The title, how to read the margins, and the warm start's accuracy (when the results have it)."""
    title = (
        f"# Influence vs difficulty: which data is valuable for `{target}`?" if has_methods else "# The too-hard probe"
    )
    lines = [
        title,
        "",
        f"Seeds {seeds}; greedy accuracy on held-out prompts; tables give mean ± std over seeds. Every margin "
        "is paired over seeds: the mean of the per-seed differences a − b over the seeds both arms have, "
        "with its 95% paired t interval [mean ± t(0.975, n−1)·sd/√n]. A win or loss is called only when "
        "the interval excludes zero, otherwise no clear difference; one seed gives no interval. "
        "Influence-type selectors: "
        + ", ".join(INFLUENCE_TYPE)
        + "; difficulty-type: "
        + ", ".join(DIFFICULTY_TYPE)
        + ".",
        "",
    ]
    if warm:
        mean = lambda m: f"{stats(warm.get(m))[0]:.3f}"  # noqa: E731  (the same for every seed)
        lines += [
            "Warm start (before any training): "
            + ", ".join(f"{s} {mean(f'acc/{s}')}" for s in skills)
            + f"; target {mean('target_acc')}, mean {mean('mean_acc')}.",
            "",
        ]
    return lines


def _compute_lines(rows: Sequence[dict], methods: list[str]) -> list[str]:
    """One line per method: the compute each trained arm got (SFT steps x batch, GRPO tokens)."""
    compute = defaultdict(set)
    for r in rows:
        if r["selector"] != BASELINE:
            compute[r["method"]].add((r["steps"], r["batch_size"], r["gen_tokens"]))
    lines = []
    for method in methods:
        budgets = sorted(compute[method])
        if method == "sft":
            lines.append(f"- SFT compute per arm (steps, batch): {sorted({(s, b) for s, b, _ in budgets})}")
        else:
            tokens = [g for _, _, g in budgets]
            lines.append(
                f"- GRPO compute per arm: generated tokens {min(tokens)}-{max(tokens)}, "
                f"steps {min(s for s, _, _ in budgets)}-{max(s for s, _, _ in budgets)}, "
                f"{budgets[0][1]} completions a step"
            )
    return lines


def _verdict_section(verdicts: dict[tuple, list[dict]], table, has_probe: bool) -> list[str]:
    """``## Verdict``: one headline per (method, regime), and the probe's when it ran."""
    lines = ["", "## Verdict", ""]
    for (method, regime), found in verdicts.items():
        lines += [_headline(found, method, regime), ""]
    if has_probe:
        lines += [_probe_headline(table), ""]
    return lines


def _regime_section(table, method, regime, verdicts, target, selectors, n_selected, skills) -> list[str]:
    """One (method, regime) section: the verdict per budget (and on retention, when targeted), then
    the table of arms and, folded, their accuracy per skill."""
    label = f"the target ({target})" if regime == "targeted" else "mean accuracy over all skills"
    lines = [f"## {METHOD_TITLE.get(method, method)} — {regime} regime", ""]
    lines += _verdict_lines(verdicts, label)
    if regime == "targeted":
        lines += _verdict_lines(budget_verdicts(table, method, regime, "retention_acc"), "retention (other skills)")
    arms = sorted(
        {(k[2], k[3]) for k in table if k[:2] == (method, regime)}, key=lambda a: (a[1], selectors.index(a[0]))
    )
    lines += [
        "",
        "| selector | budget | n rows | target acc | retention acc | mean acc | target share "
        "| repeat rate | length ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s, b in arms:
        values = [fmt(table.get((method, regime, s, b, m))) for m in TABLE_METRICS]
        lines.append(f"| {s} | {b:g} | {n_selected[(method, regime, s, b)]} | " + " | ".join(values) + " |")
    lines += [
        "",
        "<details><summary>accuracy per skill</summary>",
        "",
        "| selector | budget | " + " | ".join(skills) + " |",
        "|---|---|" + "---|" * len(skills),
    ]
    for s, b in arms:
        lines.append(
            f"| {s} | {b:g} | " + " | ".join(fmt(table.get((method, regime, s, b, f"acc/{k}"))) for k in skills) + " |"
        )
    lines += ["", "</details>", ""]
    return lines


# -- the too-hard probe ------------------------------------------------------------------------
PROBE_METRICS = (
    ("hopeless_token_share", "tokens on hopeless prompts"),
    ("dropped_too_hard", "dropped too hard"),
    ("influence_acted", "influence masked"),
    ("had_acc", "retention (skills it had)"),
    ("hopeless_acc", "hopeless skill acc"),
    ("guess_share", "frequent-guess share"),
    ("sampled_hopeless_acc", "hopeless acc, sampled"),
    ("sampled_guess_share", "frequent-guess share, sampled"),
    ("repeat_rate", "repeat rate"),
    ("had_length_ratio", "length ratio (had)"),
    ("hard_length_ratio", "length ratio (hopeless)"),
)
# Paired against plain TRL, in the report's lines under the table.
PROBE_MARGINS = (
    ("had_acc", "retention"),
    ("hopeless_acc", "hopeless acc"),
    ("guess_share", "frequent-guess share"),
    ("sampled_hopeless_acc", "hopeless acc, sampled"),
    ("sampled_guess_share", "frequent-guess share, sampled"),
    ("repeat_rate", "repeat rate"),
    ("had_length_ratio", "length ratio (had)"),
    ("hard_length_ratio", "length ratio (hopeless)"),
)
CHANGE = ("clearly higher", "clearly lower")  # a change in a probe metric is neither a win nor a loss


def _probe(table, arm: str, metric: str) -> Cell:
    return table.get(("grpo", "probe", arm, 1.0, metric), {})


def _probe_arms(table) -> list[str]:
    """The probe arms in the results, in `PROBE_ARMS` order (arms it does not know last)."""
    from rlvr.compare.arms import PROBE_ARMS

    found = list(dict.fromkeys(k[2] for k in table if k[:2] == ("grpo", "probe")))
    return sorted(found, key=lambda a: (list(PROBE_ARMS).index(a) if a in PROBE_ARMS else len(PROBE_ARMS), a))


def _label(arm: str) -> str:
    from rlvr.compare.arms import PROBE_ARMS

    return PROBE_ARMS[arm].label if arm in PROBE_ARMS else arm


def _probe_headline(table) -> str:
    share = stats(_probe(table, "plain", "hopeless_token_share"))[0]
    parts = []
    for arm in _probe_arms(table):
        if arm != "plain":
            had = paired(_probe(table, arm, "had_acc"), _probe(table, "plain", "had_acc"))
            parts.append(f"{arm} {margin(had, *CHANGE)}")
    return (
        f"**Too-hard probe (GRPO, equal generated tokens):** plain TRL spent {share:.1%} of its tokens on "
        "hopeless prompts; change in retention on the skills the model had, against plain TRL: "
        + ("; ".join(parts) or "no other arm")
        + "."
    )


def _probe_section(table, warm, skills, reward: str) -> list[str]:
    arms = _probe_arms(table)
    metrics = [(m, label) for m, label in PROBE_METRICS if any(_probe(table, a, m) for a in arms)]
    lines = [
        "## Too-hard probe",
        "",
        "GRPO from the warm model on the probe's pool, the hopeless skill included, under equal generated "
        f"tokens, trained on the reward `{reward}` (accuracy is always scored by the comparison's verifiers): "
        + ", ".join(_label(a) for a in arms)
        + ". Retention is the "
        "mean accuracy over the skills the model had (every skill but the hopeless one); shortcut "
        "indicators: frequent-guess share (share of the hopeless skill's answers equal to its most frequent "
        "answer in the pool; greedy, and over 8 samples a prompt at temperature 1), repeat rate (share of a skill's answers equal to its most frequent answer, "
        "mean over skills) and length ratios (answer characters / reference characters).",
        "",
        "| arm | " + " | ".join(label for _, label in metrics) + " | change in retention |",
        "|---|" + "---|" * (len(metrics) + 1),
    ]
    warm_had = stats(warm.get("had_acc"))[0]
    for arm in arms:
        had = stats(_probe(table, arm, "had_acc"))[0]
        lines.append(
            f"| {_label(arm)} | "
            + " | ".join(fmt(_probe(table, arm, m)) for m, _ in metrics)
            + f" | {had - warm_had:+.3f} |"
        )
    if warm:
        lines.append(
            "| warm start | " + " | ".join(fmt(warm.get(m)) if m in warm else "-" for m, _ in metrics) + " | - |"
        )
    lines += ["", "| arm | " + " | ".join(skills) + " |", "|---|" + "---|" * len(skills)]
    for arm in arms:
        lines.append(f"| {arm} | " + " | ".join(fmt(_probe(table, arm, f"acc/{s}")) for s in skills) + " |")
    if "plain" in arms:
        for arm in arms:
            if arm == "plain":
                continue
            diffs = [
                f"{label} {margin(paired(_probe(table, arm, m), _probe(table, 'plain', m)), *CHANGE)}"
                for m, label in PROBE_MARGINS
                if _probe(table, arm, m)
            ]
            lines += ["", f"- {arm} vs plain, paired (95% interval): " + ", ".join(diffs) + "."]
    lines += ["", f"![too-hard probe]({PLOT_FILES['probe']})", ""]
    return lines


# -- plots -------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ci95(cell: Cell | None) -> tuple[float, float]:
    """``(mean, half-width)`` of the 95% t interval of the mean over seeds (half-width 0 for one seed)."""
    mean, std, n = stats(cell)
    return mean, (t975(n - 1) * std / math.sqrt(n) if n > 1 else 0.0)


def _method_panels(regimes, target) -> list[tuple[str, str, str]]:
    panels = []
    for regime in regimes:
        if regime == "targeted":
            panels += [
                (regime, "target_acc", f"targeted: target ({target})"),
                (regime, "retention_acc", "targeted: retention"),
            ]
        else:
            panels.append((regime, "mean_acc", "general: mean over skills"))
    return panels


def _plot_method(table, method, regimes, selectors, target, warm, path: Path) -> None:
    """One panel per (regime, metric): mean accuracy over seeds with its 95% interval.

    With three or more budgets each selector is a line over the budget (log axis, ticks at the
    budgets, selectors nudged apart so their intervals do not hide each other); with one or two
    (quick mode) a line says nothing, so each budget is a group of bars, one per selector.
    """
    plt = _pyplot()
    panels = _method_panels(regimes, target)
    budgets = sorted({k[3] for k in table if k[0] == method})
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (regime, metric, title) in zip(axes[0], panels):
        draw = _draw_budget_lines if len(budgets) >= 3 else _draw_budget_bars
        draw(ax, table, method, regime, metric, selectors, budgets)
        if metric in warm:
            ax.axhline(stats(warm[metric])[0], color="grey", linestyle="--", label=BASELINE)
        ax.set_ylabel("greedy accuracy (mean, 95% interval)")
        ax.set_title(f"{method.upper()} — {title}", fontsize=10)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _draw_budget_lines(ax, table, method, regime, metric, selectors, budgets) -> None:
    nudge = 1.04 ** (np.arange(len(selectors)) - (len(selectors) - 1) / 2)
    for s, factor in zip(selectors, nudge):
        points = [(b, ci95(table.get((method, regime, s, b, metric)))) for b in budgets]
        points = [(b, c) for b, c in points if not math.isnan(c[0])]
        if points:
            ax.errorbar(
                [b * factor for b, _ in points],
                [c[0] for _, c in points],
                yerr=[c[1] for _, c in points],
                marker="o",
                capsize=3,
                label=s,
            )
    ax.set_xscale("log")
    ax.set_xticks(budgets, [f"{b:.0%}" for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("budget (share of the pool)")


def _draw_budget_bars(ax, table, method, regime, metric, selectors, budgets) -> None:
    width = 0.8 / max(len(selectors), 1)
    for j, s in enumerate(selectors):
        values = [ci95(table.get((method, regime, s, b, metric))) for b in budgets]
        ax.bar(
            [i + j * width for i in range(len(budgets))],
            [v[0] for v in values],
            width,
            yerr=[v[1] for v in values],
            capsize=3,
            label=s,
        )
    ax.set_xticks(
        [i + width * (len(selectors) - 1) / 2 for i in range(len(budgets))], [f"budget {b:.0%}" for b in budgets]
    )


def _plot_probe(table, warm, path: Path) -> None:
    plt = _pyplot()
    arms = _probe_arms(table)
    metrics = [
        m
        for m in PROBE_METRICS
        if m[0] not in ("dropped_too_hard", "influence_acted") and any(_probe(table, a, m[0]) for a in arms)
    ]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(len(arms), 1)
    for j, arm in enumerate(arms):
        values = [stats(_probe(table, arm, m)) for m, _ in metrics]
        ax.bar(
            [i + j * width for i in range(len(metrics))],
            [v[0] for v in values],
            width,
            yerr=[v[1] for v in values],
            capsize=3,
            label=_label(arm),
        )
    for i, (m, _) in enumerate(metrics):
        if m in warm:
            ax.hlines(stats(warm[m])[0], i - width / 2, i + width * (len(arms) - 0.5), colors="grey", linestyles="--")
    ax.set_xticks(
        [i + width * (len(arms) - 1) / 2 for i in range(len(metrics))], [label for _, label in metrics], fontsize=8
    )
    ax.set_title("too-hard probe (GRPO, equal generated tokens); dashed: warm start", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
