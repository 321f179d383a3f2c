"""Frontier filter vs plain TRL GRPO on a toy world, side by side: the logic of
``scripts/bench_frontier.py`` (its docstring says what each arm and measurement is).

`main` runs the arms and prints `rlvr.benchmarks.frontier_report`'s table; the measurements
themselves are the pure functions of `rlvr.benchmarks.measures`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from curricula.config import CurriculaConfig, FrontierConfig, PredictorConfig
from curricula.models import load_causal_lm
from rewards import VerifierSpec, make_reward_funcs
from rlvr.benchmarks.frontier_report import plot_curves, print_report
from rlvr.config import EvalConfig
from rlvr.evaluate import evaluate_skills
from rlvr.toy import build_toy_world, toy_dataset
from rlvr.trainer import CurriculumGRPOTrainer


class HeldOutCurve(TrainerCallback):
    """Every ``every`` steps: held-out accuracy on the target skills vs rollout tokens so far."""

    def __init__(self, evaluate, every: int):
        self.evaluate, self.every, self.points = evaluate, every, []

    def on_step_end(self, args, state, control, model=None, **kw):
        if state.global_step % self.every == 0:
            self.points.append((state.num_input_tokens_seen, self.evaluate(model)))


def toy_world(n_per_skill: int, eval_prompts: int):
    """(model dir, train pool, eval rows) of the shipped toy world."""
    model_dir = build_toy_world(progress=False)
    return (
        model_dir,
        toy_dataset("train", n_per_skill=n_per_skill, seed=0),
        toy_dataset("eval", n_per_skill=eval_prompts, seed=0).to_list(),
    )


def accident_world(n_per_skill: int, eval_prompts: int):
    """(model dir, train pool, eval rows) of the accident toy world (`rlvr.toy.variants`): another
    skill and difficulty mix (``dsum`` in place of ``mul3x3``: rare lucky guesses instead of none)."""
    model_dir = build_toy_world(progress=False, world="accident")
    return (
        model_dir,
        toy_dataset("train", n_per_skill=n_per_skill, seed=0, world="accident"),
        toy_dataset("eval", n_per_skill=eval_prompts, seed=0, world="accident").to_list(),
    )


# World name -> loader(n_per_skill, eval_prompts) -> (model dir, train Dataset with id/prompt/
# answer/skill, eval rows). Another world (other skills, other difficulty mix) plugs in here.
WORLDS = {"toy": toy_world, "accident": accident_world}
ARMS = ["trl", "rlvr", "rlvr-skip", "rlvr-predict", "rlvr-answer", "rlvr-oracle"]
# Arms that run the predictor (and, like rlvr-predict, no over-sampling).
PREDICTOR_ARMS = ("rlvr-predict", "rlvr-answer", "rlvr-oracle")
BATCH_ROWS, GENERATIONS = 64, 8  # per generation step: 64 rollouts = 8 prompts x 8


def one_pass_pool(world: str, steps: int, eval_prompts: int, factor: float):
    """The world with at least ``factor`` x steps x batch training prompts (each seen at most once
    by TRL)."""
    need = math.ceil(factor * steps * BATCH_ROWS // GENERATIONS)
    n = -(-need // 6)
    while True:
        model_dir, train, eval_rows = WORLDS[world](n, eval_prompts)
        if len(train) >= need:
            return model_dir, train, eval_rows
        n += max(1, (need - len(train)) // 4)


def curricula_for(arm: str, args) -> CurriculaConfig:
    variant = dict(args.variants.get(arm, {}))
    # A variant's keys set the predictor, except the frontier filter's own (e.g. oversample=true).
    own = set(FrontierConfig.__dataclass_fields__) - set(PredictorConfig.__dataclass_fields__)
    frontier_keys = {k: variant.pop(k) for k in list(variant) if k in own}
    frontier = FrontierConfig(
        enabled=True,
        low=args.low,
        high=args.high,
        min_samples=args.min_samples,
        reprobe_interval=args.reprobe,
        mask_zero_variance=True,
        oversample=args.oversample and arm not in PREDICTOR_ARMS and arm not in args.variants,
        max_generation_multiplier=args.max_multiplier,
        oversample_draw=args.oversample_draw,
        skip_zero_variance=arm == "rlvr-skip",
    )
    frontier = dataclasses.replace(frontier, **frontier_keys)
    predict = arm in PREDICTOR_ARMS or arm in args.variants
    overrides = {"window_factor": args.window_factor, **variant}
    predictor = PredictorConfig(enabled=True, **overrides) if predict else PredictorConfig()
    return CurriculaConfig(frontier=frontier, predictor=predictor)


def parse_variant(text: str) -> tuple[str, dict]:
    """``NAME:key=value,key=value`` -> (``predict-NAME``, {key: YAML-parsed value})."""
    import yaml

    name, _, body = text.partition(":")
    if not name or not body:
        raise argparse.ArgumentTypeError(f"--variant wants NAME:key=value[,key=value...], got {text!r}")
    pairs = [item.partition("=") for item in body.split(",")]
    if any(not key or not eq for key, eq, _ in pairs):
        raise argparse.ArgumentTypeError(f"--variant {text!r}: every item must be key=value")
    return f"predict-{name}", {key.strip(): yaml.safe_load(value) for key, _, value in pairs}


def grpo_config(seed: int, args, output_dir: Path, weights) -> GRPOConfig:
    """The same GRPO settings for every arm: only the seed and the output folder differ."""
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=args.steps,
        per_device_train_batch_size=BATCH_ROWS,
        num_generations=GENERATIONS,
        max_completion_length=8,
        learning_rate=args.lr,
        beta=0.0,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        seed=seed,
        bf16=False,
        activation_checkpointing=False,
        reward_weights=weights,
        disable_tqdm=True,
    )


def signal_and_bookkeeping(arm: str, trainer) -> tuple[float, float]:
    """(a) the share of generated rollouts in zero-variance groups and (c)'s bookkeeping seconds."""
    if arm == "trl":
        logs = [log for log in trainer.state.log_history if "frac_reward_zero_std" in log]
        # One generation per step, equal-size groups: the mean over steps is the rollout share.
        return statistics.mean(log["frac_reward_zero_std"] for log in logs), 0.0
    no_signal = trainer.totals["zero_variance_groups"] / max(trainer.totals["groups"], 1)
    return no_signal, trainer.curriculum_seconds


