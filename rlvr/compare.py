"""Influence vs difficulty, head to head (SFT slice, toy world, targeted regime).

Each selector (`curricula.selectors`) picks a subset of the toy pool at each budget; every subset
is trained from the warmed-up toy model under equal compute (same optimizer steps and batch size,
batches drawn with replacement from the subset), then evaluated greedily on held-out prompts of the
target skill and of every other skill (retention), for several seeds. Results go to a JSONL file
(one row per selector x budget x seed x metric) from which `write_report` regenerates a Markdown
table and a plot.

    from rlvr.compare import load_config, run_compare, write_report
    results = run_compare(load_config("configs/showdown_toy.yaml", quick=True), "runs/showdown")
    write_report(results, "runs/showdown")
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

RESULTS_FILE = "results.jsonl"
REPORT_FILE = "report.md"
PLOT_FILE = "report.png"
RESULT_COLUMNS = ("selector", "budget", "seed", "metric", "value", "n_selected", "target_skill", "steps",
                  "batch_size")
BASELINE = "warm_start"  # the warmed-up model itself, no training


@dataclass
class CompareConfig:
    """One comparison (SFT under equal compute on the toy world).

    Args:
        target_skill: The held-out target skill influence is computed toward.
        selectors: Selector names (`curricula.selectors`); ``full`` runs at budget 1.0 only.
        budgets: Fractions of the pool.
        seeds: Training seeds (each arm is trained once per seed; ``random`` also reseeds).
        pool_n_per_skill: Pool rows per skill (toy train split, every skill).
        pool_seed: Seed of the pool's examples.
        eval_n_per_skill: Held-out eval prompts per skill (greedy decoding, exact match).
        n_targets: Held-out target-skill examples influence is measured against (disjoint from
            the evaluation prompts).
        eval_seed: Seed of the held-out examples.
        steps: Optimizer steps per arm (the same for every arm).
        batch_size: Rows per step, drawn with replacement from the arm's subset.
        lr: AdamW learning rate (constant).
        band: Answer-probability band for the frontier selectors (drop rows outside it).
        influence_dim: Projection size of the influence features.
        world_seed: Seed of the toy world.
        max_new_tokens: Greedy completion length.
    """

    target_skill: str = "add2"
    selectors: list[str] = field(default_factory=lambda: ["random", "loss", "el2n", "grand", "pass_band",
                                                          "influence", "frontier_influence", "full"])
    budgets: list[float] = field(default_factory=lambda: [0.05, 0.2, 0.5, 1.0])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    pool_n_per_skill: int = 96
    pool_seed: int = 0
    eval_n_per_skill: int = 64
    n_targets: int = 32
    eval_seed: int = 7
    steps: int = 60
    batch_size: int = 32
    lr: float = 1e-4
    band: tuple[float, float] = (0.05, 0.95)
    influence_dim: int = 1024
    world_seed: int = 0
    max_new_tokens: int = 8

    def __post_init__(self):
        from curricula.selectors import get_selector

        for name in self.selectors:
            get_selector(name)
        self.band = tuple(float(b) for b in self.band)
        self.budgets = [float(b) for b in self.budgets]
        if any(not 0 < b <= 1 for b in self.budgets):
            raise ValueError(f"budgets must be fractions in (0, 1], got {self.budgets}.")


def load_config(path: str | os.PathLike | None, quick: bool = False, **overrides) -> CompareConfig:
    """`CompareConfig` from a YAML file (its ``compare:`` section, or the top level); with
    ``quick`` the ``quick:`` section is applied on top; then ``overrides``."""
    values: dict = {}
    if path is not None:
        import yaml

        data = yaml.safe_load(Path(path).read_text()) or {}
        data = data.get("compare", data)
        quick_values = data.get("quick", {}) or {}
        values = {k: v for k, v in data.items() if k != "quick"}
        if quick:
            values.update(quick_values)
    known = {f.name for f in dataclasses.fields(CompareConfig)}
    values.update(overrides)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown compare settings {unknown}; known: {sorted(known)}.")
    return CompareConfig(**values)


# -- data --------------------------------------------------------------------------------------
def build_pool(config: CompareConfig) -> list[dict]:
    from rlvr.toy import SKILLS, make_examples

    return [r for s in SKILLS for r in make_examples(s, config.pool_n_per_skill, "train", config.pool_seed)]


def held_out(config: CompareConfig) -> tuple[list[dict], list[dict]]:
    """``(targets, evaluation)``: influence targets of the target skill, and eval prompts of every
    skill; both from the eval split, disjoint."""
    from rlvr.toy import SKILLS, make_examples

    targets, evaluation = [], []
    for s in SKILLS:
        extra = config.n_targets if s == config.target_skill else 0
        rows = make_examples(s, config.eval_n_per_skill + extra, "eval", config.eval_seed)
        targets += rows[:extra]
        evaluation += rows[extra:]
    return targets, evaluation


def load_world(config: CompareConfig):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlvr.toy import build_toy_world

    path = build_toy_world(seed=config.world_seed, progress=False)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model, tokenizer, path


# -- scores ------------------------------------------------------------------------------------
def compute_scores(model, tokenizer, pool: Sequence[dict], targets: Sequence[dict], names: Sequence[str],
                   config: CompareConfig) -> dict[str, list[float]]:
    """The per-row scores the selectors need, from the warm model."""
    from curricula.difficulty import make_scorer
    from rlvr.toy import answer_probabilities

    out: dict[str, list[float]] = {}
    for name in names:
        if name == "answer_prob":
            out[name] = answer_probabilities(model, tokenizer, list(pool))
        elif name == "influence":
            from rlvr.influence import FeatureConfig

            scorer = make_scorer("influence", model=model, tokenizer=tokenizer, targets=list(targets),
                                 config=FeatureConfig(dim=config.influence_dim, seed=0), skill=config.target_skill)
            out[name] = scorer(list(pool))
        else:
            out[name] = make_scorer(name, model=model, tokenizer=tokenizer)(list(pool))
    model.zero_grad(set_to_none=True)
    return out


# -- train + evaluate --------------------------------------------------------------------------
def train_subset(warm_model, tokenizer, subset: Sequence[dict], config: CompareConfig, seed: int):
    """A copy of the warm model after ``config.steps`` AdamW steps on ``subset`` (the warm model is
    left untouched)."""
    from rlvr.toy._torch_utils import deterministic
    from rlvr.toy.encoding import encode_pairs

    model = copy.deepcopy(warm_model)
    model.zero_grad(set_to_none=True)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0, betas=(0.9, 0.98))
    rng = random.Random(f"rlvr.compare/batches/{seed}")
    pairs = [(r["prompt"], r["answer"]) for r in subset]
    with torch.random.fork_rng(devices=[]), deterministic():
        torch.manual_seed(seed)
        for _ in range(config.steps):
            loss = model(**encode_pairs(tokenizer, rng.choices(pairs, k=config.batch_size))).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    model.eval()
    return model


def evaluate(model, tokenizer, evaluation: Sequence[dict], max_new_tokens: int) -> dict[str, float]:
    """Greedy exact-match accuracy per skill."""
    from rlvr.toy import is_correct, sample_completions

    completions = sample_completions(model, tokenizer, [r["prompt"] for r in evaluation], temperature=0.0,
                                     max_new_tokens=max_new_tokens)
    hits: dict[str, list[float]] = defaultdict(list)
    for row, completion in zip(evaluation, completions):
        hits[row["skill"]].append(float(is_correct(completion, row["answer"])))
    return {s: sum(v) / len(v) for s, v in hits.items()}


def metric_rows(accuracy: dict[str, float], target: str, subset: Sequence[dict]) -> dict[str, float]:
    others = [v for s, v in accuracy.items() if s != target]
    metrics = {"target_acc": accuracy[target], "retention_acc": sum(others) / len(others) if others else math.nan,
               "target_share": (sum(r["skill"] == target for r in subset) / len(subset)) if subset else math.nan}
    metrics.update({f"acc/{s}": v for s, v in accuracy.items()})
    return metrics


def plan_arms(config: CompareConfig) -> list[tuple[str, float, int]]:
    arms = []
    for seed in config.seeds:
        for name in config.selectors:
            for budget in ([1.0] if name == "full" else config.budgets):
                if name != "full" and budget == 1.0 and "full" in config.selectors:
                    continue  # every selector keeps the whole pool at 100%: that is the "full" arm
                arms.append((name, budget, seed))
    return arms


def run_compare(config: CompareConfig, out_dir: str | os.PathLike,
                progress: Callable[[str], None] | None = None) -> Path:
    """Run every arm and write ``results.jsonl`` (overwritten) into ``out_dir``; returns its path."""
    from curricula.selectors import get_selector, scores_needed
    from rlvr.toy._torch_utils import num_threads

    say = progress or (lambda msg: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with num_threads(1):
        model, tokenizer, _ = load_world(config)
        pool = build_pool(config)
        targets, evaluation = held_out(config)
        names = scores_needed(config.selectors)
        say(f"pool {len(pool)} rows, target {config.target_skill}; scoring: {', '.join(names) or 'none'}")
        scores = compute_scores(model, tokenizer, pool, targets, names, config)
        say(f"scores done ({time.perf_counter() - start:.0f}s)")
        (out_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
        common = {"target_skill": config.target_skill, "steps": config.steps, "batch_size": config.batch_size}
        results: list[dict] = []
        baseline = metric_rows(evaluate(model, tokenizer, evaluation, config.max_new_tokens), config.target_skill, [])
        for seed in config.seeds:
            for metric, value in baseline.items():
                if metric != "target_share":
                    results.append({"selector": BASELINE, "budget": 0.0, "seed": seed, "metric": metric,
                                    "value": value, "n_selected": 0, **common, "steps": 0})
        arms = plan_arms(config)
        for i, (name, budget, seed) in enumerate(arms, 1):
            chosen = get_selector(name)(pool, scores, budget, seed=seed, band=config.band)
            subset = [pool[j] for j in chosen]
            trained = train_subset(model, tokenizer, subset, config, seed)
            metrics = metric_rows(evaluate(trained, tokenizer, evaluation, config.max_new_tokens),
                                  config.target_skill, subset)
            for metric, value in metrics.items():
                results.append({"selector": name, "budget": budget, "seed": seed, "metric": metric, "value": value,
                                "n_selected": len(subset), **common})
            say(f"[{i}/{len(arms)}] {name} @ {budget:g} seed {seed}: n={len(subset)} "
                f"target {metrics['target_acc']:.3f} retention {metrics['retention_acc']:.3f} "
                f"({time.perf_counter() - start:.0f}s)")
    path = out_dir / RESULTS_FILE
    with open(path, "w") as f:
        for row in results:
            f.write(json.dumps(row) + "\n")
    return path


# -- report ------------------------------------------------------------------------------------
def read_results(path: str | os.PathLike) -> list[dict]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    for row in rows:
        missing = [c for c in RESULT_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"{path}: a row lacks columns {missing}: {row}")
    return rows


def summarize(rows: Sequence[dict]) -> dict[tuple[str, float, str], tuple[float, float, int]]:
    """``(selector, budget, metric) -> (mean, std, n seeds)``; std is the sample std (0 for n=1)."""
    groups: dict[tuple[str, float, str], list[float]] = defaultdict(list)
    for r in rows:
        groups[(r["selector"], float(r["budget"]), r["metric"])].append(float(r["value"]))
    return {k: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v)) for k, v in groups.items()}


def _fmt(cell: tuple[float, float, int] | None) -> str:
    return "-" if cell is None else f"{cell[0]:.3f} ± {cell[1]:.3f}"


def winners(summary, metric: str) -> list[dict]:
    """Per budget (trained arms only): the best selector on ``metric`` and its margin over the
    runner-up and over random."""
    out = []
    budgets = sorted({b for (s, b, m) in summary if m == metric and s != BASELINE})
    for budget in budgets:
        cells = sorted(((summary[(s, b, m)], s) for (s, b, m) in summary
                        if m == metric and b == budget and s != BASELINE), key=lambda c: (-c[0][0], c[1]))
        if not cells:
            continue
        (best, name), runner = cells[0], (cells[1] if len(cells) > 1 else None)
        rand = summary.get(("random", budget, metric))
        out.append({"budget": budget, "winner": name, "mean": best[0], "std": best[1], "n": best[2],
                    "runner_up": runner[1] if runner else None,
                    "margin": best[0] - runner[0][0] if runner else None,
                    "runner_std": runner[0][1] if runner else None,
                    "vs_random": best[0] - rand[0] if rand and name != "random" else None,
                    "random_std": rand[1] if rand else None})
    return out


def _verdict(win: dict, label: str) -> str:
    text = (f"- budget {win['budget']:g}: **{win['winner']}** best on {label} "
            f"({win['mean']:.3f} ± {win['std']:.3f}, {win['n']} seeds)")
    if win["runner_up"] is None:
        return text + " — the only arm at this budget."
    if win["margin"] == 0:
        text += f", tied with {win['runner_up']} (± {win['runner_std']:.3f})"
    else:
        close = " — within one std, not a clear win" if win["margin"] <= max(win["std"], win["runner_std"]) else ""
        text += f", ahead of {win['runner_up']} by {win['margin']:+.3f} (± {win['runner_std']:.3f}){close}"
    if win["vs_random"] is not None:
        text += f"; {win['vs_random']:+.3f} vs random (± {win['random_std']:.3f})"
    return text + "."


def write_report(results: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """``report.md`` and ``report.png`` in ``out_dir``, from the results file alone."""
    rows = read_results(results)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows)
    target = rows[0]["target_skill"] if rows else "?"
    seeds = sorted({r["seed"] for r in rows})
    steps = sorted({r["steps"] for r in rows if r["selector"] != BASELINE})
    batch = sorted({r["batch_size"] for r in rows})
    selectors = list(dict.fromkeys(r["selector"] for r in rows))
    n_selected: dict[tuple[str, float], int] = {}
    for r in rows:
        n_selected[(r["selector"], float(r["budget"]))] = r["n_selected"]
    arms = sorted({(s, b) for (s, b, _) in summary}, key=lambda a: (a[1], selectors.index(a[0])))
    skill_metrics = sorted({m for (_, _, m) in summary if m.startswith("acc/")})

    lines = [f"# Influence vs difficulty: SFT on the toy world, target `{target}`", "",
             f"Equal compute: {'/'.join(map(str, steps))} optimizer steps x batch {'/'.join(map(str, batch))} per arm, batches drawn with replacement from "
             f"the selected subset; greedy exact-match accuracy on held-out prompts; seeds {seeds}. "
             f"`{BASELINE}` is the warmed-up model before any training. Values are mean ± std over seeds.", "",
             "## Verdict", ""]
    if (BASELINE, 0.0, "target_acc") in summary:
        lines += [f"Warm start, before any training: target {summary[(BASELINE, 0.0, 'target_acc')][0]:.3f}, "
                  f"retention {summary[(BASELINE, 0.0, 'retention_acc')][0]:.3f}. Winners by budget "
                  "(std over seeds; a margin within one std is not a clear win):", ""]
    for metric, label in (("target_acc", f"the target ({target})"), ("retention_acc", "retention (other skills)")):
        for win in winners(summary, metric):
            lines.append(_verdict(win, label))
    lines += ["", "## Results", "",
              "| selector | budget | n rows | target acc | retention acc | target share |",
              "|---|---|---|---|---|---|"]
    for s, b in arms:
        lines.append(f"| {s} | {b:g} | {n_selected[(s, b)]} | {_fmt(summary.get((s, b, 'target_acc')))} | "
                     f"{_fmt(summary.get((s, b, 'retention_acc')))} | {_fmt(summary.get((s, b, 'target_share')))} |")
    lines += ["", "## Accuracy per skill", "", "| selector | budget | " + " | ".join(m[4:] for m in skill_metrics) + " |",
              "|---|---|" + "---|" * len(skill_metrics)]
    for s, b in arms:
        lines.append(f"| {s} | {b:g} | " + " | ".join(_fmt(summary.get((s, b, m))) for m in skill_metrics) + " |")
    lines += ["", f"![target and retention accuracy by budget]({PLOT_FILE})", ""]
    path = out_dir / REPORT_FILE
    path.write_text("\n".join(lines))
    _plot(summary, selectors, target, out_dir / PLOT_FILE)
    return path


def _plot(summary, selectors: Sequence[str], target: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, title in ((axes[0], "target_acc", f"target ({target})"), (axes[1], "retention_acc", "retention")):
        for s in selectors:
            points = sorted((b, summary[(s, b, m)]) for (ss, b, m) in summary if ss == s and m == metric)
            if not points:
                continue
            xs = [b for b, _ in points]
            if s == BASELINE:
                ax.axhline(points[0][1][0], color="grey", linestyle="--", label=s)
                continue
            ax.errorbar(xs, [c[0] for _, c in points], yerr=[c[1] for _, c in points], marker="o", capsize=3,
                        label=s)
        ax.set_xscale("log")
        ax.set_xlabel("budget (fraction of pool)")
        ax.set_ylabel("greedy accuracy")
        ax.set_title(title)
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
