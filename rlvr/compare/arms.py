"""One arm of a comparison: train the warm model on one subset (SFT or GRPO), evaluate it.

An arm is a pure function of its `Arm` key, its subset and the shared `ArmContext`: it loads
the warm model afresh, seeds everything from ``arm.seed`` and runs with one torch thread, so its
numbers do not depend on which worker process runs it or in what order.
"""

from __future__ import annotations

import copy
import math
import random
import statistics
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from curricula.base import is_success
from rlvr.compare.config import CompareConfig
from rlvr.compare.probe_arms import PROBE_ARMS, influence_config  # PROBE_ARMS: also imported from here

# A completion is correct when its (weighted) reward reaches this: full marks of the binary
# verifiers the comparison evaluates with.
SUCCESS_THRESHOLD = 1.0


@dataclass(frozen=True)
class Arm:
    """What one training run is.

    Attributes:
        method: ``sft`` or ``grpo``.
        regime: ``targeted`` / ``general`` (influence toward the target skill or every skill),
            ``both`` (a target-agnostic selector, reported in every regime) or ``probe``.
        selector: A `curricula.selectors` name, or a probe arm (`PROBE_ARMS`).
        budget: Fraction of the pool.
        seed: Training seed.
    """

    method: str
    regime: str
    selector: str
    budget: float
    seed: int

    @property
    def name(self) -> str:
        return f"{self.method}-{self.regime}-{self.selector}-{self.budget:g}-s{self.seed}"


@dataclass
class ArmContext:
    """What every arm shares (sent once to each worker process)."""

    config: CompareConfig
    model_path: str
    evaluation: list[dict]
    out_dir: str
    targets: list[dict] = field(default_factory=list)  # held-out influence targets, every skill
    frequent_guess: str | None = None  # the hopeless skill's frequent answer (guess_share)


# -- evaluation --------------------------------------------------------------------------------
def arm_metrics(
    rows: Sequence[dict],
    completions: Sequence[str],
    rewards: Sequence[float],
    target_skill: str,
    hopeless_skill: str | None = None,
    success_threshold: float = SUCCESS_THRESHOLD,
) -> dict[str, float]:
    """Accuracy per skill and the aggregates the report ranks by, plus two shortcut indicators.

    - ``target_acc``, ``retention_acc`` (mean over the other skills), ``mean_acc`` (all skills);
      ``had_acc``: mean over every skill but ``hopeless_skill`` (the skills the model had).
    - ``repeat_rate``: per skill, the share of completions equal to that skill's most frequent
      completion, averaged over skills (a policy answering the same thing whatever the question
      scores 1; distinct correct answers score about 1/n).
    - ``length_ratio``: completion characters / reference-answer characters over all rows
      (below 1: length collapse; above 1: rambling).
    """
    hits: dict[str, list[float]] = defaultdict(list)
    by_skill: dict[str, list[str]] = defaultdict(list)
    for row, completion, reward in zip(rows, completions, rewards, strict=True):
        skill = str(row["skill"])
        hits[skill].append(float(is_success(reward, success_threshold)))
        by_skill[skill].append(completion.strip())
    accuracy = {s: statistics.fmean(v) for s, v in sorted(hits.items())}
    others = [v for s, v in accuracy.items() if s != target_skill]
    had = [v for s, v in accuracy.items() if s != hopeless_skill]
    repeat = [Counter(c).most_common(1)[0][1] / len(c) for c in by_skill.values()]
    answer_chars = sum(len(str(r["answer"])) for r in rows)
    metrics = {
        "target_acc": accuracy.get(target_skill, math.nan),
        "retention_acc": statistics.fmean(others) if others else math.nan,
        "mean_acc": statistics.fmean(accuracy.values()),
        "had_acc": statistics.fmean(had) if had else math.nan,
        "repeat_rate": statistics.fmean(repeat),
        "length_ratio": sum(len(c.strip()) for c in completions) / max(answer_chars, 1),
    }
    metrics.update({f"acc/{s}": v for s, v in accuracy.items()})
    return metrics


