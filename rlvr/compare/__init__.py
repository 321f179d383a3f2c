"""Influence vs difficulty, head to head: which training data is valuable for a given target?

Each selector (`curricula.selectors`: random, difficulty metrics, LESS-style influence, frontier +
influence, full data) picks a subset of the pool at each budget; every subset is trained from the
warm model under equal compute — SFT (same optimizer steps x batch) and GRPO (TRL's trainer, same
generated tokens) — and evaluated greedily on held-out prompts of every skill, for several seeds,
in two regimes: *targeted* (influence toward one target skill; rank by it, watch retention) and
*general* (influence toward every skill; rank by the mean). The *too-hard probe* trains GRPO on a
pool with a hopeless skill, with and without the frontier filter, and measures retention and
shortcut indicators. Results go to one JSONL file (a row per method x regime x selector x budget x
seed x metric) from which `write_report` rebuilds the Markdown report and plots.

    from rlvr.compare import load_config, run_compare, write_report
    results = run_compare(load_config("configs/showdown_toy.yaml", quick=True), "runs/showdown")
    write_report(results, "runs/showdown")

Modules: `config` (what is built), `inputs` (model, pool, held-out rows, scores), `arms` (train
and evaluate one arm), `run` (plan, select, train in parallel workers, write results), `report`.
"""

import sys

from rlvr.compare.arms import PROBE_ARMS, Arm, arm_metrics
from rlvr.compare.config import CompareConfig, ProbeConfig, load_config
from rlvr.compare.inputs import build_pool, compute_scores, held_out, load_world
from rlvr.compare.report import REPORT_FILE, read_results, write_report
from rlvr.compare.run import BASELINE, RESULT_COLUMNS, RESULTS_FILE, plan_arms, run_compare

__all__ = [
    "Arm",
    "BASELINE",
    "CompareConfig",
    "PROBE_ARMS",
    "ProbeConfig",
    "REPORT_FILE",
    "RESULTS_FILE",
    "RESULT_COLUMNS",
    "arm_metrics",
    "build_pool",
    "compute_scores",
    "held_out",
    "load_config",
    "load_world",
    "log",
    "plan_arms",
    "read_results",
    "run_compare",
    "write_report",
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
