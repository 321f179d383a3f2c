"""The printout and the plot of `rlvr.benchmarks.frontier`: (a), (b), (b'), (c), (d), (e) of each
arm beside plain TRL, per seed and then the mean over seeds. The numbers come from the pure
functions of `rlvr.benchmarks.measures`; this module only formats them.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from rlvr.benchmarks.measures import mean, trl_marks, versus_trl


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


def _show(x, fmt="{:.2f}x"):
    return "-" if x is None else fmt.format(x)


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
    for seed in args.seeds:
        trl_run = by[("trl", seed)]
        marks = trl_marks(trl_run["curve"])
        for arm in args.arms:
            r = by[(arm, seed)]
            versus = versus_trl(r["curve"], marks)
            easy_before = statistics.mean(r["before"][s] for s in args.easy)
            easy_after = statistics.mean(r["after"][s] for s in args.easy)
            easy_delta[arm].append(easy_after - easy_before)
            ratio = smooth_ratio = share = spent = None
            if arm != "trl":
                ratio, smooth_ratio = versus["ratio"], versus["smooth_ratio"]
                share = r["bookkeeping_seconds"] / r["seconds"]
                spent = r["tokens"] / trl_run["tokens"]
                ratios[arm].append(ratio)
                smooth_ratios[arm].append(smooth_ratio)
                shares[arm].append(share)
            print(
                f"{seed:>4}  {arm:<12}  {r['no_signal']:>13.1%}  {str(versus['reached']):>14}  {_show(ratio):>9}  "
                f"{_show(smooth_ratio):>10}  {_show(share, '{:.2%}'):>15}  {_show(spent):>9}  "
                f"{r['curve'][-1][1]:>14.3f}  {easy_before:>10.3f} -> {easy_after:.3f}  {r['seconds']:>7.1f}"
            )
    print_means(by, args, ours_arms, ratios, smooth_ratios, shares, easy_delta)


def _rounded(ratios):
    return [None if r is None else round(r, 2) for r in ratios]


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
            f"(reached in {reached}/{len(ratios[arm])} seeds; per seed {_rounded(ratios[arm])})  (target <= 0.5x)"
        )
        smooth_reached = sum(r is not None for r in smooth_ratios[arm])
        print(
            f"(b') ... to reach TRL's final 3-point running mean: {arm}/TRL = {mean(smooth_ratios[arm]):.2f}x "
            f"(reached in {smooth_reached}/{len(smooth_ratios[arm])} seeds; per seed {_rounded(smooth_ratios[arm])})"
        )
        print(f"(c) filter bookkeeping / training time: {mean(shares[arm]):.2%}  (target <= 2%)")
        spent = mean([by[(arm, s)]["tokens"] / by[("trl", s)]["tokens"] for s in args.seeds])
        print(f"(e) rollout tokens over the whole run (same steps): {arm}/TRL = {spent:.2f}x")
        print(
            f"(d) easy-skill accuracy change ({', '.join(args.easy)}): {arm} {mean(easy_delta[arm]):+.3f} vs "
            f"TRL {mean(easy_delta['trl']):+.3f}"
        )