def evaluate_model(model, tokenizer, context: ArmContext, reward_funcs, weights) -> dict[str, float]:
    """Greedy completions of every evaluated prompt, scored by the comparison's verifiers."""
    from curricula.rollouts import sample_and_score

    config = context.config
    rewards, completions = sample_and_score(
        model,
        tokenizer,
        context.evaluation,
        reward_funcs,
        weights,
        samples_per_prompt=1,
        temperature=0.0,
        max_new_tokens=config.max_new_tokens,
        batch_size=512,
        seed=0,
        with_completions=True,
    )
    hopeless = config.probe.hopeless_skill if config.probe.enabled else None
    texts = [c[0] for c in completions]
    metrics = arm_metrics(context.evaluation, texts, [r[0] for r in rewards], config.target_skill, hopeless)
    if hopeless is not None:
        from rlvr.toy.accident import shortcut_indicators

        metrics.update(shortcut_indicators(context.evaluation, texts, hopeless, context.frequent_guess))
        metrics["hopeless_acc"] = metrics.get(f"acc/{hopeless}", math.nan)
        metrics.update(sampled_hopeless_metrics(model, tokenizer, context, reward_funcs, weights))
    return metrics


def sampled_hopeless_metrics(
    model, tokenizer, context: ArmContext, reward_funcs, weights, samples_per_prompt: int = 8
) -> dict[str, float]:
    """The hopeless skill's evaluated prompts sampled as GRPO samples them (temperature 1):
    ``sampled_hopeless_acc`` (pass rate), ``sampled_guess_share`` (share of samples equal to the
    frequent guess) and ``sampled_hard_length_ratio``. Greedy decoding hides how often a policy
    guesses: the warm accident world answers "27" greedily to 64% of the evaluated dsum prompts, but in
    only 9.6% of its samples (configs/accident_toy.yaml, 2026-12-03)."""
    from curricula.rollouts import sample_and_score
    from rlvr.toy.accident import shortcut_indicators

    config = context.config
    rows = [r for r in context.evaluation if r["skill"] == config.probe.hopeless_skill]
    if not rows:
        return {}
    rewards, completions = sample_and_score(
        model,
        tokenizer,
        rows,
        reward_funcs,
        weights,
        samples_per_prompt=samples_per_prompt,
        temperature=1.0,
        max_new_tokens=config.max_new_tokens,
        batch_size=512,
        seed=0,
        with_completions=True,
    )
    flat_rows = [r for r in rows for _ in range(samples_per_prompt)]
    texts = [c for group in completions for c in group]
    found = shortcut_indicators(flat_rows, texts, config.probe.hopeless_skill, context.frequent_guess)
    hits = [float(is_success(x, SUCCESS_THRESHOLD)) for group in rewards for x in group]
    return {
        "sampled_hopeless_acc": statistics.fmean(hits),
        "sampled_guess_share": found["guess_share"],
        "sampled_hard_length_ratio": found["hard_length_ratio"],
    }


# -- training ----------------------------------------------------------------------------------
def sft_step(model, optimizer, tokenizer, pairs: Sequence[tuple[str, str]]) -> None:
    """One AdamW step on the answer-token loss of ``(prompt, answer)`` pairs, gradients clipped to 1."""
    from rlvr.toy.encoding import encode_pairs

    batch = encode_pairs(tokenizer, list(pairs))
    loss = model(**{k: v.to(model.device) for k, v in batch.items()}).loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def train_sft(warm_model, tokenizer, subset: Sequence[dict], config: CompareConfig, seed: int):
    """A copy of the warm model after ``config.steps`` AdamW steps on ``subset`` (batches of
    ``config.batch_size`` drawn with replacement): equal optimizer steps for every arm."""
    from rlvr.toy._torch_utils import deterministic

    model = copy.deepcopy(warm_model)
    model.zero_grad(set_to_none=True)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0, betas=(0.9, 0.98))
    rng = random.Random(f"rlvr.compare/batches/{seed}")
    pairs = [(r["prompt"], r["answer"]) for r in subset]
    with torch.random.fork_rng(devices=[]), deterministic():
        torch.manual_seed(seed)
        for _ in range(config.steps):
            sft_step(model, opt, tokenizer, rng.choices(pairs, k=config.batch_size))
    model.eval()
    return model, {"steps": config.steps, "batch_size": config.batch_size, "gen_tokens": 0}


