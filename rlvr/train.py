"""The GRPO recipe: config -> model -> data -> verifiers -> trainer -> train -> summary.

Read top to bottom; each step is one call. The same function runs under ``rlvr train`` (one
process) and ``accelerate launch scripts/train_grpo.py`` (any number of processes).
"""

from __future__ import annotations

import os

# Before transformers / huggingface_hub are imported. HF_HUB_OFFLINE is left to the user: a Hub
# model name needs the Hub (or a cache filled beforehand, with HF_HUB_OFFLINE=1); local paths never
# reach for it (see `load_model_and_tokenizer`).
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

logger = logging.getLogger("rlvr")


def build_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlvr train",
        description="Train a policy with GRPO (TRL) and rlvr's curriculum filters.",
        epilog="Overrides: section.key=value, e.g. grpo.max_steps=5 data.train=prompts.jsonl",
    )
    parser.add_argument("--config", required=True, help="YAML run config (see configs/toy.yaml).")
    parser.add_argument("--resume", nargs="?", const="auto", default=None,
                        help="Resume from a checkpoint directory, or from the latest in grpo.output_dir (no value). "
                             "Refuses a checkpoint of another config or run (see --force).")
    parser.add_argument("--overwrite", action="store_true",
                        help="Start anew in an output directory that holds a previous run: delete that run's files "
                             "(checkpoints, audit and error logs, summary, final model; see rlvr/run_dir.py).")
    parser.add_argument("--force", action="store_true",
                        help="With --resume: resume from a checkpoint even if another config or run wrote it.")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")
    return parser


class ModelNotFoundError(ValueError):
    """The model could not be loaded from the path or Hub name given (with how to fix it)."""


