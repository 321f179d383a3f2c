"""The GRPO recipe: config -> model -> data -> verifiers -> trainer -> train -> summary.

Read top to bottom; each step is one call. The same function runs under ``rlvr train`` (one
process) and ``accelerate launch scripts/train_grpo.py`` (any number of processes).
"""

from __future__ import annotations

import os

# Before transformers / huggingface_hub are imported: runs are offline unless the user says
# otherwise (models and data come from local paths or the local cache).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
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
                        help="Resume from a checkpoint directory, or from the latest in grpo.output_dir (no value).")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")
    return parser


def load_model_and_tokenizer(config):
    """The policy and its tokenizer from a local path or the Hub; ``toy`` builds the toy world."""
    tokenizer, path = load_tokenizer(config)
    return load_model(config, path), tokenizer, path


def load_tokenizer(config):
    """The tokenizer and the resolved model path (``toy`` builds the toy world): all the data
    checks need, so they run before the weights load."""
    from transformers import AutoTokenizer

    path = config.model.model_name_or_path
    if path == "toy":
        from rlvr.toy import build_toy_world

        path = str(build_toy_world(seed=config.data.toy_seed))
    # TRL 1.16's ModelConfig has no trust_remote_code field; GRPOConfig does.
    trust_remote_code = bool(getattr(config.grpo, "trust_remote_code", False))
    tokenizer = AutoTokenizer.from_pretrained(path, revision=config.model.model_revision,
                                              trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, path


def load_model(config, path):
    import torch
    from transformers import AutoModelForCausalLM

    dtype = config.model.dtype
    dtype = dtype if dtype in (None, "auto") else getattr(torch, dtype)
    return AutoModelForCausalLM.from_pretrained(
        path, revision=config.model.model_revision, dtype=dtype,
        trust_remote_code=bool(getattr(config.grpo, "trust_remote_code", False)),
        attn_implementation=config.model.attn_implementation,
    )


def main(argv: list[str] | None = None) -> dict:
    args = build_arg_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # 1. Config: YAML sections + dotted overrides; unknown keys are errors.
    from rlvr.config import config_to_dict, load_config

    config = load_config(args.config, args.overrides)
    output_dir = Path(config.grpo.output_dir)

    from accelerate import PartialState
    from trl import get_peft_config

    state = PartialState()
    if state.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        import yaml

        (output_dir / "rlvr_config.yaml").write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))

    # 2. Tokenizer (the toy world is built once and cached); the weights load after the data checks.
    tokenizer, model_path = load_tokenizer(config)

    # 3. Data: every row validated, every prompt checked against the model's context, enough rows
    #    for one generation batch, all before the model loads.
    from rlvr.data import load_run_data

    train, held_out = load_run_data(config, tokenizer, model_path)
    eval_rows = held_out.dataset.to_list() if held_out is not None else None
    bad_rows = train.bad_rows + (held_out.bad_rows if held_out is not None else [])
    if bad_rows and state.is_main_process:
        with open(output_dir / "bad_rows.jsonl", "a") as f:
            for bad in bad_rows:
                f.write(json.dumps(bad.to_record()) + "\n")
        logger.warning("Skipped %d bad row(s); see %s", len(bad_rows), output_dir / "bad_rows.jsonl")
    model = load_model(config, model_path)

    # 4. Verifiers -> TRL reward functions; a failing verifier costs one reward, never the run.
    from rewards import make_reward_funcs
    from rlvr.audit import JsonlWriter

    error_log = JsonlWriter(output_dir / f"verifier_errors.rank{state.process_index}.jsonl")
    reward_funcs, reward_weights = make_reward_funcs(config.verifiers, error_sink=error_log.write_record)
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
    )

    # 7. Train (optionally resuming: filter state and audit log continue with the checkpoint).
    resume = args.resume
    if resume == "auto":
        from transformers.trainer_utils import get_last_checkpoint

        resume = get_last_checkpoint(str(output_dir))
        if resume is None:
            logger.info("No checkpoint in %s; starting from scratch.", output_dir)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    train_seconds = time.perf_counter() - started
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
