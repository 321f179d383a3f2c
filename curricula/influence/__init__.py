"""Gradient influence of training examples on held-out target skills (LESS-style).

Features are projected per-example gradients of a model's linear layers (or LoRA adapters),
taken from one batched forward+backward with the Kronecker-factored projection
(`GradientFeaturizer`), or one example at a time in the exact LESS mode (`less_features`).
Scores are cosine similarities aggregated as LESS does (`influence_scores`). Use it offline
(``rlvr influence``, `rlvr.influence.pipeline`, which loads the rows) or during GRPO training
(`InfluenceCheck`).
"""

from curricula.influence.batching import TokenSequence, collate, encode_example, encode_rows, response_nll
from curricula.influence.check import InfluenceCheck, InfluenceCheckConfig
from curricula.influence.features import (
    FeatureConfig,
    GradientFeaturizer,
    per_example_gradient_sq_norms,
    policy_gradient_features,
    select_linear_modules,
)
from curricula.influence.less import AdamMoments, adam_precondition, less_features
from curricula.influence.projection import DenseProjector, KroneckerProjector
from curricula.influence.scores import (
    InfluenceScores,
    aggregate_skills,
    combine_checkpoints,
    cosine_matrix,
    influence_scores,
    select_top,
    skill_scores,
)
from curricula.influence.store import FeatureStore, extract_to_store

__all__ = [
    "AdamMoments",
    "DenseProjector",
    "FeatureConfig",
    "FeatureStore",
    "GradientFeaturizer",
    "InfluenceCheck",
    "InfluenceCheckConfig",
    "InfluenceScores",
    "KroneckerProjector",
    "TokenSequence",
    "adam_precondition",
    "aggregate_skills",
    "collate",
    "combine_checkpoints",
    "cosine_matrix",
    "encode_example",
    "encode_rows",
    "extract_to_store",
    "influence_scores",
    "less_features",
    "per_example_gradient_sq_norms",
    "policy_gradient_features",
    "response_nll",
    "select_linear_modules",
    "select_top",
    "skill_scores",
]