def per_step_rates(dataset, measure):
    """``rates(rows, step)``: ``measure(examples, step)`` of each distinct row of ``dataset``,
    computed once per (step, row) on the step's policy (earlier steps' values are let go)."""
    memo = {"step": None, "rates": {}}

    def rates(rows, step) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1).tolist()
        if memo["step"] != step:
            memo.update(step=step, rates={})
        known = memo["rates"]
        todo = [r for r in dict.fromkeys(rows) if r not in known]
        if todo:
            examples = dataset[todo]
            examples = [dict(zip(examples, v)) for v in zip(*examples.values())]
            known.update(zip(todo, measure(examples, step)))
        return np.asarray([known[r] for r in rows], dtype=np.float64)

    return rates


def install_oracle(trainer, tokenizer, samples: int = 16, strength: float = 64.0) -> None:
    """Make the predictor of ``trainer`` an oracle (the ``rlvr-oracle`` arm, an upper bound, not
    a method): every posterior it gives is a sharp Beta around each prompt's pass rate measured
    on the *current* policy with ``samples`` rollouts (seeded by the step; the caller's RNG is
    left as it was), memoised per step. Those measuring rollouts are not counted as tokens: the
    arm asks how far perfect foresight of the pass rate would take selection, not what it costs.
    """
    from rlvr.toy.evaluate import per_prompt_pass_rates

    def measure(examples, step):
        return per_prompt_pass_rates(trainer.model, tokenizer, examples, samples, seed=int(step))

    rates = per_step_rates(trainer.train_dataset, measure)

    def posterior(rows, step):
        p = rates(rows, step)
        return strength * p + 0.5, strength * (1.0 - p) + 0.5

    trainer.predictive.predictor.posterior = posterior  # an instance attribute: the class's arithmetic is untouched


