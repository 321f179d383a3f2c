"""`rlvr frontier`: the frontier filter as a static pre-filter, before training.

Samples ``k`` completions per training prompt with the run's own model, verifiers and
sampling temperature, judges each prompt with the same `FrontierFilter` rules the trainer
uses online, and writes:

- ``OUT/filtered.jsonl``: the prompts that were kept (train on this);
- ``OUT/pass_rates.jsonl``: per prompt, successes / trials, the confidence bounds, decision;
- ``OUT/audit.jsonl``: one audit record per prompt, same schema as a training run's
  (so ``rlvr audit OUT`` works on it).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="Run config (its model, data, verifiers, curricula.frontier).")
    parser.add_argument("--k", type=int, default=16, help="Completions sampled per prompt (default 16).")
    parser.add_argument("--out", required=True, help="Output directory.")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="Replace the outputs of an earlier `rlvr frontier` run in --out (refused otherwise).",
    )
    parser.add_argument("--batch-size", type=int, default=256, help="Completions per generation batch.")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")


def run(args) -> int:
    """Sample ``--k`` completions per training prompt, judge each prompt, write the outputs."""
    from curricula.audit import JsonlWriter
    from curricula.rollouts import sample_and_score
    from rewards import make_reward_funcs
    from rlvr.audit_report import summary_table
    from rlvr.config import load_config
    from rlvr.data import load_prompts
    from rlvr.train import load_model_and_tokenizer

    config = load_config(args.config, args.overrides)
    check_samples_per_prompt(config.curricula.frontier, args.k)
    out = prepare_out_dir(Path(args.out), args.overwrite)
    rows = load_prompts(config.data.train, config.data, split="train").dataset.to_list()
    model, tokenizer, _ = load_model_and_tokenizer(config)
    errors = JsonlWriter(out / "verifier_errors.jsonl")
    reward_funcs, weights = make_reward_funcs(config.verifiers, error_sink=errors.write_record)

    started = time.perf_counter()
    rewards = sample_and_score(
        model,
        tokenizer,
        rows,
        reward_funcs,
        weights,
        samples_per_prompt=args.k,
        temperature=config.grpo.temperature,
        max_new_tokens=config.grpo.max_completion_length,
        batch_size=args.batch_size,
        seed=config.grpo.seed,
        progress=True,
    )
    seconds = time.perf_counter() - started

    decisions = judge_prompts(config.curricula.frontier, rows, rewards)
    kept = write_outputs(out, rows, decisions)
    print(summary_table(out))
    print(
        f"kept {kept} of {len(rows)} prompts ({len(rows) * args.k} completions sampled in {seconds:.1f} s); "
        f"wrote {out / 'filtered.jsonl'}"
    )
    return 0


def check_samples_per_prompt(frontier, k: int) -> None:
    """Refuse a ``k`` below ``min_samples`` (nothing could be dropped); warn, on stderr, when ``k``
    is too few for the confidence bound to drop a prompt."""
    from rewards import UserInputError

    if k < frontier.min_samples:
        raise UserInputError(
            f"--k {k} is below curricula.frontier.min_samples={frontier.min_samples}, "
            "so no prompt could be dropped; raise --k or lower min_samples."
        )
    warning = too_few_samples_warning(frontier, k)
    if warning:
        print(f"rlvr frontier: warning: {warning}", file=sys.stderr, flush=True)


def judge_prompts(frontier, rows: list[dict], rewards: list) -> list:
    """Each prompt judged once on all its samples, by the `FrontierFilter` rules the trainer uses
    online; one `Decision` per row, in order."""
    from curricula.base import GroupResult
    from curricula.frontier import FrontierFilter
    from rlvr.data import prompt_hash

    filt = FrontierFilter(frontier, [str(r["id"]) for r in rows])
    groups = [
        GroupResult(str(r["id"]), rr, {c: r[c] for c in ("skill", "source") if c in r}, prompt_hash(r["prompt"]))
        for r, rr in zip(rows, rewards)
    ]
    return filt.observe(groups, step=0, epoch=0.0)


def write_outputs(out: Path, rows: list[dict], decisions: list) -> int:
    """The audit log, ``pass_rates.jsonl`` (every prompt) and ``filtered.jsonl`` (the prompts not
    dropped) in ``out``; returns how many were kept."""
    from curricula.audit import AuditLog, new_run_id

    audit = AuditLog(out, run_id=new_run_id("frontier-offline"))
    for decision in decisions:
        audit.add(decision, global_step=0, epoch=0.0)
    audit.flush()
    kept = 0
    with open(out / "filtered.jsonl", "w") as f_kept, open(out / "pass_rates.jsonl", "w") as f_rates:
        for row, decision in zip(rows, decisions):
            f_rates.write(
                json.dumps(
                    {
                        "id": row["id"],
                        "skill": row.get("skill"),
                        "decision": decision.decision,
                        "reason": decision.reason,
                        **decision.stats,
                    }
                )
                + "\n"
            )
            if decision.decision != "dropped":
                f_kept.write(json.dumps(row) + "\n")
                kept += 1
    return kept


# What `run` writes; an earlier run's copies would be appended to (the audit log) or mixed in.
OUTPUTS = ("audit.jsonl", "audit.segments", "filtered.jsonl", "pass_rates.jsonl", "verifier_errors.jsonl")


def prepare_out_dir(out: Path, overwrite: bool) -> Path:
    """``out``, created; an earlier run's outputs there are refused, or deleted with ``overwrite``."""
    from rewards import UserInputError

    earlier = [out / name for name in OUTPUTS if (out / name).exists()]
    if earlier and not overwrite:
        raise UserInputError(
            f"{out} holds the outputs of an earlier `rlvr frontier` run "
            f"({', '.join(p.name for p in earlier)}): pass --overwrite to replace them, "
            "or choose another --out."
        )
    for path in earlier:
        shutil.rmtree(path) if path.is_dir() else path.unlink()  # audit.segments is a folder
    out.mkdir(parents=True, exist_ok=True)
    return out


