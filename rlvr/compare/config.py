"""`CompareConfig`: what one "influence vs difficulty" comparison builds and runs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rewards.config_types import ConfigError, build_dataclass
from rlvr.compare.probe_arms import check_probe_arms

METHODS = ("sft", "grpo")
REGIMES = ("targeted", "general")


@dataclass
class ProbeConfig:
    """The too-hard probe: GRPO on a pool that includes a hopeless skill, with and without the
    frontier filter, under equal generated tokens.

    Arms (each trained once per seed from the warm model; `rlvr.compare.arms.PROBE_ARMS`):

    - ``plain``: TRL's GRPO on every prompt, the hopeless ones included;
    - ``frontier``: the same pool with rlvr's frontier filter on (it drops prompts whose pass
      rate is confidently below ``low``, re-probes them, and spends their rollouts on others);
    - ``influence``: the same pool with the in-training influence check on (``influence``
      settings): prompts whose policy gradient pulls away from a skill the model had are masked
      or down-weighted;
    - ``without_hopeless``: the pool minus the hopeless skill (what a perfect filter would do).

    Args:
        enabled: Run the probe.
        arms: The arms to train, by name (`rlvr.compare.arms.PROBE_ARMS`).
        influence: The ``influence`` arm's `curricula.influence.check.InfluenceCheckConfig`
            settings (``enabled`` is implied); its targets are the comparison's held-out influence
            targets of every skill but the hopeless one.
        frequent_guess: The hopeless skill's frequent answer, for the ``guess_share`` indicator
            (``None``: the most frequent answer of the hopeless skill's rows in the pool).
        hopeless_skill: The skill the model cannot do (toy: ``mul3x3``, pass rate 0). Retention
            is measured on every other skill (the skills the model already had).
        max_rows_per_skill: The probe's pool: the first rows of each skill of the comparison's
            pool (``None``: all). The filter needs ``min_samples`` rollouts of a prompt before it
            can drop it, so the pool must be small enough for the token budget to visit each
            prompt a few times.
        low: Frontier filter: drop a prompt when the upper confidence bound of its pass rate is
            below this.
        high: Frontier filter: drop a prompt as too easy when the lower bound is above this
            (``None``: never; the probe isolates the too-hard rule).
        min_samples: Frontier filter: scored rollouts before any decision.
        reprobe_interval: Frontier filter: steps before a dropped prompt is tried again.
        verifiers: Verifiers rewarding the probe's GRPO rollouts, in the forms of
            `CompareConfig.verifiers` (``None``: the comparison's). Evaluation always uses the
            comparison's, so accuracies stay comparable; a partial-credit reward here gives
            hopeless prompts the rare, noisy rewards a binary verifier never does.
    """

    enabled: bool = True
    arms: list[str] = field(default_factory=lambda: ["plain", "frontier", "without_hopeless"])
    influence: dict = field(default_factory=lambda: {"action": "drop", "every_n_steps": 1, "threshold": -0.1})
    frequent_guess: str | None = None
    hopeless_skill: str = "mul3x3"
    max_rows_per_skill: int | None = 16
    low: float = 0.15
    high: float | None = None
    min_samples: int = 16
    reprobe_interval: int | None = 48
    verifiers: list | None = None


@dataclass
class CompareConfig:
    """One comparison: selectors x budgets x seeds, trained by SFT and/or GRPO under equal
    compute, evaluated on a target skill (targeted regime) and on every skill (general regime).

    Args:
        model: ``toy`` (the self-built toy world) or a local directory / Hub name of a causal LM.
        world: The toy world variant (`rlvr.toy.variants.WORLDS`) that ``toy`` model, pool and
            eval come from: ``default`` or ``accident``.
        pool: Training pool: ``toy`` (the toy train split, ``pool_n_per_skill`` rows per skill)
            or a data file (``.jsonl``/``.json``/``.parquet``/``.csv``) with ``prompt``, ``answer``
            and ``skill`` columns (``id`` is added when missing).
        eval: Held-out rows in the same forms (``toy``: the toy eval split). The first
            ``n_targets`` rows of the target skill become influence targets; the rest, up to
            ``eval_n_per_skill`` per skill, are evaluated.
        verifiers: Verifiers scoring evaluation and GRPO rollouts: names (`rewards` registry,
            ``module:function`` or ``file.py:function``) or `rewards.VerifierSpec` fields
            (``{name: math, kwargs: {gold_delimiter: "####"}}``).
        target_skill: The targeted regime's skill (influence is computed toward it).
        methods: ``sft`` (supervised on the reference answers, equal optimizer steps x batch)
            and/or ``grpo`` (TRL's GRPO, equal generated tokens); ``[]`` runs the probe only.
        regimes: ``targeted`` (rank by the target skill, report retention of the others) and/or
            ``general`` (influence toward every skill, LESS's max over skills; rank by mean
            accuracy over all skills). Target-agnostic selectors are trained once per method,
            budget and seed and reported in both regimes.
        selectors: Selector names (`curricula.selectors`); ``full`` runs at budget 1.0 only.
        budgets: Fractions of the pool.
        seeds: Training seeds (each arm is trained once per seed; ``random`` also reseeds).
        pool_n_per_skill: Toy pool rows per skill (``add1`` is capped at ~75).
        pool_seed: Seed of the toy pool's examples.
        eval_n_per_skill: Evaluated held-out prompts per skill (greedy decoding).
        n_targets: Held-out examples per target skill that influence is measured against
            (disjoint from the evaluated prompts).
        eval_seed: Seed of the toy held-out examples.
        steps: SFT: optimizer steps per arm (the same for every arm).
        batch_size: SFT: rows per step, drawn with replacement from the arm's subset.
        lr: SFT: AdamW learning rate (constant).
        grpo_tokens: GRPO: generated (completion) tokens per arm; training stops at the first
            optimizer step past it.
        grpo_prompts_per_step: GRPO: prompts per step (each sampled ``grpo_generations`` times).
        grpo_generations: GRPO: group size.
        grpo_lr: GRPO: learning rate (constant schedule).
        grpo_max_completion_length: GRPO: completion token cap.
        band: Answer-probability band of the frontier selectors (rows outside it are dropped).
        influence_dim: Projection size of the influence features.
        forgetting_epochs: Epochs of SFT on the whole pool whose per-epoch outcomes give the
            forgetting scores.
        world_seed: Seed of the toy world.
        max_new_tokens: Greedy completion length in evaluation.
        workers: Arms trained in parallel processes (one torch thread each); results do not
            depend on it.
        probe: `ProbeConfig` (the too-hard probe, GRPO).
    """

    model: str = "toy"
    world: str = "default"
    pool: str = "toy"
    eval: str = "toy"
    verifiers: list = field(default_factory=lambda: ["exact"])
    target_skill: str = "add2"
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    regimes: list[str] = field(default_factory=lambda: list(REGIMES))
    selectors: list[str] = field(
        default_factory=lambda: [
            "random",
            "loss",
            "perplexity",
            "el2n",
            "grand",
            "forgetting",
            "pass_band",
            "influence",
            "frontier_influence",
            "full",
        ]
    )
    budgets: list[float] = field(default_factory=lambda: [0.05, 0.2, 0.5, 1.0])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    pool_n_per_skill: int = 96
    pool_seed: int = 0
    eval_n_per_skill: int = 64
    n_targets: int = 32
    eval_seed: int = 7
    steps: int = 60
    batch_size: int = 32
    lr: float = 1e-4
    grpo_tokens: int = 24000
    grpo_prompts_per_step: int = 8
    grpo_generations: int = 8
    grpo_lr: float = 1e-4
    grpo_max_completion_length: int = 8
    band: tuple[float, float] = (0.05, 0.95)
    influence_dim: int = 1024
    forgetting_epochs: int = 4
    world_seed: int = 0
    max_new_tokens: int = 8
    workers: int = 1
    probe: ProbeConfig = field(default_factory=ProbeConfig)

    def __post_init__(self):
        from curricula.selectors import get_selector

        if isinstance(self.probe, dict):  # built in Python, not by `load_config`
            self.probe = build_dataclass(ProbeConfig, self.probe, "compare.probe")
        from rlvr.toy.variants import get_world

        get_world(self.world)
        check_probe_arms(self.probe)
        for name in self.selectors:
            get_selector(name)
        for value, known, what in ((self.methods, METHODS, "methods"), (self.regimes, REGIMES, "regimes")):
            bad = [v for v in value if v not in known]
            if bad:
                raise ValueError(f"unknown {what} {bad}; known: {list(known)}.")
        self.band = tuple(float(b) for b in self.band)
        self.budgets = [float(b) for b in self.budgets]
        if any(not 0 < b <= 1 for b in self.budgets):
            raise ValueError(f"budgets must be fractions in (0, 1], got {self.budgets}.")
        from rewards import make_reward_funcs

        make_reward_funcs(self.verifier_specs())  # resolves every name now, not in the first arm
        make_reward_funcs(self.verifier_specs(probe=True))
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}.")
        if self.grpo_tokens < 1 or self.grpo_prompts_per_step < 1 or self.grpo_generations < 2:
            raise ValueError("grpo_tokens and grpo_prompts_per_step must be >= 1 and grpo_generations >= 2.")

    def verifier_specs(self, probe: bool = False) -> list:
        """The evaluation verifiers (or, with ``probe``, the probe's training rewards)."""
        from rewards import VerifierSpec

        specs = self.probe.verifiers if probe and self.probe.verifiers is not None else self.verifiers
        return [VerifierSpec(**v) if isinstance(v, dict) else v for v in specs]


def load_config(path: str | os.PathLike | None, quick: bool = False, **overrides) -> CompareConfig:
    """`CompareConfig` from a YAML file (its ``compare:`` section, or the top level); with
    ``quick`` the ``quick:`` section is applied on top; then ``overrides``.

    Built by the strict, typed builder every config uses (`rewards.config_types`): an unknown
    key (with the closest known one) or a value of the wrong type (``workers: two``) is a
    `ConfigError` naming the key; number strings are numbers (``lr: 1e-4``)."""
    values: dict = {}
    if path is not None:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"compare config '{path}' does not exist.")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict) or not isinstance(data.get("compare", data), dict):
            raise ConfigError(f"'{path}' must be a mapping of CompareConfig keys (or a 'compare:' section).")
        data = data.get("compare", data)
        quick_values = dict(data.get("quick", {}) or {})
        values = {k: v for k, v in data.items() if k != "quick"}
        if quick:
            probe = {**(values.get("probe") or {}), **(quick_values.pop("probe", None) or {})}
            values.update(quick_values)
            if probe:
                values["probe"] = probe
    for key, value in overrides.items():  # a nested override (probe.enabled=false) keeps the file's other keys
        values[key] = (
            {**values[key], **value} if isinstance(value, dict) and isinstance(values.get(key), dict) else value
        )
    return build_dataclass(CompareConfig, values, "compare")