def grpo_dataset(subset: Sequence[dict], min_rows: int):
    """The subset as a `datasets.Dataset`; a subset smaller than one step's prompts is repeated
    (with ``#k`` id suffixes, ids must stay unique) so TRL's sampler can fill a batch."""
    from datasets import Dataset

    rows = [{k: r[k] for k in ("id", "prompt", "answer", "skill")} for r in subset]
    copies = [dict(r, id=f"{r['id']}#{k}") for k in range(1, math.ceil(min_rows / max(len(rows), 1))) for r in rows]
    return Dataset.from_list(rows + copies)


def probe_training(arm: Arm, context: ArmContext):
    """``(curricula, influence_check)`` of a probe arm: a `CurriculaConfig` (or None) and a
    `curricula.influence.InfluenceCheck` (or None)."""
    from curricula.config import CurriculaConfig, FrontierConfig, PredictorConfig
    from curricula.influence.check import InfluenceCheck

    kind, probe = PROBE_ARMS[arm.selector], context.config.probe
    curricula = check = None
    if kind.frontier or kind.predictor:
        frontier = FrontierConfig(
            enabled=kind.frontier,
            low=probe.low,
            high=probe.high,
            min_samples=probe.min_samples,
            reprobe_interval=probe.reprobe_interval,
        )
        curricula = CurriculaConfig(frontier=frontier, predictor=PredictorConfig(enabled=kind.predictor))
    if kind.influence:
        had = sorted({str(r["skill"]) for r in context.targets} - {probe.hopeless_skill})
        check_config = influence_config(probe, had)
        from curricula.influence.check import select_target_rows

        check = InfluenceCheck(check_config, targets=select_target_rows(context.targets, check_config))
    return curricula, check


def train_grpo(
    warm_model,
    tokenizer,
    subset: Sequence[dict],
    config: CompareConfig,
    seed: int,
    output_dir: Path,
    reward_funcs,
    weights,
    curricula=None,
    influence_check=None,
):
    """A copy of the warm model after TRL's GRPO on ``subset`` until ``config.grpo_tokens``
    completion tokens were generated (equal generated tokens for every arm); ``curricula`` (a
    `CurriculaConfig`) turns rlvr's filters on, ``influence_check`` (a
    `curricula.influence.InfluenceCheck`) the in-training influence check, each with its audit
    log in ``output_dir``."""
    from transformers.trainer_callback import PrinterCallback

    from rlvr.trainer import CurriculumGRPOTrainer, GeneratedTokenBudget

    args = grpo_args(config, seed, output_dir, weights)
    trainer = CurriculumGRPOTrainer(
        model=copy.deepcopy(warm_model),
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=grpo_dataset(subset, config.grpo_prompts_per_step),
        processing_class=tokenizer,
        curricula=curricula,
        run_id=output_dir.name,
        influence_check=influence_check,
    )
    trainer.add_callback(GeneratedTokenBudget(trainer, config.grpo_tokens))
    trainer.remove_callback(PrinterCallback)  # one progress line per arm is printed by the caller
    trainer.train()
    batch = config.grpo_prompts_per_step * config.grpo_generations
    info = grpo_info(trainer, batch, config.probe.hopeless_skill, influence_check)
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.eval()
    return model, info


def grpo_args(config: CompareConfig, seed: int, output_dir: Path, weights):
    """TRL's `GRPOConfig` of a GRPO arm: ``config.grpo_prompts_per_step`` prompts a step, a constant
    learning rate, no KL term, nothing logged or saved; the token budget, not max_steps, stops it."""
    from trl import GRPOConfig

    batch = config.grpo_prompts_per_step * config.grpo_generations
    return GRPOConfig(
        output_dir=str(output_dir),
        per_device_train_batch_size=batch,
        num_generations=config.grpo_generations,
        max_completion_length=config.grpo_max_completion_length,
        learning_rate=config.grpo_lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        beta=0.0,
        temperature=1.0,
        bf16=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),
        # The token budget stops training; max_steps only has to be out of its way (every
        # completion has at least one token).
        max_steps=math.ceil(config.grpo_tokens / batch) + 1,
        logging_strategy="no",
        save_strategy="no",
        report_to="none",
        seed=seed,
        activation_checkpointing=False,
        reward_weights=list(weights),
        disable_tqdm=True,
    )