def min_trials_to_drop(frontier, side: str = "too_hard", limit: int = 100_000) -> int | None:
    """The smallest number of rollouts at which a prompt can be dropped: for ``"too_hard"``, the
    smallest n where 0 of n correct gives an upper bound below ``low``; for ``"too_easy"``, where
    n of n gives a lower bound above ``high``. At least ``min_samples``; ``None`` if none up to
    ``limit`` (or ``high`` is unset for ``"too_easy"``)."""
    from curricula.stats import pass_rate_bounds

    if side == "too_easy" and frontier.high is None:
        return None
    for n in range(max(1, frontier.min_samples), limit + 1):
        lower, upper = pass_rate_bounds(0 if side == "too_hard" else n, n, frontier.confidence, frontier.bound)
        if (upper < frontier.low) if side == "too_hard" else (lower > frontier.high):
            return n
    return None


def too_few_samples_warning(frontier, k: int) -> str | None:
    """Why ``k`` samples per prompt cannot drop a prompt as too hard (or too easy), or ``None``."""
    from curricula.stats import pass_rate_bounds

    problems = []
    hard, easy = min_trials_to_drop(frontier, "too_hard"), min_trials_to_drop(frontier, "too_easy")
    if hard is not None and k < hard:
        upper = pass_rate_bounds(0, k, frontier.confidence, frontier.bound)[1]
        problems.append(
            f"0 of {k} correct has an upper bound of {upper:.4f}, not below low={frontier.low:g}: no "
            f"prompt can be dropped as too hard (--k {hard} or more can)"
        )
    if easy is not None and k < easy:
        lower = pass_rate_bounds(k, k, frontier.confidence, frontier.bound)[0]
        problems.append(
            f"{k} of {k} correct has a lower bound of {lower:.4f}, not above high={frontier.high:g}: "
            f"no prompt can be dropped as too easy (--k {easy} or more can)"
        )
    if not problems:
        return None
    return f"with --k {k} at confidence {frontier.confidence:g} ({frontier.bound} bound), " + "; ".join(problems) + "."
