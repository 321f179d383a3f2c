"""Gradient influence, offline: `rlvr influence` (`rlvr.cli.influence`) over the pipeline in
`rlvr.influence.pipeline` (load rows, extract features to stores, score, select).

The gradient-influence library and the in-training check live in `curricula.influence`; they are
re-exported here so ``from rlvr.influence import InfluenceCheck, FeatureConfig`` keeps working.
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