def load_model_and_tokenizer(config):
    """The policy and its tokenizer from a local path or the Hub; ``toy`` builds the toy world.

    A local directory is read with ``local_files_only`` (no Hub call, online or not); a Hub name
    that cannot be fetched raises `ModelNotFoundError` saying how to point at a local copy.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = config.model.model_name_or_path
    if path == "toy":
        from rlvr.toy import build_toy_world

        path = str(build_toy_world(seed=config.data.toy_seed))
    if not os.path.isdir(path) and (path.startswith(("/", ".", "~")) or path.count("/") > 1):
        # Not a Hub name (org/name) either: say so rather than let the Hub reject the "repo id".
        raise ModelNotFoundError(f"model.model_name_or_path={path}: no such directory.")
    # TRL 1.16's ModelConfig has no trust_remote_code field; GRPOConfig does.
    common = {"revision": config.model.model_revision,
              "trust_remote_code": bool(getattr(config.grpo, "trust_remote_code", False)),
              "local_files_only": os.path.isdir(path)}
    dtype = config.model.dtype
    dtype = dtype if dtype in (None, "auto") else getattr(torch, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **common)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **common,
                                                     attn_implementation=config.model.attn_implementation)
    except OSError as err:
        raise ModelNotFoundError(_model_hint(path, err)) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, path


def _model_hint(path: str, err: OSError) -> str:
    """What to do when a model cannot be loaded (transformers' own message says only "couldn't connect")."""
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if os.path.isdir(path):
        return f"Cannot load the model in local directory {path}: {first_line}"
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return (f"Cannot load model '{path}' ({first_line}). It is not a local directory, so it is looked up on the "
            "Hugging Face Hub" + (" cache only (HF_HUB_OFFLINE is set)" if offline else "") + ". Either point "
            "at a local copy: model.model_name_or_path=/path/to/local/model; or download it once where the Hub "
            f"is reachable: `hf download {path}` (fills the cache; then HF_HUB_OFFLINE=1 runs from it) or "
            f"`hf download {path} --local-dir /path/to/local/model`; or check the name and "
            "model.model_revision.")


def main(argv: list[str] | None = None) -> dict:
    args = build_arg_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # 1. Config: YAML sections + dotted overrides; unknown keys are errors.
    from rlvr.config import config_to_dict, load_config

    config = load_config(args.config, args.overrides)
    output_dir = Path(config.grpo.output_dir)

    from accelerate import PartialState
    from trl import get_peft_config

    from rlvr.run_dir import prepare_run_dir

    state = PartialState()
    # One run per output directory; --resume takes only this run's checkpoints (rlvr/run_dir.py).
    run = prepare_run_dir(output_dir, config_to_dict(config), args.resume, args.overwrite, args.force, state)

    # 2. Model and tokenizer (the toy world is built once and cached).
    model, tokenizer, model_path = load_model_and_tokenizer(config)

    # 3. Data: every row validated before training starts.
    from rlvr.data import load_prompts

    train = load_prompts(config.data.train, config.data, split="train")
    eval_rows = None
    if config.data.eval and config.eval.enabled:
        eval_rows = load_prompts(config.data.eval, config.data, split="eval").dataset.to_list()
    if train.bad_rows and state.is_main_process:
        with open(output_dir / "bad_rows.jsonl", "w") as f:  # once per run: a resume writes the same rows
            for bad in train.bad_rows:
                f.write(json.dumps({"source": bad.source, "row": bad.row, "field": bad.field,
                                    "problem": bad.problem, "values": bad.values}) + "\n")
        logger.warning("Skipped %d malformed row(s) of %s; see %s", len(train.bad_rows), train.source,
                       output_dir / "bad_rows.jsonl")

    # 4. Verifiers -> TRL reward functions; a failing verifier costs one reward, never the run.
    from rewards import make_reward_funcs
    from rlvr.audit import EVAL_AFTER, EVAL_BEFORE, TRAIN, VerifierErrorLog

    # A resumed run keeps the first run's records of the evaluation before training (rewound above).
    error_log = VerifierErrorLog(output_dir / f"verifier_errors.rank{state.process_index}.jsonl",
                                 skip_phases=(EVAL_BEFORE,) if run.resumed else ())
    reward_funcs, reward_weights = make_reward_funcs(config.verifiers, error_sink=error_log.write_error)
    config.grpo.reward_weights = reward_weights

    # 5. Held-out accuracy before training (main process; the model is the same everywhere).
    from rlvr.evaluate import evaluate_skills, format_accuracy_table

    max_new_tokens = config.eval.max_new_tokens or config.grpo.max_completion_length

    def held_out_accuracy(policy) -> dict[str, float]:
        if not eval_rows or not state.is_main_process:
            return {}
        return evaluate_skills(policy, tokenizer, eval_rows, reward_funcs, reward_weights, config.eval,
                               max_new_tokens=max_new_tokens, seed=config.grpo.seed)

    accuracy_before = held_out_accuracy(model)

    # 6. The trainer: TRL's GRPOTrainer plus rlvr's curriculum filters and audit log.
    from rlvr.trainer import CurriculumGRPOTrainer

    trainer = CurriculumGRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=config.grpo,
        train_dataset=train.dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(config.model),
        curricula=config.curricula,
        run_id=run.run_id,
        run_identity=run.checkpoint_identity(),
    )
    error_log.step_of = lambda: trainer.state.global_step

    # 7. Train (optionally resuming: filter state and audit log continue with the checkpoint).
    error_log.phase = TRAIN
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=run.checkpoint)
    train_seconds = time.perf_counter() - started
    error_log.phase = EVAL_AFTER
    trainer.save_model(str(output_dir / "final"))

    # 8. Summary: steps, reward start -> end, held-out accuracy before -> after.
    accuracy_after = held_out_accuracy(trainer.accelerator.unwrap_model(trainer.model))
    rewards = [log["reward"] for log in trainer.state.log_history if "reward" in log]
    summary = {
        "model": model_path,
        "steps": trainer.state.global_step,
        "train_seconds": round(train_seconds, 1),
        "reward_start": rewards[0] if rewards else None,
        "reward_end": rewards[-1] if rewards else None,
        "accuracy_before": accuracy_before,
        "accuracy_after": accuracy_after,
        "verifier_errors": error_log.count,
    }
    summary.update(trainer.curriculum_summary())
    if trainer.frontier is not None:
        # Every process writes the exclusion set it holds, so distributed runs can be checked
        # for agreement (the decisions must be identical on all ranks).
        excluded = sorted(pid for pid in trainer.frontier.table if trainer.frontier.is_excluded(pid))
        (output_dir / f"excluded.rank{state.process_index}.json").write_text(json.dumps(excluded))
    if state.is_main_process:
        (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        print_summary(summary, format_accuracy_table, trainer)
    # Leave the process group cleanly (exiting with a live gloo group can abort at teardown).
    state.wait_for_everyone()
    state.destroy_process_group()
    return summary


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


if __name__ == "__main__":
    main()
