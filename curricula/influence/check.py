"""The in-training influence check: does this batch pull the policy away from a protected skill?

Every ``every_n_steps`` steps, right after TRL has generated and scored a batch, each prompt's
GRPO group gets a policy-gradient feature and each protected skill's held-out targets get NLL
features, with the current weights. The check then

* logs per-skill alignment into the trainer's metrics (``influence/update_cos/<skill>``: the
  cosine of the whole batch's update with the skill; ``influence/prompt_cos_mean/<skill>`` and
  ``.../prompt_cos_min/<skill>`` over the batch's prompts; ``influence/seconds``: the cost);
* optionally drops (masks from the loss) or down-weights (scales the advantages of) prompts
  whose cosine with a protected skill is below ``threshold``, each with an audit record
  ("pulls away from skill add2: cos -0.21");
* warns when the whole update is anti-aligned with a protected skill (the contamination alarm).

Distributed runs: every process featurises its own completion rows and a share of the
targets; the features are gathered, so every process scores the same tensors, and the scores
are broadcast from the main process so that every process takes identical decisions. Cost:
one forward+backward over the batch's rows with non-zero advantage plus the targets, every
``every_n_steps`` steps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch

from curricula.base import KEPT, MASKED, Decision
from curricula.generation_batch import group_rows, loss_tokens, mask_groups
from curricula.influence.batching import encode_rows, sequences_from_grpo_output
from curricula.influence.features import FeatureConfig, GradientFeaturizer, policy_gradient_features
from curricula.influence.scores import cosine_matrix, skill_scores
from curricula.records import rows_by_skill

logger = logging.getLogger(__name__)

ACTIONS = ("none", "drop", "downweight")
FILTER_NAME = "influence"


@dataclass
class InfluenceCheckConfig:
    """The in-training influence check (``curricula.influence`` in a run config).

    Args:
        enabled: Run the check.
        every_n_steps: Check the batch generated at every ``every_n_steps``-th optimizer step
            (step 0 included). The cost is one extra forward+backward over that batch and the
            targets, so it is bounded by this interval and the batch size.
        targets: Held-out examples with ``prompt``, ``answer`` (the reference solution) and
            ``skill``: ``"toy:eval"`` (the toy world's eval split), ``"toy"`` or a JSONL file.
        protected_skills: Skills to protect; ``None`` = every skill in ``targets``.
        targets_per_skill: Target examples per skill (the first ones of each skill, in file order).
        dim: Total projected feature size.
        projection: ``"rademacher"`` or ``"gaussian"``.
        seed: Projection seed (the same on every process).
        modules: Glob patterns of the linear layers to take gradients of; ``None`` = the LoRA
            adapters of a peft model, else every linear layer but the output embedding.
        batch_size: Sequences per forward/backward of the check (bounds its memory).
        action: ``"none"`` (log only), ``"drop"`` (mask the prompt's completions out of the
            loss) or ``"downweight"`` (multiply their advantages by ``downweight``).
        threshold: Act on a prompt whose cosine with any protected skill is below this.
        downweight: Advantage multiplier for ``action="downweight"``, in [0, 1).
        alarm_threshold: Warn (contamination alarm) when the cosine of the whole batch's update
            with a protected skill is below this.
        toy_n_per_skill: Toy targets only: examples generated per skill.
    """

    enabled: bool = False
    every_n_steps: int = 10
    targets: str = "toy:eval"
    protected_skills: list[str] | None = None
    targets_per_skill: int = 8
    dim: int = 8192
    projection: str = "rademacher"
    seed: int = 0
    modules: list[str] | None = None
    batch_size: int = 16
    action: str = "none"
    threshold: float = -0.1
    downweight: float = 0.5
    alarm_threshold: float = -0.05
    toy_n_per_skill: int = 32

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"influence.action must be one of {ACTIONS}, got {self.action!r}.")
        if self.every_n_steps < 1:
            raise ValueError(f"influence.every_n_steps must be >= 1, got {self.every_n_steps}.")
        if self.targets_per_skill < 1:
            raise ValueError(f"influence.targets_per_skill must be >= 1, got {self.targets_per_skill}.")
        if not 0.0 <= self.downweight < 1.0:
            raise ValueError(f"influence.downweight must be in [0, 1), got {self.downweight}.")
        if isinstance(self.protected_skills, str):
            self.protected_skills = [self.protected_skills]

    def feature_config(self) -> FeatureConfig:
        return FeatureConfig(
            dim=self.dim,
            projection=self.projection,
            seed=self.seed,
            modules=tuple(self.modules) if self.modules else None,
            batch_size=self.batch_size,
        )


@dataclass
class CheckResult:
    """What one check found (identical on every process).

    Attributes:
        step: Optimizer step of the check.
        prompt_ids: The batch's prompts, one per group, in global order.
        skills: Protected skills, the columns of ``per_prompt``.
        per_prompt: ``[groups, skills]`` mean cosine of each group's policy gradient with each
            skill's targets (0 for a group whose advantages are all zero).
        update: ``[skills]`` cosine of the whole batch's update with each skill.
        acted: ``(group, skill, cosine)`` for each prompt acted upon (its worst skill).
        alarms: Skills whose ``update`` cosine is below the alarm threshold.
        seconds: Wall time of the check on this process.
        rows: Sequences featurised on this process (completion rows + targets).
        informative: ``[groups]`` whether a group has a non-zero policy gradient.
        prompt_hashes: Content hash of each group's prompt.
        columns: Audit columns (``skill``, ``source``...) of each group's prompt.
    """

    step: int
    prompt_ids: list[str]
    skills: list[str]
    per_prompt: torch.Tensor
    update: torch.Tensor
    acted: list[tuple[int, str, float]] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rows: int = 0
    informative: torch.Tensor | None = None
    prompt_hashes: list[str] = field(default_factory=list)
    columns: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "step": self.step,
            "prompt_ids": self.prompt_ids,
            "skills": self.skills,
            "per_prompt": self.per_prompt.tolist(),
            "update": self.update.tolist(),
            "acted": [list(a) for a in self.acted],
            "alarms": self.alarms,
            "seconds": self.seconds,
            "rows": self.rows,
            "prompt_hashes": self.prompt_hashes,
            "columns": self.columns,
        }


def prompts_to_act_on(
    per_prompt: torch.Tensor, informative: torch.Tensor, skills: list[str], threshold: float
) -> list[tuple[int, str, float]]:
    """``(group, worst skill, cosine)`` for every informative group below ``threshold`` on a skill."""
    acted = []
    for g in range(per_prompt.shape[0]):
        if not informative[g]:
            continue
        worst = int(per_prompt[g].argmin())
        value = float(per_prompt[g, worst])
        if value < threshold:
            acted.append((g, skills[worst], value))
    return acted


def select_target_rows(rows: list[dict], config: InfluenceCheckConfig) -> list[dict]:
    """The first ``config.targets_per_skill`` rows of each protected skill, by skill; ``rows`` are
    the rows of ``config.targets`` (loaded by `rlvr.influence.pipeline.load_target_rows`)."""
    wanted = config.protected_skills
    by_skill = rows_by_skill(rows, config.targets_per_skill, skills=wanted)
    missing = [s for s in (wanted or []) if s not in by_skill]
    if missing or not by_skill:
        raise ValueError(
            f"influence targets '{config.targets}' have no example of protected skill(s) "
            f"{missing or wanted}; skills present: {sorted({str(r.get('skill')) for r in rows})}."
        )
    return [row for skill in sorted(by_skill) for row in by_skill[skill]]


def score_groups(
    rows: torch.Tensor,
    advantages: torch.Tensor,
    targets: torch.Tensor,
    num_generations: int,
    target_skills: list[str],
    skills: list[str],
    device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each group's policy-gradient feature scored against the skills' targets: ``(per prompt
    [group, skill] cosine, the whole update's cosine per skill, which groups are informative)``.
    The scores are the main process's (broadcast; collective)."""
    from accelerate.utils import broadcast

    n_groups = rows.shape[0] // num_generations
    group_index = torch.arange(rows.shape[0]) // num_generations
    groups = policy_gradient_features(rows, advantages, group_index, n_groups)
    informative = groups.norm(dim=1) > 0
    per_prompt, _ = skill_scores(cosine_matrix(groups, targets), target_skills, skills)
    update, _ = skill_scores(cosine_matrix(groups.sum(0, keepdim=True), targets), target_skills, skills)
    # Identical decisions everywhere, whatever floating-point differences between processes.
    scores = broadcast(torch.cat([per_prompt, update]).to(device)).cpu()
    return scores[:-1], scores[-1], informative


def warn_contamination(step: int, alarms: list[str], update: torch.Tensor, skills: list[str], threshold: float) -> None:
    """The contamination alarm: the batch's update is anti-aligned with protected skill(s)."""
    detail = ", ".join(f"{s} (cos {update[skills.index(s)]:.3f})" for s in alarms)
    logger.warning(
        "Contamination alarm at step %d: the batch's update is anti-aligned with protected skill(s) %s, below %.3f.",
        step,
        detail,
        threshold,
    )


@dataclass
class InfluenceOutcome:
    """What one call of `InfluenceCheck.on_generation` gives the trainer.

    Args:
        output: TRL's generation batch, with the action applied to the acted-on prompts.
        decisions: One audit decision per prompt acted on.
        metrics: Values to log at this step (empty when no check was due).
    """

    output: dict
    decisions: list[Decision] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


def check_metrics(result: CheckResult) -> dict[str, float]:
    """A check's metrics: per protected skill the update's cosine and the prompts' mean and
    minimum cosine (over prompts with a signal), and the check's counts and cost."""
    metrics: dict[str, float] = {}
    for j, skill in enumerate(result.skills):
        metrics[f"influence/update_cos/{skill}"] = float(result.update[j])
        column = result.per_prompt[result.informative, j]
        if len(column):
            metrics[f"influence/prompt_cos_mean/{skill}"] = float(column.mean())
            metrics[f"influence/prompt_cos_min/{skill}"] = float(column.min())
    metrics["influence/acted"] = float(len(result.acted))
    metrics["influence/alarm"] = float(bool(result.alarms))
    metrics["influence/seconds"] = result.seconds
    metrics["influence/rows"] = float(result.rows)
    return metrics


class InfluenceCheck:
    """Scores each checked GRPO batch against protected skills; logs, acts, warns.

    Args:
        config: `InfluenceCheckConfig`.
        targets: Target rows (``prompt``, ``answer``, ``skill``), e.g.
            ``rlvr.influence.pipeline.load_target_rows(config)`` (the rows ``config.targets`` names;
            loading files and the toy world is rlvr's job).

    Call `on_generation` from the trainer's ``_generate_and_score_completions`` (see
    `CurriculumGRPOTrainer`, which runs it after each generation); it returns the batch, the
    decisions to audit and the metrics to log, and writes to none of the trainer's state.
    """

    def __init__(self, config: InfluenceCheckConfig, targets: list[dict] | None = None):
        self.config = config
        if targets is None:
            raise ValueError(
                f"InfluenceCheck needs its target rows; load them from influence.targets "
                f"({config.targets!r}) with rlvr.influence.pipeline.load_target_rows(config)."
            )
        self.target_rows = targets
        if config.protected_skills is not None:
            self.target_rows = [r for r in self.target_rows if str(r.get("skill")) in config.protected_skills]
        self.target_skills = [str(r["skill"]) for r in self.target_rows]
        self.skills = sorted(set(self.target_skills))
        self.featurizer: GradientFeaturizer | None = None
        self.history: list[CheckResult] = []
        self.total_seconds = 0.0
        self._target_sequences = None
        self._last_step: int | None = None

    def due(self, step: int) -> bool:
        return self.config.enabled and step % self.config.every_n_steps == 0 and step != self._last_step

    # -- the trainer hook --------------------------------------------------------------------
    def on_generation(self, trainer, inputs: list[dict], output: dict) -> InfluenceOutcome:
        """Check a freshly generated batch (when due) and apply the configured action to it.

        Reads the trainer's step, model, accelerator, tokenizer and group size; returns the
        (possibly edited) batch, one decision per prompt acted on and the metrics to log."""
        step = trainer.state.global_step
        if not self.due(step) or not trainer.model.training:
            return InfluenceOutcome(output)
        self._last_step = step
        accelerator = trainer.accelerator
        model = accelerator.unwrap_model(trainer.model)
        if self._target_sequences is None:
            self._target_sequences = encode_rows(trainer.processing_class, self.target_rows)
        result = self.check(
            model,
            accelerator,
            inputs,
            output,
            trainer.num_generations,
            step,
            pad_token_id=trainer.processing_class.pad_token_id,
            audit_columns=tuple(getattr(trainer, "audit_columns", ("skill", "source"))),
        )
        if self.config.action != "none" and result.acted:
            output = self._apply(output, result, trainer.num_generations, accelerator)
        return InfluenceOutcome(output, self._decisions(result), check_metrics(result))

    def check(
        self,
        model,
        accelerator,
        inputs: list[dict],
        output: dict,
        num_generations: int,
        step: int,
        pad_token_id: int | None = None,
        audit_columns: tuple[str, ...] = ("skill", "source"),
    ) -> CheckResult:
        """Score one batch (collective: every process must call it, with its own rows)."""
        started = time.perf_counter()
        if self.featurizer is None:
            self.featurizer = GradientFeaturizer(model, self.config.feature_config(), pad_token_id=pad_token_id)
        rows, advantages, targets, groups_meta, n_featurised = self._gathered_features(
            accelerator, inputs, output, num_generations, audit_columns
        )
        per_prompt, update, informative = score_groups(
            rows, advantages, targets, num_generations, self.target_skills, self.skills, accelerator.device
        )
        acted = (
            prompts_to_act_on(per_prompt, informative, self.skills, self.config.threshold)
            if self.config.action != "none"
            else []
        )
        alarms = [s for s, v in zip(self.skills, update.tolist()) if v < self.config.alarm_threshold]
        seconds = time.perf_counter() - started
        self.total_seconds += seconds
        result = CheckResult(
            step,
            [m[0] for m in groups_meta],
            self.skills,
            per_prompt,
            update,
            acted,
            alarms,
            seconds,
            n_featurised,
            informative,
            [m[1] for m in groups_meta],
            [m[2] for m in groups_meta],
        )
        self.history.append(result)
        if alarms and accelerator.is_main_process:
            warn_contamination(step, alarms, update, self.skills, self.config.alarm_threshold)
        return result

    def _gathered_features(self, accelerator, inputs: list[dict], output: dict, num_generations: int, audit_columns):
        """Featurise this process's completion rows and its share of the targets, then gather them
        from every process (collective). Returns, on CPU and in global order, the completion rows'
        features, their advantages, the targets' features, one ``(id, prompt hash, audit columns)``
        per group, and how many rows this process featurised."""
        from accelerate.utils import gather, gather_object

        from curricula.records import prompt_hash

        device = accelerator.device
        local, advantages, n_active = self._completion_features(output, device)
        target_local, n_targets, n_mine = self._target_share(accelerator)

        rows = gather(local).cpu()
        all_advantages = gather(advantages.to(device)).cpu()
        targets = gather(target_local).cpu()[:n_targets]
        # One row per group, in global order: (id, prompt hash, audit columns).
        groups_meta = gather_object(
            [
                (
                    str(x.get("id", x.get("prompt"))),
                    prompt_hash(x["prompt"]),
                    {c: x[c] for c in audit_columns if c in x},
                )
                for x in inputs
            ]
        )[::num_generations]
        return rows, all_advantages, targets, groups_meta, n_active + n_mine

    def _completion_features(self, output: dict, device) -> tuple[torch.Tensor, torch.Tensor, int]:
        """This process's completion rows' features (zero for rows with zero advantage: they carry no
        gradient), their advantages, and how many were featurised."""
        sequences = sequences_from_grpo_output(output)
        advantages = output["advantages"].detach().float()
        if advantages.dim() > 1:  # subclasses may give per-token advantages
            advantages = advantages.mean(dim=1)
        active = [i for i, (s, a) in enumerate(zip(sequences, advantages.tolist())) if a != 0 and s.response_length > 0]
        local = torch.zeros(len(sequences), self.featurizer.dim, device=device)
        if active:
            features, _ = self.featurizer.features([sequences[i] for i in active])
            local[active] = features.to(device)
        return local, advantages, len(active)

    def _target_share(self, accelerator) -> tuple[torch.Tensor, int, int]:
        """Targets: each process featurises a contiguous share (padded to the same size, so the
        gather lines up); ``(its features, number of targets, number featurised here)``."""
        n_targets, world, rank = len(self._target_sequences), accelerator.num_processes, accelerator.process_index
        share = -(-n_targets // world)
        mine = self._target_sequences[rank * share : (rank + 1) * share]
        target_local = torch.zeros(share, self.featurizer.dim, device=accelerator.device)
        if mine:
            target_local[: len(mine)] = self.featurizer.features(mine)[0].to(accelerator.device)
        return target_local, n_targets, len(mine)

    # -- effects -----------------------------------------------------------------------------
    def _apply(self, output: dict, result: CheckResult, num_generations: int, accelerator) -> dict:
        """Mask or down-weight this process's rows of the acted-on groups."""
        acted = {group for group, _, _ in result.acted}
        flags = [g in acted for g in range(len(result.prompt_ids))]
        if self.config.action == "drop":
            output = mask_groups(output, flags, num_generations, accelerator.process_index)
            # The "dapo" loss divides by the batch's token count: count only tokens still in the loss.
            output["num_items_in_batch"] = accelerator.gather(loss_tokens(output)).sum()
            return output
        rows = group_rows(flags, num_generations, accelerator.process_index, output["advantages"].shape[0])
        rows = rows.to(output["advantages"].device)
        scale = torch.where(rows, self.config.downweight, 1.0).to(output["advantages"].dtype)
        advantages = output["advantages"]
        output["advantages"] = advantages * (scale if advantages.dim() == 1 else scale.unsqueeze(1))
        return output

    def _decisions(self, result: CheckResult) -> list[Decision]:
        """One decision per prompt acted on (masked, or kept with down-weighted advantages)."""
        decision, reason = (MASKED, "anti_aligned") if self.config.action == "drop" else (KEPT, "downweighted")
        verb = "masked from the loss" if self.config.action == "drop" else f"advantages x{self.config.downweight:g}"
        return [
            Decision(
                filter=FILTER_NAME,
                prompt_id=result.prompt_ids[group],
                decision=decision,
                reason=reason,
                message=f"pulls away from skill {skill}: cos {value:.2f} ({verb})",
                stats={
                    "skill": skill,
                    "cos": round(value, 4),
                    "threshold": self.config.threshold,
                    "per_skill": {s: round(float(v), 4) for s, v in zip(result.skills, result.per_prompt[group])},
                    "update_cos": {s: round(float(v), 4) for s, v in zip(result.skills, result.update)},
                },
                columns=result.columns[group],
                prompt_hash=result.prompt_hashes[group],
            )
            for group, skill, value in result.acted
        ]