def run_arm(arm: str, seed: int, args, model_dir: Path, train, eval_rows, reward_funcs, weights, out: Path) -> dict:
    # Each arm starts from an empty folder, so its audit log holds this run's records only.
    shutil.rmtree(out / f"{arm}-{seed}", ignore_errors=True)
    torch.manual_seed(seed)
    model, tokenizer = load_causal_lm(model_dir, pad_to_eos=False)
    eval_config = EvalConfig(max_prompts_per_skill=args.eval_prompts, temperature=0.0)

    def accuracy(policy, skills=None):
        rows = [r for r in eval_rows if skills is None or r["skill"] in skills]
        return evaluate_skills(policy, tokenizer, rows, reward_funcs, weights, eval_config, max_new_tokens=8, seed=0)

    def target_accuracy(policy):
        return statistics.mean(accuracy(policy, args.target).values())

    before = accuracy(model)
    curve = HeldOutCurve(target_accuracy, args.eval_every)
    common = dict(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_config(seed, args, out / f"{arm}-{seed}", weights),
        train_dataset=train,
        processing_class=tokenizer,
        callbacks=[curve],
    )
    if arm == "trl":
        trainer = GRPOTrainer(**common)
    else:
        trainer = CurriculumGRPOTrainer(curricula=curricula_for(arm, args), **common)
        if arm == "rlvr-oracle":
            install_oracle(trainer, tokenizer)
        if arm == "rlvr-answer":
            install_answer_likelihood(trainer, tokenizer)
    curve.points.append((0, target_accuracy(model)))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    after = accuracy(trainer.model)
    no_signal, bookkeeping = signal_and_bookkeeping(arm, trainer)
    return {
        "arm": arm,
        "seed": seed,
        "before": before,
        "after": after,
        "no_signal": no_signal,
        "tokens": trainer.state.num_input_tokens_seen,
        "curve": curve.points,
        "seconds": seconds,
        "bookkeeping_seconds": bookkeeping,
        "dropped": trainer.curriculum_summary() if arm != "trl" else {},
    }


def answer_likelihoods(model, tokenizer, examples: list[dict]) -> np.ndarray:
    """P(the reference answer, then EOS | the prompt) under ``model`` at temperature 1, one per
    example: on an exact-match task the probability that one sampled completion is right (the
    toy verifier strips whitespace, so a little more may pass). One no-gradient forward pass
    over prompt + answer; the model's mode is restored."""
    from curricula.influence.batching import collate, encode_rows, response_nll
    from curricula.rollouts import sampling_state

    sequences = encode_rows(tokenizer, examples)
    batch = collate(sequences, tokenizer.pad_token_id, device=model.device)
    mask = batch.pop("response_mask")
    with sampling_state(model, seed=None), torch.no_grad():  # eval mode, restored; RNG untouched
        logits = model(**batch).logits
    total_nll = response_nll(logits, batch["input_ids"], mask) * mask[:, 1:].sum(-1)
    return torch.exp(-total_nll).cpu().numpy().astype(np.float64)


def install_answer_likelihood(trainer, tokenizer, strength: float = 8.0) -> None:
    """Make the prior of ``trainer``'s predictor the policy's likelihood of each prompt's
    reference answer (the ``rlvr-answer`` arm, reported apart: issue 13's answer-likelihood
    predictor, near exact on exact-match tasks like these and weak on reasoning traces, so never
    a default). The prior is Beta(strength p + 0.5, strength (1 - p) + 0.5) at p =
    `answer_likelihoods` on the current policy, memoised per step; the prompt's own successes and
    failures add to it as usual. The forward passes run inside selection, so (c) counts them.
    """
    rates = per_step_rates(
        trainer.train_dataset, lambda examples, step: answer_likelihoods(trainer.model, tokenizer, examples)
    )

    def prior(rows, step):
        p = rates(rows, step)
        return strength * p + 0.5, strength * (1.0 - p) + 0.5

    # An instance attribute: `posterior` adds the prompt's own evidence to this prior as usual.
    trainer.predictive.predictor._prior = prior


