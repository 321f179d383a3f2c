"""The offline influence pipeline: load -> extract features to stores -> score -> select.

Each step is one function, so `rlvr influence` (`rlvr.cli.influence`) is a thin layer and
every step is importable on its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from curricula.base import count_successes
from curricula.difficulty import pass_rate
from curricula.influence.batching import encode_rows
from curricula.influence.features import FeatureConfig, GradientFeaturizer, model_fingerprint, select_linear_modules
from curricula.influence.scores import (
    InfluenceScores,
    aggregate_skills,
    combine_checkpoints,
    cosine_matrix,
    skill_scores,
)
from curricula.influence.store import FeatureStore, extract_to_store
from rlvr.sources import data_source, resolve_model, source_rows

FEATURE_KINDS = ("nll", "policy_gradient")
MODES = ("fast", "less")


# -- inputs ------------------------------------------------------------------------------------
def load_rows(
    spec: str, n_per_skill: int = 64, seed: int = 0, skills: Sequence[str] | None = None, world: str | None = None
) -> list[dict]:
    """Rows with ``id``, ``prompt``, ``answer``, ``skill`` from a registered data source
    (`rlvr.sources`: ``toy``, ``toy:train``, ``toy:eval``; ``world`` names the toy world variant,
    default: the default world) or a data file (``.jsonl``/``.json``/``.parquet``/``.csv``)."""
    if data_source(spec) is not None:
        return source_rows(spec, split="train", n_per_skill=n_per_skill, seed=seed, skills=skills or None, world=world)
    from rlvr.config import DataConfig
    from rlvr.data import load_prompts

    rows = load_prompts(spec, DataConfig(train=spec, eval=None), split="train").dataset.to_list()
    for row in rows:
        row.setdefault("skill", None)
        if row["skill"] is None:
            row["skill"] = "all"
    if skills:
        rows = [r for r in rows if str(r["skill"]) in skills]
    return rows


def load_target_rows(config) -> list[dict]:
    """The target rows of an in-training `InfluenceCheck`: those ``config.targets`` names
    (`InfluenceCheckConfig`), the first ``targets_per_skill`` of each protected skill."""
    from curricula.influence.check import select_target_rows

    return select_target_rows(load_rows(config.targets, n_per_skill=config.toy_n_per_skill, seed=config.seed), config)


def load_model(spec: str, seed: int = 0, world: str | None = None):
    """``(model, tokenizer, path)``; a registered model (`rlvr.sources`: ``toy`` builds or loads
    the toy world, variant ``world``), a directory with ``adapter_config.json`` loads a peft adapter
    with its LoRA weights trainable."""
    from curricula.models import load_causal_lm

    path = resolve_model(spec, seed=seed, world=world)
    model, tokenizer = load_causal_lm(path, dtype=torch.float32)
    return model, tokenizer, path


# -- features ----------------------------------------------------------------------------------
@dataclass
class ExtractionConfig:
    """What features the offline pipeline extracts.

    Args:
        features: `FeatureConfig` (dim, projection, seed, modules, batch size).
        mode: ``"fast"`` (factored projection, batched) or ``"less"`` (explicit per-example
            gradients, Adam-preconditioned training features when ``adam_from`` is given, dense
            projection).
        train_feature: ``"nll"`` (NLL of the reference answer) or ``"policy_gradient"``
            (sampled GRPO group, rewarded by ``verifiers``).
        target_feature: The same choice for targets.
        num_generations: Group size for policy-gradient features.
        max_new_tokens: Completion length for policy-gradient features.
        verifiers: Verifier names rewarding sampled completions.
        adam_from: A `transformers.Trainer` checkpoint whose ``optimizer.pt`` holds the Adam
            moments that precondition training features (not targets, as in LESS): exactly in
            LESS mode, with the factored (Adafactor) second moment in fast mode.
        shard_rows: Rows per store shard (the unit of resumption).
    """

    features: FeatureConfig = field(default_factory=FeatureConfig)
    mode: str = "fast"
    train_feature: str = "nll"
    target_feature: str = "nll"
    num_generations: int = 8
    max_new_tokens: int = 8
    verifiers: tuple[str, ...] = ("exact",)
    adam_from: str | None = None
    shard_rows: int = 512

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}.")
        for name in ("train_feature", "target_feature"):
            if getattr(self, name) not in FEATURE_KINDS:
                raise ValueError(f"{name} must be one of {FEATURE_KINDS}, got {getattr(self, name)!r}.")
        if self.mode == "less" and "policy_gradient" in (self.train_feature, self.target_feature):
            raise ValueError("the exact LESS mode computes NLL features only; use mode 'fast' for policy gradients.")


def feature_computer(
    model, tokenizer, config: ExtractionConfig, kind: str, precondition: bool
) -> tuple[Callable[[list[dict]], tuple[torch.Tensor, torch.Tensor]], int, dict]:
    """``(compute(rows) -> (features, losses), dim, description)`` for one model and feature kind."""
    if config.mode == "less":
        return _less_computer(model, tokenizer, config, precondition)

    featurizer = GradientFeaturizer(model, config.features, pad_token_id=tokenizer.pad_token_id)
    if precondition and config.adam_from:
        from curricula.influence.less import AdamMoments, second_moments_by_module

        weights = [m.weight for m in featurizer.modules.values()]
        adam = AdamMoments.from_trainer_checkpoint(model, config.adam_from, weights)
        featurizer.precondition(second_moments_by_module(adam, featurizer.modules))
    description = {"mode": "fast", **featurizer.projector.describe()}
    if kind == "nll":

        def compute_nll(rows):
            return featurizer.features(encode_rows(tokenizer, rows))

        return compute_nll, featurizer.dim, description
    return _policy_gradient_computer(model, tokenizer, config, featurizer), featurizer.dim, description


def _less_computer(model, tokenizer, config: ExtractionConfig, precondition: bool):
    """`feature_computer` in ``less`` mode: exact per-example gradients of the selected linear
    layers through a dense projection (Adam-preconditioned when asked and ``adam_from`` is set)."""
    from curricula.influence.less import AdamMoments, less_features
    from curricula.influence.projection import DenseProjector

    modules = select_linear_modules(model, config.features.modules)
    input_dim = sum(m.weight.numel() for m in modules.values())
    projector = DenseProjector(input_dim, config.features.dim, config.features.projection, config.features.seed)
    adam = None
    if precondition and config.adam_from:
        adam = AdamMoments.from_trainer_checkpoint(model, config.adam_from, [m.weight for m in modules.values()])

    def compute_less(rows):
        features = less_features(
            model, encode_rows(tokenizer, rows), modules, projector, adam, pad_token_id=tokenizer.pad_token_id or 0
        )
        return features, torch.full((len(rows),), float("nan"))

    description = {
        "mode": "less",
        "kind": config.features.projection,
        "seed": config.features.seed,
        "dim": config.features.dim,
        "input_dim": input_dim,
        "modules": list(modules),
        "adam": adam is not None,
    }
    return compute_less, config.features.dim, description


def group_pass_rate(rewards: Sequence[float], success_threshold: float = 1.0) -> float:
    """A group's share of successes among its scored completions (`curricula.base.count_successes`:
    an unscored, NaN, reward is no trial); NaN when none was scored."""
    successes, trials, _ = count_successes(list(rewards), success_threshold)
    return pass_rate(successes, trials)


def _policy_gradient_computer(model, tokenizer, config: ExtractionConfig, featurizer: GradientFeaturizer):
    """``compute(rows) -> (features, pass rates)``: each row's policy-gradient feature over a group
    of sampled completions rewarded by ``config.verifiers``."""
    from curricula.influence.policy import group_features, sample_groups, verifier_reward

    reward = verifier_reward(config.verifiers)

    def compute_policy_gradient(rows):
        groups = sample_groups(
            model,
            tokenizer,
            rows,
            config.num_generations,
            reward,
            max_new_tokens=config.max_new_tokens,
            seed=config.features.seed,
        )
        pass_rates = torch.tensor([group_pass_rate(g.rewards) for g in groups])
        return group_features(featurizer, tokenizer, groups), pass_rates

    return compute_policy_gradient


def extract(
    model,
    tokenizer,
    rows: Sequence[dict],
    out: str | os.PathLike,
    config: ExtractionConfig,
    kind: str,
    checkpoint: str,
    precondition: bool = False,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureStore:
    """Features of ``rows`` into the store at ``out`` (resuming a partial one)."""
    compute, dim, description = feature_computer(model, tokenizer, config, kind, precondition)
    meta = {"fingerprint": model_fingerprint(model), "projection": description, "checkpoint": checkpoint, "kind": kind}
    return extract_to_store(
        out, rows, dim, meta, compute, shard_rows=config.shard_rows, overwrite=overwrite, progress=progress
    )


# -- scores ------------------------------------------------------------------------------------
def score_stores(
    train: Sequence[FeatureStore],
    targets: Sequence[FeatureStore],
    checkpoint_weights: Sequence[float] | None = None,
    aggregate: str = "max",
    chunk_rows: int = 4096,
) -> InfluenceScores:
    """LESS scores of every training row, reading the training features chunk by chunk."""
    target_skills = [str(r["skill"]) for r in targets[0].row_info()]
    skills = sorted(set(target_skills))
    target_features = [t.features() for t in targets]
    n = train[0].rows
    if any(t.rows != n for t in train):
        raise ValueError("training feature stores of different checkpoints hold different numbers of rows.")
    chunks = []
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        per_checkpoint = [
            skill_scores(cosine_matrix(store.features(start, stop), target), target_skills, skills)[0]
            for store, target in zip(train, target_features)
        ]
        chunks.append(combine_checkpoints(per_checkpoint, checkpoint_weights))
    per_skill = torch.cat(chunks) if chunks else torch.zeros(0, len(skills))
    return InfluenceScores(per_skill, skills, aggregate_skills(per_skill, aggregate))


def skill_matrix(rows: Sequence[dict], scores: InfluenceScores) -> dict[str, dict[str, float]]:
    """Mean score of each training skill (rows) against each target skill (columns)."""
    out: dict[str, dict[str, float]] = {}
    for skill in sorted({str(r.get("skill")) for r in rows}):
        members = [i for i, r in enumerate(rows) if str(r.get("skill")) == skill]
        means = scores.per_skill[members].mean(dim=0)
        out[skill] = {t: round(float(v), 4) for t, v in zip(scores.skills, means)}
    return out


def write_scores(path: str | os.PathLike, rows: Sequence[dict], scores: InfluenceScores) -> None:
    """One JSON line per training row: id, skill, aggregate score, rank, score per target skill."""
    order = sorted(range(len(rows)), key=lambda i: (-float(scores.score[i]), i))
    rank = {i: r + 1 for r, i in enumerate(order)}
    with open(path, "w") as f:
        for i, row in enumerate(rows):
            f.write(
                json.dumps(
                    {
                        "id": str(row["id"]),
                        "skill": row.get("skill"),
                        "score": round(float(scores.score[i]), 6),
                        "rank": rank[i],
                        "per_skill": {s: round(float(v), 6) for s, v in zip(scores.skills, scores.per_skill[i])},
                    }
                )
                + "\n"
            )


def write_selection(
    out_dir: str | os.PathLike,
    rows: Sequence[dict],
    scores: InfluenceScores,
    selected: torch.Tensor,
    fraction_text: str,
    aggregate: str,
    run_id: str | None = None,
) -> Path:
    """``selected.jsonl`` (selected rows, dataset order) and one audit record per row."""
    from curricula.audit import AuditLog, new_run_id
    from curricula.base import DROPPED, KEPT, Decision
    from rlvr.data import prompt_hash

    out_dir = Path(out_dir)
    chosen = set(selected.tolist())
    order = sorted(range(len(rows)), key=lambda i: (-float(scores.score[i]), i))
    rank = {i: r + 1 for r, i in enumerate(order)}
    cutoff = min(float(scores.score[i]) for i in chosen)
    audit = AuditLog(out_dir, run_id or new_run_id("influence"))
    path = out_dir / "selected.jsonl"
    with open(path, "w") as f:
        for i, row in enumerate(rows):
            score = float(scores.score[i])
            best = scores.skills[int(scores.per_skill[i].argmax())]
            stats = {
                "score": round(score, 6),
                "rank": rank[i],
                "of": len(rows),
                "cutoff": round(cutoff, 6),
                "aggregate": aggregate,
                "best_skill": best,
                "per_skill": {s: round(float(v), 6) for s, v in zip(scores.skills, scores.per_skill[i])},
            }
            kept = i in chosen
            message = (
                f"{'kept' if kept else 'dropped'}: influence {score:.4f} ({aggregate} over skills, best "
                f"{best}), rank {rank[i]} of {len(rows)}; {fraction_text} selected, cutoff {cutoff:.4f}"
            )
            audit.add(
                Decision(
                    filter="influence",
                    prompt_id=str(row["id"]),
                    decision=KEPT if kept else DROPPED,
                    reason="top_influence" if kept else "low_influence",
                    message=message,
                    stats=stats,
                    columns={k: row[k] for k in ("skill", "source") if k in row},
                    prompt_hash=prompt_hash(row["prompt"]),
                ),
                global_step=0,
                epoch=0.0,
            )
            if kept:
                f.write(json.dumps(row, default=str) + "\n")
    audit.flush()
    return path
