"""Influence scores from gradient features: pure functions over tensors.

LESS's recipe, one step per function:

1. `cosine_matrix`: cosine of every training feature with every target feature;
2. `combine_checkpoints`: weighted sum over checkpoints (LESS weights each by its mean
   learning rate);
3. `skill_scores`: mean over each skill's target examples;
4. `aggregate_skills`: max (LESS) or mean over skills, to rank training examples.

Steps 2 and 3 are linear and commute; the skill aggregation comes last. A cosine > 0 means
a gradient step on the training example lowers the target's loss, to first order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

AGGREGATIONS = ("max", "mean")


def unit_rows(features: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm; zero rows stay zero (cosine 0 with everything)."""
    features = features.float()
    return features / features.norm(dim=1, keepdim=True).clamp(min=torch.finfo(torch.float32).tiny)


def cosine_matrix(train: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``[n_train, n_target]`` cosine similarities."""
    return unit_rows(train) @ unit_rows(target).T


def skill_scores(
    cosines: torch.Tensor, target_skills: Sequence[str], skills: Sequence[str] | None = None
) -> tuple[torch.Tensor, list[str]]:
    """Mean cosine over each skill's targets: ``([n_train, n_skills], skills)``.

    Args:
        cosines: ``[n_train, n_target]``.
        target_skills: The skill of each target column.
        skills: Column order of the result (default: sorted skills of the targets).
    """
    if cosines.shape[1] != len(target_skills):
        raise ValueError(f"{cosines.shape[1]} target columns but {len(target_skills)} target skills.")
    skills = sorted(set(target_skills)) if skills is None else list(skills)
    columns = []
    for skill in skills:
        members = [j for j, s in enumerate(target_skills) if s == skill]
        if not members:
            raise ValueError(f"no target example has skill {skill!r}.")
        columns.append(cosines[:, members].mean(dim=1))
    return torch.stack(columns, dim=1), skills


def combine_checkpoints(per_checkpoint: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """``sum_c w_c x scores_c`` (LESS: ``w_c`` = the mean learning rate of checkpoint ``c``'s epoch).

    Default weights are equal and sum to 1, so one checkpoint's scores pass through unchanged.
    """
    if not per_checkpoint:
        raise ValueError("no checkpoints to combine.")
    if weights is None:
        weights = [1.0 / len(per_checkpoint)] * len(per_checkpoint)
    if len(weights) != len(per_checkpoint):
        raise ValueError(f"{len(weights)} checkpoint weights for {len(per_checkpoint)} checkpoints.")
    return sum(w * s for w, s in zip(weights, per_checkpoint))


def aggregate_skills(per_skill: torch.Tensor, how: str = "max") -> torch.Tensor:
    """One score per training example: the max (LESS) or mean over skills."""
    if how == "max":
        return per_skill.max(dim=1).values
    if how == "mean":
        return per_skill.mean(dim=1)
    raise ValueError(f"aggregate must be one of {AGGREGATIONS}, got {how!r}.")


@dataclass
class InfluenceScores:
    """Scores of training examples against target skills.

    Attributes:
        per_skill: ``[n_train, n_skills]`` mean cosine with each skill's targets (checkpoint-weighted).
        skills: Column names of ``per_skill``.
        score: ``[n_train]`` the aggregate used for ranking.
    """

    per_skill: torch.Tensor
    skills: list[str]
    score: torch.Tensor


def influence_scores(
    train: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor],
    target_skills: Sequence[str],
    checkpoint_weights: Sequence[float] | None = None,
    aggregate: str = "max",
    skills: Sequence[str] | None = None,
) -> InfluenceScores:
    """LESS scores from the features of each checkpoint (``train[c]``, ``targets[c]``)."""
    if len(train) != len(targets):
        raise ValueError(f"{len(train)} training feature sets but {len(targets)} target feature sets.")
    per_checkpoint, names = [], None
    for train_features, target_features in zip(train, targets):
        per_skill, names = skill_scores(cosine_matrix(train_features, target_features), target_skills, skills)
        per_checkpoint.append(per_skill)
    combined = combine_checkpoints(per_checkpoint, checkpoint_weights)
    return InfluenceScores(combined, names, aggregate_skills(combined, aggregate))


def select_top(scores: torch.Tensor, fraction: float | None = None, count: int | None = None) -> torch.Tensor:
    """Indices of the highest scores (ties broken by index, so selection is deterministic)."""
    n = scores.shape[0]
    if (fraction is None) == (count is None):
        raise ValueError("give exactly one of fraction or count.")
    if count is None:
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
        count = max(1, round(fraction * n))
    count = min(count, n)
    order = sorted(range(n), key=lambda i: (-float(scores[i]), i))
    return torch.tensor(order[:count], dtype=torch.long)
