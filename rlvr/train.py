"""The GRPO recipe: config -> output dir -> data -> verifiers -> tokenizer -> model -> trainer ->
train -> summary.

Read top to bottom; each step is one call. Everything that can be checked without the model
(config, data, verifier specs) is checked first, so a mistake costs seconds, not a model load. The
same function, `run_recipe`, runs under ``rlvr train`` (one process) and ``accelerate launch
scripts/train_grpo.py`` (any number of processes); their command line is `rlvr.cli.train`.
"""

from __future__ import annotations

import os

# Before transformers / huggingface_hub are imported. HF_HUB_OFFLINE is left to the user: a Hub
# model name needs the Hub (or a cache filled beforehand, with HF_HUB_OFFLINE=1); local paths never
# reach for it (see `load_tokenizer`).
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from rewards.base import UserInputError  # noqa: E402

logger = logging.getLogger("rlvr")


class ModelNotFoundError(UserInputError):
    """The model could not be loaded from the path or Hub name given (with how to fix it)."""


def resolve_model_path(config) -> str:
    """Where the policy is read from; a registered model (`rlvr.sources`: ``toy`` builds the toy
    world once and caches it) resolves to its folder."""
    from rlvr.sources import resolve_model

    path = resolve_model(config.model.model_name_or_path, seed=config.data.toy_seed)
    if not os.path.isdir(path) and (path.startswith(("/", ".", "~")) or path.count("/") > 1):
        # Not a Hub name (org/name) either: say so rather than let the Hub reject the "repo id".
        raise ModelNotFoundError(f"model.model_name_or_path={path}: no such directory.")
    return path


def _load_options(config, path: str) -> dict:
    # A local directory never calls the Hub, online or not. TRL 1.16's ModelConfig has no
    # trust_remote_code field; GRPOConfig does.
    return {
        "revision": config.model.model_revision,
        "trust_remote_code": bool(getattr(config.grpo, "trust_remote_code", False)),
        "local_files_only": os.path.isdir(path),
    }


def load_tokenizer(config, path: str):
    """The policy's tokenizer, with a pad token (TRL pads generation batches)."""
    from curricula.models import load_tokenizer as load_pretrained_tokenizer

    try:
        return load_pretrained_tokenizer(path, pad_to_eos=True, **_load_options(config, path))
    except OSError as err:  # no such folder, or a Hub name that cannot be fetched
        raise ModelNotFoundError(_model_hint(path, err)) from err


def load_model(config, path: str):
    """The policy's weights (the slow step: everything checkable is checked before it)."""
    import torch

    from curricula.models import load_model as load_pretrained_model

    dtype = config.model.dtype
    dtype = dtype if dtype in (None, "auto") else getattr(torch, dtype)
    try:
        # An adapter folder loads as transformers loads it; the recipe's own LoRA is TRL's (peft_config).
        return load_pretrained_model(
            path,
            dtype,
            peft_adapter=False,
            **_load_options(config, path),
            attn_implementation=config.model.attn_implementation,
        )
    except OSError as err:
        raise ModelNotFoundError(_model_hint(path, err)) from err


def load_model_and_tokenizer(config):
    """The policy and its tokenizer from a local path or the Hub; ``toy`` builds the toy world."""
    path = resolve_model_path(config)
    tokenizer = load_tokenizer(config, path)
    return load_model(config, path), tokenizer, path


def _model_hint(path: str, err: OSError) -> str:
    """What to do when a model cannot be loaded (transformers' own message says only "couldn't connect")."""
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if os.path.isdir(path):
        return f"Cannot load the model in local directory {path}: {first_line}"
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return (
        f"Cannot load model '{path}' ({first_line}). It is not a local directory, so it is looked up on the "
        "Hugging Face Hub" + (" cache only (HF_HUB_OFFLINE is set)" if offline else "") + ". Either point "
        "at a local copy: model.model_name_or_path=/path/to/local/model; or download it once where the Hub "
        f"is reachable: `hf download {path}` (fills the cache; then HF_HUB_OFFLINE=1 runs from it) or "
        f"`hf download {path} --local-dir /path/to/local/model`; or check the name and "
        "model.model_revision."
    )


