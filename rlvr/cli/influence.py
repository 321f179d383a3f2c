"""``rlvr influence``: gradient-influence scores of training data against target skills (LESS-style).

    rlvr influence --model toy --train toy --target toy:eval --out runs/influence --select 5%

writes under ``--out``::

    features/ckpt<i>/{train,target}/   feature stores (resumable: rerun the command to continue)
    scores.jsonl                       per training row: score, rank, score per target skill
    summary.json                       settings, timings, mean score per (train skill, target skill)
    selected.jsonl, audit.jsonl        with --select: the selected rows and one audit record per row
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rlvr.cli.options import add_config_arguments

# Old flags that set extraction settings -> their key in the ``influence:`` settings
# (`rlvr.influence.pipeline.ExtractionConfig`, ``features`` = `FeatureConfig`). Their defaults live
# in those classes only; a flag given overrides --config and KEY=VALUE.
EXTRACTION_FLAGS = {
    "dim": "features.dim",
    "projection": "features.projection",
    "seed": "features.seed",
    "modules": "features.modules",
    "batch_size": "features.batch_size",
    "mode": "mode",
    "train_feature": "train_feature",
    "target_feature": "target_feature",
    "num_generations": "num_generations",
    "max_new_tokens": "max_new_tokens",
    "verifier": "verifiers",
    "adam_from": "adam_from",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``rlvr influence``'s arguments: models, data, output and selection, then the settings."""
    parser.add_argument(
        "--model",
        required=True,
        action="append",
        help="Model directory (or 'toy'); repeat for several checkpoints (LESS weights them).",
    )
    parser.add_argument(
        "--checkpoint-weights",
        type=float,
        nargs="+",
        help="One weight per --model (LESS: each checkpoint's mean learning rate). Default: equal.",
    )
    parser.add_argument(
        "--train", required=True, help="Training data: toy, toy:eval, or a JSONL with prompt/answer/skill."
    )
    parser.add_argument("--target", required=True, help="Target examples labelled by skill (same forms as --train).")
    parser.add_argument("--out", required=True, help="Output directory.")
    parser.add_argument("--select", help="Write the top rows: a percentage ('5%%') or a count ('200').")
    parser.add_argument("--aggregate", default="max", choices=["max", "mean"], help="Over skills (LESS: max).")
    parser.add_argument("--skills", help="Comma-separated target skills to score against (default: all).")
    parser.add_argument("--targets-per-skill", type=int, default=16, help="Target examples used per skill.")
    parser.add_argument("--n-per-skill", type=int, default=64, help="Toy data only: examples per skill.")
    parser.add_argument("--data-seed", type=int, default=0, help="Toy data only: generator seed.")
    parser.add_argument("--overwrite", action="store_true", help="Recompute features even if stores exist.")
    parser.add_argument("--quiet", action="store_true", help="No progress lines.")
    add_config_arguments(parser, "influence", "features.dim=4096 mode=less train_feature=policy_gradient")
    add_extraction_flags(parser)


