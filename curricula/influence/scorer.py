"""Gradient influence as a scorer, beside the difficulty metrics (`curricula.difficulty`).

``make_scorer("influence", model=..., tokenizer=..., targets=rows)`` returns one LESS score per
row, ranked like any difficulty metric. Features stay in memory here; for large datasets use
the store-backed pipeline (`rlvr.influence.pipeline`, ``rlvr influence``).
"""

from __future__ import annotations

from collections.abc import Sequence

from curricula.influence.batching import encode_rows
from curricula.influence.features import FeatureConfig, GradientFeaturizer
from curricula.influence.scores import influence_scores


class InfluenceScorer:
    """LESS influence of each row on the target skills (cosine, mean per skill, then max/mean).

    Args:
        model, tokenizer: The model whose gradients are compared.
        targets: Target rows with ``prompt``, ``answer`` and ``skill``.
        config: `FeatureConfig` (projection dim, seed, modules, batch size).
        aggregate: ``"max"`` (LESS) or ``"mean"`` over skills.
        skill: Score against this one skill only (overrides ``aggregate``).
    """

    name = "influence"
    higher_means = "more aligned"

    def __init__(
        self,
        model,
        tokenizer,
        targets: Sequence[dict],
        config: FeatureConfig | None = None,
        aggregate: str = "max",
        skill: str | None = None,
    ):
        self.tokenizer, self.aggregate, self.skill = tokenizer, aggregate, skill
        self.featurizer = GradientFeaturizer(model, config, pad_token_id=tokenizer.pad_token_id)
        self.target_skills = [str(t["skill"]) for t in targets]
        if skill is not None and skill not in self.target_skills:
            raise ValueError(f"no target of skill {skill!r}; targets have {sorted(set(self.target_skills))}.")
        self.target_features, _ = self.featurizer.features(encode_rows(tokenizer, list(targets)))

    def __call__(self, rows: Sequence[dict]) -> list[float]:
        features, _ = self.featurizer.features(encode_rows(self.tokenizer, list(rows)))
        scores = influence_scores([features], [self.target_features], self.target_skills, aggregate=self.aggregate)
        if self.skill is not None:
            return scores.per_skill[:, scores.skills.index(self.skill)].tolist()
        return scores.score.tolist()