def run_recipe(args) -> dict:
    """The recipe, one step per call; returns the run's summary (also written to summary.json).

    ``args``: what `rlvr.cli.train.parse_args` returns (``config``, ``overrides``, ``resume``,
    ``overwrite``, ``force``)."""

    # Steps 1-4 check everything that can be checked cheaply, so that a mistake in the config,
    # the data or a verifier spec stops the run in seconds, before the model loads.
    config, state, run = prepare_config_and_run_dir(args)
    output_dir = Path(config.grpo.output_dir)

    # 3. Data: every row validated (file, line and field of each bad one).
    from rlvr.data import load_run_data

    train, held_out = load_run_data(config)
    # 4. Verifiers -> TRL reward functions, checked on the training rows' gold answers.
    error_log, reward_funcs, reward_weights = build_verifiers(config, train.dataset, output_dir, state, run.resumed)

    # 5. Tokenizer (the toy world is built once and cached).
    model_path = resolve_model_path(config)
    tokenizer = load_tokenizer(config, model_path)
    # 5b. Every prompt checked against the model's context.
    train, eval_rows = fit_data_to_model(config, train, held_out, tokenizer, model_path, output_dir, state)

    # 6. Model.
    model = load_model(config, model_path)

    # 7. Held-out accuracy before training (main process; the model is the same everywhere).
    held_out_accuracy = held_out_evaluator(config, tokenizer, eval_rows, reward_funcs, reward_weights, state)
    accuracy_before = held_out_accuracy(model)

    # 8. The trainer: TRL's GRPOTrainer plus rlvr's curriculum filters and audit log.
    trainer = build_trainer(config, model, tokenizer, train.dataset, reward_funcs, run)
    error_log.step_of = lambda: trainer.state.global_step
    eval_callback = add_held_out_callback(
        trainer, held_out_accuracy, error_log, config.eval.every_steps, accuracy_before, eval_rows
    )

    # 9. Train (optionally resuming: filter state and audit log continue with the checkpoint).
    train_seconds = train_and_save(trainer, error_log, run.checkpoint, output_dir)

    # 10. Summary: steps, reward start -> end, held-out accuracy before -> after.
    accuracy_after = accuracy_after_training(trainer, eval_callback, held_out_accuracy)
    summary = build_summary(trainer, model_path, train_seconds, accuracy_before, accuracy_after, error_log.count)
    write_summary_files(summary, trainer, output_dir, state)
    # Every process is done with the group. It is not destroyed here: the trainer's DDP model still
    # holds it, and its destructor can deadlock with a gloo worker; `rlvr.cli.train.main` ends a
    # multi-process run with `finish_distributed_process` instead (rlvr/distributed.py).
    state.wait_for_everyone()
    return summary


def prepare_config_and_run_dir(args):
    """Steps 1-2: the config, then the output directory (with the resolved config saved beside the
    run). Returns the config, accelerate's process state and the run (`rlvr.run_dir.RunDir`)."""
    # 1. Config: YAML sections + dotted overrides; unknown keys and mistyped values are errors.
    from rlvr.config import config_to_dict, load_config

    config = load_config(args.config, args.overrides)

    # 2. Output directory. One run per output directory; --resume takes only this run's
    # checkpoints (rlvr/run_dir.py).
    from accelerate import PartialState

    from rlvr.run_dir import prepare_run_dir

    state = PartialState()
    output_dir = Path(config.grpo.output_dir)
    run = prepare_run_dir(output_dir, config_to_dict(config), args.resume, args.overwrite, args.force, state)
    return config, state, run


