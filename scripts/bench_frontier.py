"""Frontier filter vs plain TRL GRPO on the toy world, side by side in one run.

    python scripts/bench_frontier.py                 # 3 seeds x 3 arms x 60 steps
    python scripts/bench_frontier.py --seeds 0 --steps 20   # quick look
    python scripts/bench_frontier.py --arms trl rlvr-predict --seeds 0 1 2 3 4 --one-pass

Arms: ``trl`` (plain `GRPOTrainer`), ``rlvr`` (frontier filter: drops on confidence bounds,
zero-variance masking, over-sampling), ``rlvr-skip`` (the same plus GRESO-style skipping
of prompts on a zero-variance streak before rollout) and ``rlvr-predict`` (the predictive
frontier, ``curricula.predictor``: a pass-rate predictor pooled over each prompt's skill picks
every batch from a window read ahead in the sampler's order; the frontier filter's drop rules
and zero-variance masking stay on as its safety net; no over-sampling).

Protocols: by default the pool holds ``--n-per-skill`` prompts per skill and prompts repeat
(several epochs); ``--one-pass`` sizes the pool to ``--pool-factor`` (default 2) x steps x batch
prompts, so TRL sees each prompt at most once (the usual RLVR protocol, and the one where history-only filters take no
decision). ``--world`` picks the world (`WORLDS`): ``toy`` (the shipped default) or ``accident``
(another skill and difficulty mix, `rlvr.toy.variants`); another one plugs in with an entry
there. ``--variant NAME:key=value,...`` adds an arm ``predict-NAME`` (rlvr-predict with other
`PredictorConfig` fields), so several settings run beside one TRL arm. All start from the same warmed-up toy
model, see the same prompts (all skills, the hopeless one included) with the same seeds and
the same optimizer-step budget. Prints, for each rlvr arm beside TRL:

(a) share of *generated* rollouts in groups with no learning signal (zero-variance groups,
    over-sampled ones included), rlvr beside TRL's;
(b) rollout tokens (prompt + completion, as TRL counts `num_input_tokens_seen`) until the
    held-out accuracy on the target skills first reaches the best accuracy plain TRL reaches
    during training (same seed), as a ratio rlvr / TRL; and (b') the same against a less noisy
    mark: until the running mean of 3 held-out points reaches TRL's final running mean (the
    best point of a noisy curve is often one lucky evaluation);
(c) the filter's bookkeeping time as a share of training time;
(d) held-out accuracy on the easy skills before and after (does dropping hopeless prompts
    protect them?);
(e) rollout tokens over the whole run, rlvr / TRL (over-sampling spends more per step).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from curricula.config import CurriculaConfig, FrontierConfig, PredictorConfig  # noqa: E402
from curricula.models import load_causal_lm  # noqa: E402
from rewards import VerifierSpec, make_reward_funcs  # noqa: E402
from rlvr.config import EvalConfig  # noqa: E402
from rlvr.evaluate import evaluate_skills  # noqa: E402
from rlvr.toy import build_toy_world, toy_dataset  # noqa: E402
from rlvr.trainer import CurriculumGRPOTrainer  # noqa: E402


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
ARMS = ["trl", "rlvr", "rlvr-skip", "rlvr-predict"]
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
    frontier = FrontierConfig(
        enabled=True,
        low=args.low,
        high=args.high,
        min_samples=args.min_samples,
        reprobe_interval=args.reprobe,
        mask_zero_variance=True,
        oversample=args.oversample and arm != "rlvr-predict" and arm not in args.variants,
        max_generation_multiplier=args.max_multiplier,
        oversample_draw=args.oversample_draw,
        skip_zero_variance=arm == "rlvr-skip",
    )
    predict = arm == "rlvr-predict" or arm in args.variants
    overrides = {"window_factor": args.window_factor, **args.variants.get(arm, {})}
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
        acc = accuracy(policy, args.target)
        return statistics.mean(acc.values())

    before = accuracy(model)
    grpo = GRPOConfig(
        output_dir=str(out / f"{arm}-{seed}"),
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
    curve = HeldOutCurve(target_accuracy, args.eval_every)
    common = dict(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo,
        train_dataset=train,
        processing_class=tokenizer,
        callbacks=[curve],
    )
    if arm == "trl":
        trainer = GRPOTrainer(**common)
    else:
        trainer = CurriculumGRPOTrainer(curricula=curricula_for(arm, args), **common)
    curve.points.append((0, target_accuracy(model)))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    after = accuracy(trainer.model)
    logs = [log for log in trainer.state.log_history if "frac_reward_zero_std" in log]
    if arm == "trl":
        # One generation per step, equal-size groups: the mean over steps is the rollout share.
        no_signal = statistics.mean(log["frac_reward_zero_std"] for log in logs)
        bookkeeping = 0.0
    else:
        no_signal = trainer.totals["zero_variance_groups"] / max(trainer.totals["groups"], 1)
        bookkeeping = trainer.curriculum_seconds
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


def running_mean(curve, width: int = 3):
    """(tokens, mean accuracy of this and the previous ``width - 1`` points)."""
    return [
        (tokens, statistics.mean(acc for _, acc in curve[max(0, i - width + 1) : i + 1]))
        for i, (tokens, _) in enumerate(curve)
    ]


def tokens_to_reach(curve, target: float):
    for tokens, acc in curve:
        if acc >= target - 1e-9:
            return tokens
    return None


def plot_curves(results: list[dict], arms: list[str], target: list[str], out: Path) -> Path:
    """Left: target-skill accuracy against rollout tokens, one line per arm and seed. Right: the
    share of generated rollouts without learning signal, per arm (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    colours = dict(zip(arms, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for r in results:
        tokens, acc = zip(*r["curve"])
        left.plot(
            tokens,
            acc,
            color=colours[r["arm"]],
            alpha=0.7,
            lw=1.2,
            label=r["arm"] if r["seed"] == results[0]["seed"] else None,
        )
    left.set(
        title=f"held-out {'+'.join(target)} accuracy (greedy), each seed", xlabel="rollout tokens", ylabel="accuracy"
    )
    left.legend()
    shares = [statistics.mean(r["no_signal"] for r in results if r["arm"] == arm) for arm in arms]
    right.bar(arms, shares, color=[colours[a] for a in arms])
    right.set(title="rollouts in zero-variance groups", ylabel="share of generated rollouts", ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--n-per-skill", type=int, default=16)
    p.add_argument("--eval-prompts", type=int, default=48)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--target", nargs="+", default=["add2", "sub"], help="target skills for (b)")
    p.add_argument("--easy", nargs="+", default=["copy", "add1"], help="easy skills for (d)")
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
    p.add_argument("--out", default="runs/bench_frontier")
    p.add_argument("--json", help="also write all measurements to this file")
    p.add_argument("--plot", help="also draw held-out accuracy against rollout tokens per arm (PNG)")
    args = p.parse_args(argv)
    if "trl" not in args.arms:
        p.error("--arms must include trl: every ratio is measured against it")
    args.variants = dict(args.variant)
    for name, overrides in args.variants.items():
        try:
            PredictorConfig(enabled=True, **{"window_factor": args.window_factor, **overrides})
        except (TypeError, ValueError) as error:
            p.error(f"--variant {name}: {error}")
    args.arms = [*args.arms, *args.variants]

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


def print_report(results: list[dict], args, n_train: int) -> None:
    """Per seed, then the mean over seeds: (a), (b), (b'), (c), (d), (e) of each arm beside TRL."""
    by = {(r["arm"], r["seed"]): r for r in results}
    ours_arms = [a for a in args.arms if a != "trl"]
    protocol = "one-pass" if args.one_pass else "repeating"
    print(
        f"\n=== frontier filter vs plain TRL GRPO: {args.world} world, {protocol} protocol ({n_train} prompts), "
        f"{args.steps} steps, seeds {args.seeds} ==="
    )
    print(
        "seed  arm           (a) no-signal  tokens->target  (b) x TRL  (b') x TRL  (c) bookkeeping  (e) x TRL"
        "  target acc end  easy acc before->after  train s"
    )
    ratios = {a: [] for a in ours_arms}
    smooth_ratios = {a: [] for a in ours_arms}
    shares = {a: [] for a in ours_arms}
    easy_delta = {a: [] for a in args.arms}

    def show(x, fmt="{:.2f}x"):
        return "-" if x is None else fmt.format(x)

    for seed in args.seeds:
        trl_run = by[("trl", seed)]
        # The best held-out accuracy plain TRL reaches after it starts training (same seed).
        target = max(acc for tokens, acc in trl_run["curve"] if tokens > 0)
        t_trl = tokens_to_reach([p for p in trl_run["curve"] if p[0] > 0], target)
        trl_smooth = running_mean([p for p in trl_run["curve"] if p[0] > 0])
        t_trl_smooth = tokens_to_reach(trl_smooth, trl_smooth[-1][1])
        for arm in args.arms:
            r = by[(arm, seed)]
            reached = tokens_to_reach([p for p in r["curve"] if p[0] > 0], target)
            easy_before = statistics.mean(r["before"][s] for s in args.easy)
            easy_after = statistics.mean(r["after"][s] for s in args.easy)
            easy_delta[arm].append(easy_after - easy_before)
            ratio = smooth_ratio = share = spent = None
            if arm != "trl":
                ratio = None if reached is None or not t_trl else reached / t_trl
                smooth = tokens_to_reach(running_mean([p for p in r["curve"] if p[0] > 0]), trl_smooth[-1][1])
                smooth_ratio = None if smooth is None or not t_trl_smooth else smooth / t_trl_smooth
                share = r["bookkeeping_seconds"] / r["seconds"]
                spent = r["tokens"] / trl_run["tokens"]
                ratios[arm].append(ratio)
                smooth_ratios[arm].append(smooth_ratio)
                shares[arm].append(share)
            print(
                f"{seed:>4}  {arm:<12}  {r['no_signal']:>13.1%}  {str(reached):>14}  {show(ratio):>9}  "
                f"{show(smooth_ratio):>10}  {show(share, '{:.2%}'):>15}  {show(spent):>9}  {r['curve'][-1][1]:>14.3f}"
                f"  {easy_before:>10.3f} -> {easy_after:.3f}  {r['seconds']:>7.1f}"
            )
    print_means(by, args, ours_arms, ratios, smooth_ratios, shares, easy_delta)


def mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.mean(xs) if xs else float("nan")


def print_means(by: dict, args, ours_arms: list[str], ratios, smooth_ratios, shares, easy_delta) -> None:
    trl_no_signal = mean([by[("trl", s)]["no_signal"] for s in args.seeds])
    print("\nmeasured side by side (mean over seeds):")
    for arm in ours_arms:
        reached = sum(r is not None for r in ratios[arm])
        print(f"[{arm}]")
        print(
            f"(a) no-signal share of generated rollouts: {arm} "
            f"{mean([by[(arm, s)]['no_signal'] for s in args.seeds]):.1%} vs TRL {trl_no_signal:.1%}"
            "  (target <= 10%)"
        )
        print(
            f"(b) rollout tokens to reach TRL's best target-skill accuracy: {arm}/TRL = {mean(ratios[arm]):.2f}x "
            f"(reached in {reached}/{len(ratios[arm])} seeds; per seed "
            f"{[None if r is None else round(r, 2) for r in ratios[arm]]})  (target <= 0.5x)"
        )
        smooth_reached = sum(r is not None for r in smooth_ratios[arm])
        print(
            f"(b') ... to reach TRL's final 3-point running mean: {arm}/TRL = {mean(smooth_ratios[arm]):.2f}x "
            f"(reached in {smooth_reached}/{len(smooth_ratios[arm])} seeds; per seed "
            f"{[None if r is None else round(r, 2) for r in smooth_ratios[arm]]})"
        )
        print(f"(c) filter bookkeeping / training time: {mean(shares[arm]):.2%}  (target <= 2%)")
        spent = mean([by[(arm, s)]["tokens"] / by[("trl", s)]["tokens"] for s in args.seeds])
        print(f"(e) rollout tokens over the whole run (same steps): {arm}/TRL = {spent:.2f}x")
        print(
            f"(d) easy-skill accuracy change ({', '.join(args.easy)}): {arm} {mean(easy_delta[arm]):+.3f} vs "
            f"TRL {mean(easy_delta['trl']):+.3f}"
        )


if __name__ == "__main__":
    sys.exit(main())
