"""Plan the arms, select each subset, train them (in parallel workers), write the results file."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import torch

from curricula.records import rows_by_skill
from rlvr.compare.arms import PROBE_ARMS, Arm, ArmContext, evaluate_model, run_arm, world
from rlvr.compare.config import CompareConfig
from rlvr.compare.progress import ArmProgress, schedule

RESULTS_FILE = "results.jsonl"
RESULT_COLUMNS = (
    "method",
    "regime",
    "selector",
    "budget",
    "seed",
    "metric",
    "value",
    "n_selected",
    "target_skill",
    "steps",
    "batch_size",
    "gen_tokens",
)
BASELINE = "warm_start"  # the warmed-up model itself, no training
INFO_METRICS = (
    "hopeless_token_share",
    "dropped_too_hard",
    "dropped_too_easy",
    "influence_acted",
    "influence_acted_hopeless",
)


def needs_target(selector: str) -> bool:
    """Does the selector's choice depend on the target (so each regime trains its own arm)?"""
    from curricula.selectors import get_selector

    return "influence" in get_selector(selector).needs


def plan_arms(config: CompareConfig) -> list[Arm]:
    """Every arm, in a stable order. ``full`` runs at budget 1.0 only, and at 1.0 every other
    selector would keep the whole pool too, so 1.0 is the ``full`` arm alone; a target-agnostic
    selector gets one arm (``regime="both"``) that is reported in each regime."""
    arms = []
    budgets = [b for b in config.budgets if not (b == 1.0 and "full" in config.selectors)]
    for seed in config.seeds:  # seeds outermost: early progress lines see every kind of arm
        for method in config.methods:
            for name in config.selectors:
                regimes = config.regimes if needs_target(name) else ["both"]
                for regime in regimes:
                    for budget in [1.0] if name == "full" else budgets:
                        arms.append(Arm(method, regime, name, budget, seed))
    if config.probe.enabled:
        arms += [Arm("grpo", "probe", name, 1.0, seed) for seed in config.seeds for name in config.probe.arms]
    return arms


def probe_pool(pool: list[dict], config: CompareConfig) -> list[dict]:
    """The first ``probe.max_rows_per_skill`` rows of each skill, in pool order."""
    kept = {id(row) for rows in rows_by_skill(pool, config.probe.max_rows_per_skill).values() for row in rows}
    return [row for row in pool if id(row) in kept]


def select_subset(arm: Arm, pool: list[dict], scores: dict[str, dict], config: CompareConfig) -> list[dict]:
    from curricula.selectors import get_selector

    if arm.regime == "probe":
        rows = probe_pool(pool, config)
        if PROBE_ARMS[arm.selector].removes_hopeless:
            return [r for r in rows if r["skill"] != config.probe.hopeless_skill]
        return rows
    regime_scores = scores["targeted" if arm.regime == "both" else arm.regime]
    chosen = get_selector(arm.selector)(pool, regime_scores, arm.budget, seed=arm.seed, band=config.band)
    return [pool[i] for i in chosen]


def _score_all(model, tokenizer, pool, held, config: CompareConfig, say) -> dict[str, dict]:
    """Scores per regime: the target-agnostic ones once, influence toward each regime's targets."""
    from curricula.selectors import scores_needed
    from rlvr.compare.inputs import compute_scores

    names = scores_needed(config.selectors) if config.methods else []  # a probe-only run ranks nothing
    common_names = [n for n in names if n != "influence"]
    started = time.perf_counter()
    common = compute_scores(model, tokenizer, pool, [], common_names, config)
    out = {"targeted": dict(common), "general": dict(common)}
    if "influence" in names:
        for regime in config.regimes:
            skill = config.target_skill if regime == "targeted" else None
            out[regime].update(
                compute_scores(
                    model,
                    tokenizer,
                    pool,
                    held.targets_for(regime, config.target_skill),
                    ["influence"],
                    config,
                    influence_skill=skill,
                )
            )
    say(f"scores: {', '.join(names) or 'none'} ({time.perf_counter() - started:.0f}s)")
    return out


def _frequent_guess(pool: list[dict], config: CompareConfig) -> str | None:
    """``probe.frequent_guess``, else the hopeless skill's most frequent answer in the pool."""
    from rlvr.toy.accident import frequent_answer

    if not config.probe.enabled:
        return None
    return config.probe.frequent_guess or frequent_answer(pool, config.probe.hopeless_skill)


def _result_rows(arm: Arm, result: dict, config: CompareConfig) -> list[dict]:
    info = result["info"]
    common = {
        "method": arm.method,
        "selector": arm.selector,
        "budget": arm.budget,
        "seed": arm.seed,
        "n_selected": result["n_selected"],
        "target_skill": config.target_skill,
        "steps": info["steps"],
        "batch_size": info["batch_size"],
        "gen_tokens": info["gen_tokens"],
    }
    metrics = dict(result["metrics"])
    if arm.method == "grpo":
        metrics.update({k: float(info[k]) for k in INFO_METRICS if k in info})
    if arm.regime == "probe":  # the probe may train on its own reward; the report says which
        common["reward"] = "+".join(getattr(v, "name", v) for v in config.verifier_specs(probe=True))
    regimes = config.regimes if arm.regime == "both" else [arm.regime]
    return [{**common, "regime": regime, "metric": m, "value": v} for regime in regimes for m, v in metrics.items()]