def add_extraction_flags(parser: argparse.ArgumentParser) -> None:
    """The older flags that set extraction settings (see `EXTRACTION_FLAGS`), in their own help
    group; their default is "not given", so --config and KEY=VALUE apply unless a flag is."""
    old = parser.add_argument_group(
        "extraction settings as flags (the same as KEY=VALUE; defaults: ExtractionConfig and FeatureConfig)"
    )
    suppress = argparse.SUPPRESS
    old.add_argument("--dim", type=int, default=suppress, help="features.dim: total projected feature size.")
    old.add_argument("--projection", choices=["rademacher", "gaussian"], default=suppress, help="features.projection")
    old.add_argument("--seed", type=int, default=suppress, help="features.seed: projection seed.")
    old.add_argument(
        "--modules",
        nargs="+",
        default=suppress,
        help="features.modules: glob patterns of linear layers (default: LoRA adapters, else all but lm_head).",
    )
    old.add_argument("--batch-size", type=int, default=suppress, help="features.batch_size")
    old.add_argument(
        "--mode",
        choices=["fast", "less"],
        default=suppress,
        help="fast: factored projection, batched; less: exact per-example gradients, dense projection.",
    )
    old.add_argument(
        "--adam-from", default=suppress, help="Trainer checkpoint whose optimizer.pt preconditions training features."
    )
    old.add_argument(
        "--train-feature",
        choices=["nll", "policy_gradient"],
        default=suppress,
        help="nll: gradient of the reference answer's NLL; policy_gradient: of a sampled GRPO group.",
    )
    old.add_argument("--target-feature", choices=["nll", "policy_gradient"], default=suppress)
    old.add_argument("--num-generations", type=int, default=suppress, help="Group size for policy-gradient features.")
    old.add_argument("--max-new-tokens", type=int, default=suppress, help="Completion length for policy gradients.")
    old.add_argument(
        "--verifier",
        action="append",
        default=suppress,
        help="verifiers: verifier(s) rewarding sampled completions (default: exact).",
    )


def extraction_config(args: argparse.Namespace):
    """`ExtractionConfig`: its defaults < --config's ``influence:`` < KEY=VALUE < the flags above."""
    import dataclasses

    from curricula.influence.features import FeatureConfig
    from rewards.config_types import ConfigError, build_dataclass
    from rlvr.cli.options import parse_overrides, settings
    from rlvr.influence.pipeline import ExtractionConfig

    flags = [
        f"{key}={json.dumps(getattr(args, dest))}" for dest, key in EXTRACTION_FLAGS.items() if hasattr(args, dest)
    ]
    values = settings(args, "influence", parse_overrides(flags, "influence"))
    feature_keys = {f.name for f in dataclasses.fields(FeatureConfig)} - {
        f.name for f in dataclasses.fields(ExtractionConfig)
    }
    misplaced = sorted(set(values) & feature_keys)
    if misplaced:  # close_names cannot suggest another section's key: say where it belongs
        raise ConfigError(
            f"Unknown key 'influence.{misplaced[0]}'. Did you mean 'features.{misplaced[0]}'? "
            "(projection settings are FeatureConfig's, under 'features')."
        )
    features = build_dataclass(FeatureConfig, values.pop("features", None), "influence.features")
    return build_dataclass(ExtractionConfig, values, "influence", trusted={"features": features})


def parse_selection(text: str, n_rows: int) -> tuple[float | None, int | None, str]:
    """``'5%'`` -> (0.05, None, '5%'); ``'200'`` -> (None, 200, '200 rows')."""
    text = text.strip()
    try:
        if text.endswith("%"):
            fraction = float(text[:-1]) / 100.0
            if not 0.0 < fraction <= 1.0:
                raise ValueError
            return fraction, None, text
        count = int(text)
        if count < 1:
            raise ValueError
        return None, count, f"{min(count, n_rows)} rows"
    except ValueError:
        raise ValueError(
            f"--select takes a percentage in (0, 100] like '5%' or a positive count, got {text!r}."
        ) from None


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as err:
        if getattr(args, "debug", False):
            raise
        from rlvr.errors import report_user_error

        return report_user_error("rlvr influence", err)