def build_verifiers(config, train_dataset, output_dir: Path, state, resumed: bool):
    """Step 4: verifiers -> TRL reward functions (their weights set on ``config.grpo``), with the
    per-process verifier error log, checked on the training rows' gold answers. An unknown verifier
    stops here; a verifier failing on a completion later costs one reward, never the run. Returns
    the error log, the reward functions and their weights."""
    from curricula.audit import EVAL_BEFORE, VerifierErrorLog
    from rewards import make_reward_funcs

    # A resumed run keeps the first run's records of the evaluation before training (rewound above).
    error_log = VerifierErrorLog(
        output_dir / f"verifier_errors.rank{state.process_index}.jsonl",
        skip_phases=(EVAL_BEFORE,) if resumed else (),
    )
    reward_funcs, reward_weights = make_reward_funcs(config.verifiers, error_sink=error_log.write_error)
    config.grpo.reward_weights = reward_weights
    # A verifier failing on every row's gold answer is broken: stop now, not after the first batch.
    from rewards import preflight

    preflight(reward_funcs, train_dataset, n=8)
    return error_log, reward_funcs, reward_weights


def fit_data_to_model(config, train, held_out, tokenizer, model_path: str, output_dir: Path, state):
    """Step 5b: every prompt checked against the model's context (the tokenizer and the model's
    config suffice), and enough rows for one generation batch; the rows skipped are written to
    bad_rows.jsonl (main process). Returns the fitted training data and the held-out rows (or None)."""
    from rlvr.data import fit_run_data

    train, held_out = fit_run_data(config, train, held_out, tokenizer, model_path)
    eval_rows = held_out.dataset.to_list() if held_out is not None else None
    bad_rows = train.bad_rows + (held_out.bad_rows if held_out is not None else [])
    if bad_rows and state.is_main_process:
        write_bad_rows(bad_rows, output_dir / "bad_rows.jsonl")
    return train, eval_rows


def held_out_evaluator(config, tokenizer, eval_rows, reward_funcs, reward_weights, state):
    """A function ``policy -> {skill: accuracy}`` on the held-out rows; ``{}`` on the other
    processes and when there are no held-out rows."""
    from rlvr.evaluate import evaluate_skills

    max_new_tokens = config.eval.max_new_tokens or config.grpo.max_completion_length

    def held_out_accuracy(policy) -> dict[str, float]:
        if not eval_rows or not state.is_main_process:
            return {}
        return evaluate_skills(
            policy,
            tokenizer,
            eval_rows,
            reward_funcs,
            reward_weights,
            config.eval,
            max_new_tokens=max_new_tokens,
            seed=config.grpo.seed,
        )

    return held_out_accuracy


def build_trainer(config, model, tokenizer, train_dataset, reward_funcs, run):
    """TRL's GRPOTrainer plus rlvr's curriculum filters and audit log, for this run."""
    from trl import get_peft_config

    from rlvr.trainer import CurriculumGRPOTrainer

    return CurriculumGRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=config.grpo,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(config.model),
        curricula=config.curricula,
        run_id=run.run_id,
        run_identity=run.checkpoint_identity(),
    )


def add_held_out_callback(trainer, held_out_accuracy, error_log, every_steps, accuracy_before, eval_rows):
    """Held-out accuracy also goes through the trainer's logging (report_to backends): at step 0,
    every ``every_steps`` steps and at the final step. Returns the callback (added to the trainer
    only when there are held-out rows)."""
    from curricula.audit import EVAL_AFTER, EVAL_DURING, TRAIN
    from rlvr.evaluate import HeldOutEvalCallback

    def accuracy_in_training(policy) -> dict[str, float]:
        # Verifier errors of the final step's measurement belong to the evaluation after training;
        # those of one during training carry its step (so --resume rewinds them with it).
        error_log.phase = EVAL_AFTER if eval_callback.measuring_after else EVAL_DURING
        try:
            return held_out_accuracy(policy)
        finally:
            error_log.phase = TRAIN

    eval_callback = HeldOutEvalCallback(trainer, accuracy_in_training, every_steps, accuracy_before)
    if eval_rows:
        trainer.add_callback(eval_callback)
    return eval_callback