# -- workers -----------------------------------------------------------------------------------
_CONTEXT: ArmContext | None = None


def _init_worker(context: ArmContext) -> None:
    global _CONTEXT
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _CONTEXT = context


def _run_in_worker(arm: Arm, subset: list[dict]) -> dict:
    return run_arm(arm, subset, _CONTEXT)


def _train_arms(
    arms: list[Arm],
    subsets: list[list[dict]],
    context: ArmContext,
    config: CompareConfig,
    say: Callable[[str], None] | None,
) -> list[dict]:
    """Every arm's outcome, in ``arms`` order; pilots of each cost kind start first (`schedule`)."""
    outcomes: list[dict | None] = [None] * len(arms)
    progress = ArmProgress(arms, config.workers, say or (lambda msg: None), bar=None if say else False)

    def finished(i: int, outcome: dict) -> None:
        outcomes[i] = outcome
        m = outcome["metrics"]
        progress.finished(
            i,
            outcome["seconds"],
            f"{arms[i].name}: n={outcome['n_selected']} target "
            f"{m['target_acc']:.3f} retention {m['retention_acc']:.3f} mean {m['mean_acc']:.3f}",
        )

    try:
        if config.workers == 1:
            for i in schedule(arms):
                finished(i, run_arm(arms[i], subsets[i], context))
        else:
            with ProcessPoolExecutor(
                max_workers=config.workers,
                mp_context=get_context("spawn"),
                initializer=_init_worker,
                initargs=(context,),
            ) as pool_executor:
                futures = {pool_executor.submit(_run_in_worker, arms[i], subsets[i]): i for i in schedule(arms)}
                for future in as_completed(futures):
                    finished(futures[future], future.result())
    finally:
        progress.close()
    return outcomes


def run_compare(
    config: CompareConfig, out_dir: str | os.PathLike, progress: Callable[[str], None] | None = None
) -> Path:
    """Run every arm and write ``results.jsonl`` (overwritten) and ``config.json`` into
    ``out_dir``; GRPO arms leave their output (the probe's audit logs) under ``out_dir/arms``.
    Returns the results file's path."""
    from rlvr.toy._torch_utils import num_threads

    say = progress or (lambda msg: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with num_threads(1):
        pool, scores, context, warm = _prepare_arms(config, out_dir, say)
    results = _warm_start_rows(warm, config)
    arms = plan_arms(config)
    subsets = [select_subset(arm, pool, scores, config) for arm in arms]
    say(
        f"{len(arms)} arms ({', '.join(config.methods)}{', probe' if config.probe.enabled else ''}) "
        f"on {config.workers} worker(s)"
    )
    outcomes = _train_arms(arms, subsets, context, config, say if progress else None)
    for arm, outcome in zip(arms, outcomes):
        results += _result_rows(arm, outcome, config)
    path = out_dir / RESULTS_FILE
    _write_rows(results, path)
    say(f"{len(arms)} arms done in {time.perf_counter() - start:.0f}s")
    return path


def _prepare_arms(config: CompareConfig, out_dir: Path, say) -> tuple[list[dict], dict[str, dict], ArmContext, dict]:
    """Everything the arms share, in this process: the warm model, the pool (checked to hold the
    probe's hopeless skill), the held-out rows, every selector's scores, ``config.json``, and the
    warm model's metrics. Returns ``(pool, scores, the arms' context, warm metrics)``."""
    from rlvr.compare.inputs import build_pool, held_out, load_world

    model, tokenizer, model_path = load_world(config)
    if torch.cuda.is_available():
        model.to("cuda")  # scoring (influence, GraNd, forgetting) runs on the model's device
    pool = build_pool(config)
    held = held_out(config)
    if config.probe.enabled and not any(r["skill"] == config.probe.hopeless_skill for r in pool):
        raise ValueError(
            f"probe.hopeless_skill {config.probe.hopeless_skill!r} has no row in the pool "
            f"({config.pool}); set it to one of {sorted({r['skill'] for r in pool})} or "
            "probe.enabled=false."
        )
    say(f"pool {len(pool)} rows, {len(held.evaluation)} evaluated prompts, target {config.target_skill}")
    scores = _score_all(model, tokenizer, pool, held, config, say)
    (out_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    context = ArmContext(
        config=config,
        model_path=str(model_path),
        evaluation=held.evaluation,
        out_dir=str(out_dir),
        targets=held.targets,
        frequent_guess=_frequent_guess(pool, config),
    )
    _, _, funcs, weights = world(context, loaded=(model, tokenizer))
    warm = evaluate_model(model, tokenizer, context, funcs, weights)
    return pool, scores, context, warm


def _warm_start_rows(warm: dict[str, float], config: CompareConfig) -> list[dict]:
    """The warm model's metrics as result rows (selector `BASELINE`), repeated for every seed."""
    rows = []
    for seed in config.seeds:
        for metric, value in warm.items():
            rows.append(
                {
                    "method": "none",
                    "regime": "none",
                    "selector": BASELINE,
                    "budget": 0.0,
                    "seed": seed,
                    "metric": metric,
                    "value": value,
                    "n_selected": 0,
                    "target_skill": config.target_skill,
                    "steps": 0,
                    "batch_size": 0,
                    "gen_tokens": 0,
                }
            )
    return rows


def _write_rows(rows: list[dict], path: Path) -> None:
    """``rows`` as JSON lines at ``path``, replaced at once (a reader never sees half a file)."""
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    os.replace(tmp, path)