def _run(args: argparse.Namespace) -> int:
    from curricula.influence.scores import select_top
    from rlvr.influence.pipeline import score_stores, skill_matrix, write_scores, write_selection

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.checkpoint_weights and len(args.checkpoint_weights) != len(args.model):
        raise ValueError(f"{len(args.checkpoint_weights)} --checkpoint-weights for {len(args.model)} --model(s).")
    config = extraction_config(args)
    train_rows, target_rows = _rows(args)
    selection = parse_selection(args.select, len(train_rows)) if args.select else None
    timings, train_stores, target_stores = _extract_all(args, config, train_rows, target_rows, out)
    scores = score_stores(train_stores, target_stores, args.checkpoint_weights, args.aggregate)
    write_scores(out / "scores.jsonl", train_rows, scores)
    matrix = skill_matrix(train_rows, scores)
    summary = {
        "models": args.model,
        "train": args.train,
        "target": args.target,
        "rows": len(train_rows),
        "targets": len(target_rows),
        "skills": scores.skills,
        "aggregate": args.aggregate,
        "mode": config.mode,
        "train_feature": config.train_feature,
        "target_feature": config.target_feature,
        "dim": train_stores[0].dim,
        "seed": config.features.seed,
        "bytes_per_row": train_stores[0].bytes_per_row(),
        "timings": timings,
        "mean_score_by_train_skill": matrix,
    }
    if selection is not None:
        fraction, count, text = selection
        selected = select_top(scores.score, fraction=fraction, count=count)
        path = write_selection(out, train_rows, scores, selected, text, args.aggregate)
        summary["selected"] = {"rows": len(selected), "file": str(path), "audit": str(out / "audit.jsonl")}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(format_matrix(matrix, scores.skills))
    print(f"scores: {out / 'scores.jsonl'}")
    if selection is not None:
        print(
            f"selected {summary['selected']['rows']} of {len(train_rows)} rows: {summary['selected']['file']} "
            f"(audit: {summary['selected']['audit']})"
        )
    return 0


def _rows(args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    """The training rows and the target rows (the first ``--targets-per-skill`` of each skill)."""
    from curricula.records import rows_by_skill
    from rlvr.influence.pipeline import load_rows

    skills = args.skills.split(",") if args.skills else None
    train_rows = load_rows(args.train, args.n_per_skill, args.data_seed)
    targets = rows_by_skill(load_rows(args.target, args.n_per_skill, args.data_seed, skills), args.targets_per_skill)
    # Skill by skill in name order: the target store's rows, and so its files, stay as they were.
    target_rows = [row for skill in sorted(targets) for row in targets[skill]]
    if not train_rows or not target_rows:
        raise ValueError(f"no rows: {len(train_rows)} training and {len(target_rows)} target rows.")
    return train_rows, target_rows


def _extract_all(args, config, train_rows, target_rows, out: Path):
    """Feature stores of every --model checkpoint: ``(timings, train stores, target stores)``."""
    from rlvr.influence.pipeline import extract, load_model

    def progress(label):
        if args.quiet:
            return None
        return lambda done, total: print(f"  {label}: {done}/{total} rows", file=sys.stderr, flush=True)

    timings, train_stores, target_stores = {}, [], []
    for c, spec in enumerate(args.model):
        model, tokenizer, path = load_model(spec, seed=args.data_seed)
        for name, rows, kind, stores in (
            ("target", target_rows, config.target_feature, target_stores),
            ("train", train_rows, config.train_feature, train_stores),
        ):
            started = time.perf_counter()
            store = extract(
                model,
                tokenizer,
                rows,
                out / "features" / f"ckpt{c}" / name,
                config,
                kind,
                checkpoint=str(path),
                precondition=(name == "train"),
                overwrite=args.overwrite,
                progress=progress(f"checkpoint {c} {name}"),
            )
            timings[f"ckpt{c}/{name}_seconds"] = round(time.perf_counter() - started, 3)
            stores.append(store)
        del model
    return timings, train_stores, target_stores


def format_matrix(matrix: dict[str, dict[str, float]], skills: list[str]) -> str:
    """Mean influence of each training skill (rows) on each target skill (columns)."""
    width = max([len("train \\ target")] + [len(s) for s in matrix])
    lines = ["train \\ target".ljust(width) + "".join(f"{s:>10}" for s in skills)]
    for train_skill, row in matrix.items():
        lines.append(train_skill.ljust(width) + "".join(f"{row[s]:>10.4f}" for s in skills))
    return "\n".join(lines)