def add_filter_options(p: argparse.ArgumentParser) -> None:
    """The frontier filter's settings (the rlvr arms' drop rules and over-sampling)."""
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--low", type=float, default=0.15)
    p.add_argument("--high", type=float, default=0.9)
    p.add_argument("--min-samples", type=int, default=16)
    p.add_argument("--reprobe", type=int, default=24)
    p.add_argument("--oversample", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--max-multiplier", type=float, default=2.0)
    p.add_argument(
        "--oversample-draw",
        choices=["batch", "deficit"],
        default="batch",
        help="over-sampling rounds generate a whole batch (DAPO) or only what is missing",
    )


def add_arm_options(p: argparse.ArgumentParser) -> None:
    """Which arms run, the extra predictor variants and the protocol (pool, world)."""
    p.add_argument("--arms", nargs="+", default=["trl", "rlvr", "rlvr-skip"], choices=ARMS)
    p.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help="an extra arm predict-NAME: rlvr-predict with these `PredictorConfig` fields "
        "(e.g. --variant w6:window_factor=6,max_deferrals=20); repeatable",
    )
    p.add_argument(
        "--one-pass",
        action="store_true",
        help="pool of at least steps x batch prompts: TRL sees each prompt once (no repeats)",
    )
    p.add_argument(
        "--pool-factor",
        type=float,
        default=2.0,
        help="--one-pass pool size as a multiple of steps x batch (2: the issue's 1,600-row pool "
        "for 200 steps x 4 prompts)",
    )
    p.add_argument("--world", choices=sorted(WORLDS), default="toy")
    p.add_argument(
        "--window-factor",
        type=float,
        default=PredictorConfig.window_factor,
        help="rlvr-predict: candidate window as a multiple of the batch's prompt count",
    )


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """``scripts/bench_frontier.py``'s command line (``description``: the script's docstring)."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--n-per-skill", type=int, default=16)
    p.add_argument("--eval-prompts", type=int, default=48)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--target", nargs="+", default=["add2", "sub"], help="target skills for (b)")
    p.add_argument("--easy", nargs="+", default=["copy", "add1"], help="easy skills for (d)")
    add_filter_options(p)
    add_arm_options(p)
    p.add_argument("--out", default="runs/bench_frontier")
    p.add_argument("--json", help="also write all measurements to this file")
    p.add_argument("--plot", help="also draw held-out accuracy against rollout tokens per arm (PNG)")
    return p


def parse_args(argv=None, description: str | None = None) -> argparse.Namespace:
    """Parsed and checked: TRL among the arms, each variant a valid `PredictorConfig`; the variants
    (``args.variants``: arm -> overrides) appended to ``args.arms``."""
    p = build_parser(description)
    args = p.parse_args(argv)
    if "trl" not in args.arms:
        p.error("--arms must include trl: every ratio is measured against it")
    args.variants = dict(args.variant)
    for name in args.variants:
        try:
            curricula_for(name, args)
        except (TypeError, ValueError) as error:
            p.error(f"--variant {name}: {error}")
    args.arms = [*args.arms, *args.variants]
    return args


def main(argv=None, description: str | None = None) -> int:
    args = parse_args(argv, description)
    if args.one_pass:
        model_dir, train, eval_rows = one_pass_pool(args.world, args.steps, args.eval_prompts, args.pool_factor)
    else:
        model_dir, train, eval_rows = WORLDS[args.world](args.n_per_skill, args.eval_prompts)
    print(
        f"[bench] world {args.world}, {'one-pass' if args.one_pass else 'repeating'} protocol: {len(train)} "
        f"training prompts for {args.steps} steps x {BATCH_ROWS // GENERATIONS} prompts",
        flush=True,
    )
    reward_funcs, weights = make_reward_funcs([VerifierSpec("exact")])
    out = Path(args.out)
    results = []
    for seed in args.seeds:
        for arm in args.arms:
            print(f"[bench] seed {seed} arm {arm} ...", flush=True)
            results.append(run_arm(arm, seed, args, model_dir, train, eval_rows, reward_funcs, weights, out))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.plot:
        print(f"[bench] wrote {plot_curves(results, args.arms, args.target, Path(args.plot))}")

    print_report(results, args, len(train))
    return 0
