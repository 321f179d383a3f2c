"""Configuration of the curriculum filters (the ``curricula:`` section of a run config)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class FrontierConfig:
    """The frontier filter: stop sampling prompts whose pass rate is confidently near 0 (or 1).

    Pass rates come from the GRPO groups the trainer generates anyway; no extra rollouts.
    The defaults never drop a prompt after one visit of 4 (or 8) failures: at 95% confidence,
    0 successes in n rollouts has upper bound 1 - 0.05^(1/n), which is 0.53 for n=4, 0.17 for
    n=16 and 0.117 for n=24, so a prompt needs 0 of 24 (three visits of 8) before the upper
    bound falls below ``low=0.15``.

    Args:
        enabled: Run the filter.
        success_threshold: A completion counts as a success when its weighted reward (the sum
            TRL trains on) is at least this. Unscored completions (NaN) are not counted.
        low: Drop a prompt as *too hard* when the upper confidence bound of its pass rate is
            below ``low``.
        high: Drop a prompt as *too easy* when the lower confidence bound is above ``high``;
            ``None`` keeps easy prompts.
        confidence: One-sided confidence level of the bounds.
        bound: ``"beta"`` (exact Clopper-Pearson interval from the Beta distribution) or
            ``"wilson"`` (Wilson score interval).
        min_samples: Scored rollouts a prompt needs before any drop decision.
        reprobe_interval: Steps after a drop (or a failed re-probe) before an excluded prompt
            is let through again, the next time the sampler reaches it, to check whether the
            policy has moved. ``None`` never re-probes.
        readmit_min_successes: A too-hard prompt is readmitted when a re-probe has at least
            this many successes; a too-easy one when it has at least this many failures.
        min_active_fraction: Floor on the active pool, as a fraction of all prompts: once
            dropping more would go below it, the filter stops dropping and says so.
        mask_zero_variance: Exclude groups whose rewards are all equal from the loss (they
            carry no GRPO advantage) and recompute the loss normaliser over the rest.
        oversample: DAPO-style dynamic sampling: if a generation batch has fewer informative
            (non-zero-variance) groups than needed, generate more prompts until it is full,
            up to ``max_generation_multiplier`` times the normal generation; at the cap it
            warns and trains on what it has.
        max_generation_multiplier: Cap on generations per step with ``oversample``.
        oversample_draw: How many groups each over-sampling round generates: ``"batch"`` (a
            whole generation batch, as DAPO: fewest rounds) or ``"deficit"`` (only what the
            missing groups need at the batch's informative rate, up to 4x them and within the
            cap: fewer generated tokens, possibly more rounds).
        skip_zero_variance: Skip prompts before rollout from their history (GRESO, arXiv
            2506.02177): a prompt whose last ``z`` visits all gave zero-variance groups is rolled
            out only with probability ``max(explore ** z, skip_explore_min)``; otherwise its
            place in the batch goes to another active prompt. Unlike a drop this needs no
            confidence bound (one all-equal group is enough to start skipping), so it saves
            rollouts in the visits before the bound decides, and on easy prompts when ``high``
            is ``None``. Every skip is an audit record (decision ``skipped``).
        skip_explore: Starting value of ``explore``, kept separately for prompts whose last
            group was all-correct ("easy") and all-wrong ("hard").
        skip_target_easy: Share of a step's groups that may be all-correct: while the share is
            above it, the easy ``explore`` falls by ``skip_adapt_step`` per step (more skipping),
            otherwise it rises. ``None`` keeps ``explore`` fixed.
        skip_target_hard: The same for all-wrong groups.
        skip_adapt_step: How far ``explore`` moves per generation step.
        skip_explore_min: Floor on ``explore`` and on every prompt's rollout probability, so a
            skipped prompt always comes back now and then.
    """

    enabled: bool = False
    success_threshold: float = 1.0
    low: float = 0.15
    high: float | None = None
    confidence: float = 0.95
    bound: str = "beta"
    min_samples: int = 16
    reprobe_interval: int | None = 50
    readmit_min_successes: int = 1
    min_active_fraction: float = 0.25
    mask_zero_variance: bool = False
    oversample: bool = False
    max_generation_multiplier: float = 3.0
    oversample_draw: str = "batch"
    skip_zero_variance: bool = False
    skip_explore: float = 0.5
    skip_target_easy: float | None = 0.1
    skip_target_hard: float | None = 0.15
    skip_adapt_step: float = 0.01
    skip_explore_min: float = 0.05

    def __post_init__(self):
        if self.bound not in ("beta", "wilson"):
            raise ValueError(f"frontier.bound must be 'beta' or 'wilson', got {self.bound!r}.")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"frontier.confidence must be in (0, 1), got {self.confidence}.")
        if not 0.0 <= self.low <= 1.0:
            raise ValueError(f"frontier.low must be in [0, 1], got {self.low}.")
        if self.high is not None and not self.low < self.high <= 1.0:
            raise ValueError(f"frontier.high must be in (low, 1], got {self.high} with low={self.low}.")
        if not 0.0 <= self.min_active_fraction <= 1.0:
            raise ValueError(f"frontier.min_active_fraction must be in [0, 1], got {self.min_active_fraction}.")
        if self.min_samples < 1:
            raise ValueError(f"frontier.min_samples must be >= 1, got {self.min_samples}.")
        if self.max_generation_multiplier < 1.0:
            raise ValueError("frontier.max_generation_multiplier must be >= 1.")
        if self.oversample_draw not in ("batch", "deficit"):
            raise ValueError(f"frontier.oversample_draw must be 'batch' or 'deficit', got {self.oversample_draw!r}.")
        if not 0.0 < self.skip_explore_min <= self.skip_explore <= 1.0:
            raise ValueError("frontier.skip_explore_min and skip_explore must satisfy 0 < skip_explore_min <= "
                             f"skip_explore <= 1, got {self.skip_explore_min} and {self.skip_explore}.")
        for name in ("skip_target_easy", "skip_target_hard"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"frontier.{name} must be in [0, 1] or null, got {value}.")
        if not 0.0 <= self.skip_adapt_step <= 1.0:
            raise ValueError(f"frontier.skip_adapt_step must be in [0, 1], got {self.skip_adapt_step}.")


@dataclass
class CurriculaConfig:
    """Which curriculum filters and checks run during training.

    Args:
        frontier: The frontier filter (`FrontierConfig`); off unless ``enabled: true``.
        influence: The in-training gradient-influence check against held-out target skills
            (`rlvr.influence.check.InfluenceCheckConfig`); off unless ``enabled: true``.
    """

    frontier: FrontierConfig = field(default_factory=FrontierConfig)
    influence: Any = None

    def __post_init__(self):
        from rlvr.influence.check import InfluenceCheckConfig

        self.frontier = _as_dataclass("frontier", FrontierConfig, self.frontier)
        self.influence = _as_dataclass("influence", InfluenceCheckConfig, self.influence)


def _as_dataclass(name: str, cls, value):
    """YAML gives dicts: build the section's dataclass, naming unknown keys."""
    if value is None:
        return cls()
    if not isinstance(value, dict):
        return value
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        import difflib

        hints = [difflib.get_close_matches(k, known, n=1) for k in unknown]
        hint = "".join(f" Did you mean '{h[0]}'?" for h in hints if h)
        raise ValueError(f"unknown key(s) curricula.{name}.{', '.join(unknown)}.{hint}")
    return cls(**value)
