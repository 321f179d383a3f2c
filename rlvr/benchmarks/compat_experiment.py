"""Does filtering teacher refinements by student compatibility help the student learn? The
experiment behind ``scripts/compat_experiment.py`` (its docstring tells the arms and the method).
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
import statistics
import time
from collections import Counter
from pathlib import Path

import torch

from curricula.compat import CompatConfig
from curricula.compat.run import run_compat
from curricula.likelihood import StudentLikelihood
from rlvr.cli.compat import load_student
from rlvr.toy.compat import final_answer, refine_examples, sft_batch

ARMS = ("original", "refined", "compat", "compat_fi")
ARM_LABELS = {
    "original": "(a) original",
    "refined": "(b) all refinements",
    "compat": "(c) compat (default rule)",
    "compat_fi": "(d) compat (frontier+IFD)",
}
DEFAULT_RULE = CompatConfig().rules
FRONTIER_IFD_RULE = ["frontier", "ifd_lt_1"]


def parse_args(argv=None, description: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--student", default="toy", help="'toy' (build_toy_world) or a model folder.")
    p.add_argument("--out", default="runs/compat_experiment")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--skills", nargs="+", default=None, help="Default: every toy skill.")
    p.add_argument("--n-per-skill", type=int, default=256, help="Training rows per skill.")
    p.add_argument("--n-eval", type=int, default=64, help="Held-out prompts per skill.")
    p.add_argument("--steps", type=int, default=150, help="SFT optimizer steps per arm.")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--original-noise", type=float, default=0.3)
    p.add_argument("--past-frontier-share", type=float, default=0.5)
    p.add_argument("--max-new-tokens", type=int, default=48, help="Room for a worked chain at eval.")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="Torch threads. 1: a tiny model gains nothing from more, and on a shared "
        "2-core machine extra threads spin against other processes.",
    )
    p.add_argument("--quick", action="store_true", help="Small run (< 2 min): 48 rows, 32 eval, 60 steps.")
    args = p.parse_args(argv)
    if args.quick:
        args.n_per_skill, args.n_eval, args.steps = 48, 32, 60
    return args


def training_rows(skills, n_per_skill, seed, args) -> list[dict]:
    from rlvr.toy import make_examples

    examples = [ex for skill in skills for ex in make_examples(skill, n_per_skill, "train", seed=seed)]
    return refine_examples(examples, args.past_frontier_share, args.original_noise, seed=seed)


def arm_data(rows, student, out_dir: Path, seed: int) -> tuple[dict, dict]:
    """``{arm: [(prompt, completion), ...]}`` and the filter's counts per arm.

    Both filter arms use the same scores: the second run starts from a copy of the first one's
    ``scores.jsonl``, so it only re-decides (the resume path of `run_compat`).
    """
    data = {
        "original": [(r["prompt"], r["original_response"]) for r in rows],
        "refined": [(r["prompt"], r["response"]) for r in rows],
    }
    filter_stats = {}
    first_scores = None
    for arm, rules in (("compat", DEFAULT_RULE), ("compat_fi", FRONTIER_IFD_RULE)):
        arm_dir = out_dir / f"seed{seed}" / arm
        if arm_dir.exists():
            shutil.rmtree(arm_dir)
        arm_dir.mkdir(parents=True)
        if first_scores is not None:
            shutil.copy(first_scores, arm_dir / "scores.jsonl")
        config = CompatConfig(rules=list(rules), seed=seed, chunk_size=256, batch_size=64, profile_max_new_tokens=16)
        result = run_compat(rows, arm_dir, config, student=student, progress=False)
        first_scores = arm_dir / "scores.jsonl"
        kept = [json.loads(line) for line in result.filtered_path.read_text().splitlines()]
        data[arm] = [(r["prompt"], r["completion"]) for r in kept]
        filter_stats[arm] = {
            "reasons": result.reasons,
            "frontier_nll": result.profile.threshold,
            "kept_styles": dict(Counter(r["style"] for r in kept if r["chosen"] == "refined")),
            "kept_original": sum(r["chosen"] == "original" for r in kept),
        }
    return data, filter_stats


def data_quality(pairs, answers: dict) -> dict:
    """Share of training completions whose final answer is right, and share of worked chains."""
    correct = sum(final_answer(c) == answers[p] for p, c in pairs)
    chains = sum("=" in c for _, c in pairs)
    return {"rows": len(pairs), "correct": correct / max(1, len(pairs)), "chains": chains / max(1, len(pairs))}


def sft(base_model, tokenizer, pairs, steps, batch_size, lr, seed):
    """Plain SFT (loss on completion + EOS), fixed steps, batches drawn with replacement."""
    model = copy.deepcopy(base_model).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    rng = random.Random(f"compat_experiment/sft/{seed}")
    torch.manual_seed(seed)
    for _ in range(steps):
        loss = model(**sft_batch(tokenizer, rng.choices(pairs, k=batch_size))).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model.eval()


def heldout_accuracy(model, tokenizer, eval_examples, max_new_tokens) -> dict[str, float]:
    likelihood = StudentLikelihood(model, tokenizer, batch_size=512)
    completions = likelihood.sample([ex["prompt"] for ex in eval_examples], max_new_tokens, temperature=0.0)
    hits, counts = Counter(), Counter()
    for ex, completion in zip(eval_examples, completions, strict=True):
        counts[ex["skill"]] += 1
        hits[ex["skill"]] += final_answer(completion) == ex["answer"]
    return {skill: hits[skill] / counts[skill] for skill in counts}


def mean_sd(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def tables(results, skills, seeds) -> str:
    columns = ["before"] + list(ARMS)
    lines = [
        f"Held-out accuracy per skill, mean ± sd over seeds {seeds} (greedy, answer after the last '=')",
        "",
        "| skill | " + " | ".join(ARM_LABELS.get(c, "student before SFT") for c in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for skill in list(skills) + ["mean"]:
        cells = []
        for arm in columns:
            m, s = mean_sd([results["accuracy"][str(seed)][arm][skill] for seed in seeds])
            cells.append(f"{m:.3f} ± {s:.3f}")
        lines.append(f"| {skill} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Training data per arm (mean over seeds): rows, share with a correct final answer, share of worked chains",
        "",
        "| arm | rows | correct | chains |",
        "|---|---|---|---|",
    ]
    for arm in ARMS:
        q = [results["data"][str(seed)][arm] for seed in seeds]
        lines.append(
            f"| {ARM_LABELS[arm]} | {statistics.fmean(x['rows'] for x in q):.0f} | "
            f"{statistics.fmean(x['correct'] for x in q):.2f} | {statistics.fmean(x['chains'] for x in q):.2f} |"
        )
    lines += ["", "Filter decisions (summed over seeds)", "", "| arm | decision/reason | rows |", "|---|---|---|"]
    for arm in ("compat", "compat_fi"):
        total = Counter()
        for seed in seeds:
            total.update(results["filter"][str(seed)][arm]["reasons"])
        for key, n in sorted(total.items()):
            lines.append(f"| {ARM_LABELS[arm]} | {key} | {n} |")
        styles = Counter()
        for seed in seeds:
            styles.update(results["filter"][str(seed)][arm]["kept_styles"])
        lines.append(f"| {ARM_LABELS[arm]} | refinements kept by teacher style | {dict(styles)} |")
    return "\n".join(lines)


def plot(results, skills, seeds, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = ["before"] + list(ARMS)
    groups = list(skills) + ["mean"]
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(max(8, 1.4 * len(groups)), 4.5))
    for i, arm in enumerate(columns):
        stats = [mean_sd([results["accuracy"][str(s)][arm][g] for s in seeds]) for g in groups]
        ax.bar(
            [x + (i - (len(columns) - 1) / 2) * width for x in range(len(groups))],
            [m for m, _ in stats],
            width,
            yerr=[s for _, s in stats],
            capsize=2,
            label=ARM_LABELS.get(arm, "student before SFT"),
        )
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"SFT on original vs refined vs compatibility-filtered data ({len(seeds)} seeds, mean ± sd)")
    ax.legend(fontsize=8, ncol=3, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None, description: str | None = None) -> int:
    """The whole experiment: every seed and arm, then ``results.json``, ``results.md``, the plot."""
    args = parse_args(argv, description)
    torch.set_num_threads(args.threads)
    from rlvr.toy import SKILLS, make_examples

    skills = args.skills or list(SKILLS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, tokenizer, name = load_student(args.student, device="cpu")
    student = (model, tokenizer, name)
    eval_examples = [ex for s in skills for ex in make_examples(s, args.n_eval, "eval", seed=0)]
    results = {"args": vars(args), "accuracy": {}, "data": {}, "filter": {}}
    before = heldout_accuracy(model, tokenizer, eval_examples, args.max_new_tokens)
    before["mean"] = statistics.fmean(before[s] for s in skills)

    for seed in args.seeds:
        rows = training_rows(skills, args.n_per_skill, seed, args)
        answers = {r["prompt"]: r["answer"] for r in rows}
        data, filter_stats = arm_data(rows, student, out, seed)
        accuracy = {"before": before}
        for arm in ARMS:
            tuned = sft(model, tokenizer, data[arm], args.steps, args.batch_size, args.lr, seed)
            acc = heldout_accuracy(tuned, tokenizer, eval_examples, args.max_new_tokens)
            acc["mean"] = statistics.fmean(acc[s] for s in skills)
            accuracy[arm] = acc
            print(
                f"seed {seed} {arm:10s} rows {len(data[arm]):4d}  mean acc {acc['mean']:.3f}  "
                f"({time.perf_counter() - start:.0f}s)",
                flush=True,
            )
        results["accuracy"][str(seed)] = accuracy
        results["data"][str(seed)] = {arm: data_quality(data[arm], answers) for arm in ARMS}
        results["filter"][str(seed)] = filter_stats

    results["seconds"] = round(time.perf_counter() - start, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    report = tables(results, skills, args.seeds)
    (out / "results.md").write_text(report + "\n")
    plot(results, skills, args.seeds, out / "accuracy.png")
    print()
    print(report)
    print(f"\nWrote {out / 'results.json'}, {out / 'results.md'}, {out / 'accuracy.png'} in {results['seconds']:.0f}s.")
    return 0
