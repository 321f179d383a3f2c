"""The too-hard probe's arms (`PROBE_ARMS`) and the checks `rlvr.compare.config` runs on a
`ProbeConfig` when it is built.

Its own module so that the config can check arm names without importing `rlvr.compare.arms`
(which imports the config): the two import this one, and it imports neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rewards.config_types import build_dataclass


@dataclass(frozen=True)
class ProbeArm:
    """One kind of too-hard-probe arm (GRPO on the probe's pool, equal generated tokens).

    Attributes:
        label: How the report names it.
        removes_hopeless: Train on the pool minus the hopeless skill.
        frontier: Turn rlvr's frontier filter on (``probe.low``/``high``/``min_samples``...).
        influence: Turn the in-training influence check on (``probe.influence``).
        predictor: Turn the pass-rate predictor and pre-rollout selection on
            (`curricula.config.PredictorConfig` defaults, prompts pooled by ``skill``).
    """

    label: str
    removes_hopeless: bool = False
    frontier: bool = False
    influence: bool = False
    predictor: bool = False


# The probe's arms, by the name configs use (``probe.arms``). A new arm is one entry here plus,
# if it needs trainer settings the flags above do not cover, a branch in
# `rlvr.compare.arms.probe_training`
# (e.g. the predictive frontier of curricula.predictor once the trainer takes it).
PROBE_ARMS: dict[str, ProbeArm] = {
    "plain": ProbeArm("plain TRL, hopeless prompts kept"),
    "frontier": ProbeArm("rlvr frontier filter", frontier=True),
    "influence": ProbeArm("in-training influence check", influence=True),
    "predictive_frontier": ProbeArm(
        "rlvr predictive frontier (predictor + frontier filter)", frontier=True, predictor=True
    ),
    "without_hopeless": ProbeArm("hopeless skill removed by hand", removes_hopeless=True),
}


def check_probe_arms(probe) -> None:
    """Unknown arm names, or influence settings the check rejects, are errors now, not in an arm."""
    unknown = [a for a in probe.arms if a not in PROBE_ARMS]
    if unknown:
        raise ValueError(f"unknown probe.arms {unknown}; known: {list(PROBE_ARMS)}.")
    if any(PROBE_ARMS[a].influence for a in probe.arms):
        influence_config(probe, skills=[])


def influence_config(probe, skills: Sequence[str]):
    """The influence arm's `InfluenceCheckConfig`: ``probe.influence`` (of a
    `rlvr.compare.config.ProbeConfig`) protecting ``skills``, strictly typed like every config."""
    from curricula.influence.check import InfluenceCheckConfig

    values = {**probe.influence, "enabled": True}
    protected = {"protected_skills": list(skills) or None}  # ``probe.influence`` may set its own
    return build_dataclass(InfluenceCheckConfig, values, "compare.probe.influence", trusted=protected)