def grpo_info(trainer, batch: int, hopeless: str, influence_check) -> dict:
    """What a trained GRPO arm spent and did: steps, batch, generated tokens, the share of them on
    the ``hopeless`` skill, the frontier filter's drops and the influence check's actions."""
    info = {"steps": trainer.state.global_step, "batch_size": batch, "gen_tokens": trainer.totals["generated_tokens"]}
    info["hopeless_token_share"] = trainer.generated_tokens_by_skill[hopeless] / max(info["gen_tokens"], 1)
    if trainer.frontier is not None:
        counts = trainer.frontier.counts()
        info.update(dropped_too_hard=counts["too_hard"], dropped_too_easy=counts["too_easy"])
    if influence_check is not None:
        info["influence_acted"] = sum(len(r.acted) for r in influence_check.history)
        acted_hopeless = sum(
            1
            for r in influence_check.history
            for g, _, _ in r.acted
            if r.columns and r.columns[g].get("skill") == hopeless
        )
        info["influence_acted_hopeless"] = acted_hopeless
    return info


# -- one arm, in any process -------------------------------------------------------------------
_WORKER: dict = {}


def world(context: ArmContext, loaded: tuple | None = None):
    """``(model, tokenizer, reward_funcs, weights)``: the warm model and the comparison's
    verifiers, loaded once per process (per model and verifiers: one process may run several
    comparisons). ``loaded`` hands over a ``(model, tokenizer)`` the caller already has."""
    config = context.config
    key = (context.model_path, repr(config.verifier_specs()), repr(config.verifier_specs(probe=True)))
    if _WORKER.get("key") != key:
        import transformers

        from rewards import make_reward_funcs
        from rlvr.influence.pipeline import load_model

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        # TRL 1.16 still asks transformers 5 for is_gradient_checkpointing: once per arm, noise.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        model, tokenizer = loaded if loaded is not None else load_model(context.model_path)[:2]
        if torch.cuda.is_available():
            model.to("cuda")
        funcs, weights = make_reward_funcs(config.verifier_specs())
        probe_rewards = make_reward_funcs(config.verifier_specs(probe=True))
        _WORKER.update(
            key=key, model=model, tokenizer=tokenizer, funcs=funcs, weights=weights, probe_rewards=probe_rewards
        )
    return _WORKER["model"], _WORKER["tokenizer"], _WORKER["funcs"], _WORKER["weights"]


def run_arm(arm: Arm, subset: Sequence[dict], context: ArmContext) -> dict:
    """Train one arm and evaluate it: ``{"arm": asdict(arm), "n_selected", "metrics", "info"}``."""
    from rlvr.toy._torch_utils import num_threads

    started = time.perf_counter()
    with num_threads(1):
        warm, tokenizer, funcs, weights = world(context)
        config = context.config
        if arm.method == "sft":
            model, info = train_sft(warm, tokenizer, subset, config, arm.seed)
        else:
            curricula = check = None
            rewards = (funcs, weights)
            if arm.regime == "probe":
                rewards = _WORKER["probe_rewards"]
                curricula, check = probe_training(arm, context)
            model, info = train_grpo(
                warm,
                tokenizer,
                subset,
                config,
                arm.seed,
                Path(context.out_dir) / "arms" / arm.name,
                *rewards,
                curricula,
                check,
            )
        metrics = evaluate_model(model, tokenizer, context, funcs, weights)
    share = sum(r["skill"] == config.target_skill for r in subset) / len(subset) if subset else math.nan
    metrics["target_share"] = share
    return {
        "arm": asdict(arm),
        "n_selected": len(subset),
        "metrics": metrics,
        "info": info,
        "seconds": time.perf_counter() - started,
    }