def train_and_save(trainer, error_log, checkpoint, output_dir: Path) -> float:
    """Train (from ``checkpoint`` when resuming: filter state and audit log continue with it) and
    save the final model to ``output_dir/final``; returns the training time in seconds."""
    from curricula.audit import EVAL_AFTER, TRAIN

    error_log.phase = TRAIN
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    train_seconds = time.perf_counter() - started
    error_log.phase = EVAL_AFTER
    trainer.save_model(str(output_dir / "final"))
    return train_seconds


def accuracy_after_training(trainer, eval_callback, held_out_accuracy) -> dict[str, float]:
    """Held-out accuracy after training: the final step's measurement, or a new one if that step
    took none."""
    if eval_callback.after_step == trainer.state.global_step:
        return eval_callback.after  # measured (and logged) at the final step
    # no step ran (resumed at the end) or a later callback stopped the run
    return held_out_accuracy(trainer.accelerator.unwrap_model(trainer.model))


def build_summary(trainer, model_path: str, train_seconds: float, accuracy_before, accuracy_after, verifier_errors):
    """The run's summary: steps, reward start -> end, held-out accuracy before -> after, verifier
    errors, and the curricula's own figures."""
    rewards = [log["reward"] for log in trainer.state.log_history if "reward" in log]
    summary = {
        "model": model_path,
        "steps": trainer.state.global_step,
        "train_seconds": round(train_seconds, 1),
        "reward_start": rewards[0] if rewards else None,
        "reward_end": rewards[-1] if rewards else None,
        "accuracy_before": accuracy_before,
        "accuracy_after": accuracy_after,
        "verifier_errors": verifier_errors,
    }
    summary.update(trainer.curriculum_summary())
    return summary


def write_summary_files(summary: dict, trainer, output_dir: Path, state) -> None:
    """Each process's exclusion set (with the frontier filter on), then summary.json and the printed
    summary (main process)."""
    from rlvr.evaluate import format_accuracy_table

    if trainer.frontier is not None:
        # Every process writes the exclusion set it holds, so distributed runs can be checked
        # for agreement (the decisions must be identical on all ranks).
        excluded = sorted(trainer.frontier.excluded_ids())
        (output_dir / f"excluded.rank{state.process_index}.json").write_text(json.dumps(excluded))
    if state.is_main_process:
        (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        print_summary(summary, format_accuracy_table, trainer)


def write_bad_rows(bad_rows: list, path: Path) -> None:
    """Write the rows ``skip_bad_rows`` skipped, each with its reason, to ``bad_rows.jsonl`` (once
    per run: a resumed run writes the same rows again)."""
    with open(path, "w") as f:
        for bad in bad_rows:
            f.write(json.dumps(bad.to_record()) + "\n")
    logger.warning("Skipped %d bad row(s); see %s", len(bad_rows), path)


def print_summary(summary: dict, format_accuracy_table, trainer) -> None:
    def fmt(x):
        return "n/a" if x is None else f"{x:.3f}"

    print("\n=== rlvr summary ===", flush=True)
    print(f"steps: {summary['steps']} in {summary['train_seconds']} s", flush=True)
    print(f"reward (first -> last logged): {fmt(summary['reward_start'])} -> {fmt(summary['reward_end'])}")
    if summary["accuracy_before"]:
        print("held-out accuracy per skill:")
        print(format_accuracy_table(summary["accuracy_before"], summary["accuracy_after"]))
    if summary["verifier_errors"]:
        print(f"verifier errors: {summary['verifier_errors']} (see verifier_errors.rank*.jsonl)")
    report = trainer.curriculum_report()
    if report:
        print(report)
    sys.stdout.flush()


if __name__ == "__main__":  # the command line is rlvr/cli/train.py (importing it here would be a cycle)
    raise SystemExit(
        "python -m rlvr.train is now: rlvr train --config FILE (or, under accelerate: "
        "accelerate launch scripts/train_grpo.py --config FILE)"
    )
