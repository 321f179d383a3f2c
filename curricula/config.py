"""Configuration of the curriculum filters (the ``curricula:`` section of a run config)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rewards.config_types import build_dataclass


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
        if not math.isfinite(self.success_threshold):  # NaN: no reward would ever count as a success
            raise ValueError(f"frontier.success_threshold must be a finite number, got {self.success_threshold}.")
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
        if self.reprobe_interval is not None and self.reprobe_interval < 1:
            # 0 or less let every dropped prompt straight back in: the filter silently did nothing.
            raise ValueError(
                f"frontier.reprobe_interval must be >= 1 (or null: never re-probe), got {self.reprobe_interval}."
            )
        if self.max_generation_multiplier < 1.0:
            raise ValueError("frontier.max_generation_multiplier must be >= 1.")
        if self.oversample_draw not in ("batch", "deficit"):
            raise ValueError(f"frontier.oversample_draw must be 'batch' or 'deficit', got {self.oversample_draw!r}.")
        if not 0.0 < self.skip_explore_min <= self.skip_explore <= 1.0:
            raise ValueError(
                "frontier.skip_explore_min and skip_explore must satisfy 0 < skip_explore_min <= "
                f"skip_explore <= 1, got {self.skip_explore_min} and {self.skip_explore}."
            )
        for name in ("skip_target_easy", "skip_target_hard"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"frontier.{name} must be in [0, 1] or null, got {value}.")
        if not 0.0 <= self.skip_adapt_step <= 1.0:
            raise ValueError(f"frontier.skip_adapt_step must be in [0, 1], got {self.skip_adapt_step}.")


@dataclass
class PredictorConfig:
    """The pass-rate predictor and pre-rollout selection (`curricula.predictor`, `curricula.selection`).

    Every prompt has a Beta posterior over its pass rate: its own (optionally decayed) successes
    and failures on top of a prior that comes from what similar prompts did, so a prompt's first
    visit is already a prediction. The prior pools the groups of prompts sharing
    ``group_columns`` (empirical Bayes: each group's mean and between-prompt spread by the method
    of moments, shrunk towards the pool-wide level when the group has few observations) and,
    when the policy supplies a feature vector per prompt, a ridge regression on a fixed random
    projection of it. Selection then fills each batch from a window ahead of the sampler's order
    with the prompts whose groups are most likely to carry a GRPO signal.

    Args:
        enabled: Run the predictor and pre-rollout selection.
        success_threshold: A completion counts as a success when its weighted reward is at least
            this (as `FrontierConfig.success_threshold`); NaN rewards are unscored.
        group_columns: Dataset columns whose joint value defines a prompt's group (e.g.
            ``["skill"]``, ``["source", "difficulty"]``). ``None`` (the default): those of
            `curricula.predictor.METADATA_COLUMNS` (``skill``, ``source``, ``difficulty``) the
            training data has as categories (a column of floats, such as a measured solve rate,
            is left out), none if it has none; the trainer logs its choice. A list names
            columns the data must have (a `ConfigError` before the model loads otherwise). A row
            with a missing value, or an empty list, falls back to the pool-wide prior.
        base_strength: Pseudo-count of the prior before anything is observed (2 = Beta(1, 1)
            at mean 0.5), and of the spread assumed for a level with no observations.
        max_prior_strength: Cap on the pseudo-count (alpha + beta) of any learned prior, so a
            prompt's own groups always outweigh what its neighbours did: with 8, one visit of 8
            rollouts weighs at least as much as the prior.
        min_prior_strength: Floor on that pseudo-count (a small value allows U-shaped priors
            for groups whose prompts are either solved or not).
        shrinkage: Pseudo-observations of the parent level (pool-wide mean and spread) in a
            group's estimates, so a group seen once does not decide alone.
        half_life: Half-life, in generation steps, of the pooled evidence (group statistics and
            the feature model): the policy moves, so old groups count less. ``None`` = no decay.
        prompt_half_life: Half-life of a prompt's own successes and failures. ``None`` = no decay.
        features: Learn the feature model. The trainer passes the policy's last-layer hidden
            state at each candidate's last prompt token: one no-gradient forward pass over the
            window's candidates per generation step (see `curricula.models.last_prompt_hidden_states`).
        feature_dim: Dimension of the fixed random projection of the features.
        ridge: L2 penalty of the feature model's ridge regression.
        window_factor: Candidate window, as a multiple of the batch's prompt count, from which a
            batch is chosen before rollout.
        max_deferrals: A prompt deferred this many times is taken the next time it is offered.
            20 (was 3): with 3, hopeless and solved prompts were forced back about a quarter of
            the times they were offered (see the README's predictive-frontier measurements).
        reoffer_after: Steps a deferred prompt waits before it is offered again (sooner when
            the sampler's order runs out).
        reoffer_share: Deferred prompts re-offered per window at most, as a share of the batch's
            prompt count (the rest of the window is fresh rows of the order; all of it once the
            order runs dry). Re-offers that crowd the window would bring back mostly prompts just
            judged unlikely to carry a signal.
        deferral_bonus: Added to a candidate's score per past deferral, so waiting raises
            priority. 0.02 (was 0.1): a bonus of 0.1 outranks a prompt with a real signal after
            a handful of deferrals, which brought the no-signal prompts back early.
        thompson: Score candidates by a Thompson draw of the pass rate (exploration, as MoPPS,
            arXiv 2507.04632); ``False`` (the default) scores by the posterior probability of
            a signal, P(not all-equal in G) in closed form: a draw from a U-shaped skill prior
            lands near 0 or 1 and hides prompts that do carry signal (measured: more
            zero-variance groups with Thompson draws).
        calibration_bins: Bins of the reliability curve (predicted vs observed pass rate).
    """

    enabled: bool = False
    success_threshold: float = 1.0
    group_columns: list[str] | None = None
    base_strength: float = 2.0
    max_prior_strength: float = 8.0
    min_prior_strength: float = 0.1
    shrinkage: float = 1.0
    half_life: float | None = 50.0
    prompt_half_life: float | None = None
    features: bool = False
    feature_dim: int = 64
    ridge: float = 1.0
    window_factor: float = 3.0
    max_deferrals: int = 20
    reoffer_after: int = 20
    reoffer_share: float = 0.5
    deferral_bonus: float = 0.02
    thompson: bool = False
    calibration_bins: int = 10

    def __post_init__(self):
        if isinstance(self.group_columns, str):  # list("skill") pooled by columns 's', 'k', 'i', 'l', 'l'
            raise ValueError(
                f"predictor.group_columns must be a list of column names, got the string {self.group_columns!r} "
                f"(write [{self.group_columns!r}])."
            )
        self.group_columns = None if self.group_columns is None else list(self.group_columns)
        # NaN passes every `<` check below and inf overflows the window's size: from Python or
        # YAML (`.nan`, `.inf`) they silently broke selection (a NaN deferral_bonus made every
        # score NaN, a NaN success_threshold counted no success) or crashed after the model loaded.
        for name in _PREDICTOR_FINITE:
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"predictor.{name} must be a finite number, got {getattr(self, name)}.")
        if not 0.0 < self.min_prior_strength <= self.max_prior_strength:
            raise ValueError(
                "predictor.min_prior_strength and max_prior_strength must satisfy 0 < min <= max, got "
                f"{self.min_prior_strength} and {self.max_prior_strength}."
            )
        for name in ("base_strength", "shrinkage", "ridge"):
            if getattr(self, name) <= 0:
                raise ValueError(f"predictor.{name} must be > 0, got {getattr(self, name)}.")
        for name in ("half_life", "prompt_half_life"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"predictor.{name} must be > 0 or null, got {value}.")
        if self.window_factor < 1.0:
            raise ValueError(f"predictor.window_factor must be >= 1, got {self.window_factor}.")
        if not 0 <= self.max_deferrals <= 254:
            raise ValueError(f"predictor.max_deferrals must be in [0, 254], got {self.max_deferrals}.")
        if self.reoffer_after < 1 or self.feature_dim < 1 or self.calibration_bins < 1:
            raise ValueError(
                "predictor.reoffer_after, feature_dim and calibration_bins must be >= 1, got "
                f"{self.reoffer_after}, {self.feature_dim} and {self.calibration_bins}."
            )
        if not 0.0 < self.reoffer_share <= self.window_factor:
            raise ValueError(f"predictor.reoffer_share must be in (0, window_factor], got {self.reoffer_share}.")
        if self.deferral_bonus < 0:
            raise ValueError(f"predictor.deferral_bonus must be >= 0, got {self.deferral_bonus}.")


# The predictor's float fields that must be finite (the half-lives may be null, or inf: no decay).
_PREDICTOR_FINITE = (
    "success_threshold",
    "base_strength",
    "max_prior_strength",
    "min_prior_strength",
    "shrinkage",
    "ridge",
    "window_factor",
    "reoffer_share",
    "deferral_bonus",
)


@dataclass
class CurriculaConfig:
    """Which curriculum filters and checks run during training.

    Args:
        frontier: The frontier filter (`FrontierConfig`); off unless ``enabled: true``.
        influence: The in-training gradient-influence check against held-out target skills
            (`curricula.influence.check.InfluenceCheckConfig`); off unless ``enabled: true``.
        predictor: The predictive frontier (`PredictorConfig`): pass-rate predictor and
            selection before rollout; off unless ``enabled: true``. Works alone or beside the
            frontier filter, whose drop / re-probe / skip rules then act as its safety net.
        audit_flush_seconds: Least time between two writes of the audit log during training
            (checkpoints and the run's end always write it, so a resumed run loses and doubles
            no record). Each write costs about a millisecond, a few percent of a small model's
            step; 0 writes every step (e.g. to follow the log live).
    """

    frontier: FrontierConfig = field(default_factory=FrontierConfig)
    influence: Any = None
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    audit_flush_seconds: float = 1.0

    def __post_init__(self):
        from curricula.influence.check import InfluenceCheckConfig

        if not self.audit_flush_seconds >= 0:
            raise ValueError(f"curricula.audit_flush_seconds must be >= 0, got {self.audit_flush_seconds}")

        self.frontier = _as_dataclass("frontier", FrontierConfig, self.frontier)
        self.influence = _as_dataclass("influence", InfluenceCheckConfig, self.influence)
        self.predictor = _as_dataclass("predictor", PredictorConfig, self.predictor)
        # The filter's options act only while it runs: set with it off, they were silently ignored.
        idle = [k for k in ("mask_zero_variance", "oversample", "skip_zero_variance") if getattr(self.frontier, k)]
        if idle and not self.frontier.enabled:
            raise ValueError(
                f"curricula.frontier.{idle[0]} is true but curricula.frontier.enabled is false: the frontier "
                "filter's options act only while it runs. Set frontier.enabled: true (low: 0 and high: null "
                "keep it from dropping any prompt), or drop the option."
            )


def _as_dataclass(name: str, cls, value):
    """YAML gives dicts: build the section's dataclass, strictly typed (unknown keys and values of
    the wrong type are `ConfigError`s naming ``curricula.<name>.<key>``)."""
    if value is None:
        return cls()
    if not isinstance(value, dict):
        return value
    return build_dataclass(cls, value, f"curricula.{name}")
