"""Setup shared by the rlvr tests: a tiny GRPO run's settings and rewards, and the commands that
run `rlvr train` and two-process launches from the checkout.

Plain functions, not fixtures: tests import them (``from tests.rlvr.conftest import ...``), and so
do the scripts that `accelerate launch` starts (their launcher puts the checkout on PYTHONPATH)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOY_CONFIG = "configs/toy.yaml"
HOPELESS = {"p0", "p1"}  # the prompts `frontier_reward` never rewards


def frontier_reward(prompts, completions, id, **kw):
    # p0/p1 never succeed (dropped as too hard); the rest on about half their completions.
    return [0.0 if pid in HOPELESS else float(len(c) % 2 == 0) for pid, c in zip(id, completions)]


def length_reward(completions, **kwargs):
    # Depends on the sampled text, so even a random model gets reward variance (non-zero advantages).
    return [float(len(c) % 2 == 0) for c in completions]


def add2_and_copy(n_per_skill, split="train") -> list[dict]:
    """``n_per_skill`` toy examples of add2 and as many of copy (seed 4), the influence check's rows."""
    from rlvr.toy.tasks import make_examples

    return make_examples("add2", n_per_skill, split, seed=4) + make_examples("copy", n_per_skill, split, seed=4)


def influence_check_trainer(trainer_cls, model, tokenizer, args, check, n_per_skill, **kwargs):
    """``trainer_cls`` (CurriculumGRPOTrainer or a subclass) with the in-training influence check
    ``check``, on `add2_and_copy` (``n_per_skill``) rewarded by `length_reward`."""
    from datasets import Dataset

    train = Dataset.from_list(add2_and_copy(n_per_skill))
    return trainer_cls(
        model=model,
        reward_funcs=[length_reward],
        args=args,
        train_dataset=train,
        processing_class=tokenizer,
        influence_check=check,
        **kwargs,
    )


def tiny_grpo_config(output_dir, **overrides):
    """A `GRPOConfig` for a few steps of a tiny model: groups of 4, fp32, a log every step, nothing
    reported or saved; ``overrides`` replace any of it."""
    from trl import GRPOConfig

    settings = dict(
        output_dir=str(output_dir),
        max_steps=4,
        per_device_train_batch_size=16,
        num_generations=4,
        max_completion_length=6,
        learning_rate=1e-3,
        logging_steps=1,
        report_to="none",
        seed=7,
        bf16=False,
        activation_checkpointing=False,
        save_strategy="no",
    )
    settings.update(overrides)
    return GRPOConfig(**settings)


def rlvr_cli(*args) -> list[str]:
    """The command line of ``python -m rlvr.cli ARGS``."""
    return [sys.executable, "-m", "rlvr.cli", *args]


def rlvr_train_command(out, *overrides, config=TOY_CONFIG) -> list[str]:
    """``rlvr train`` on ``config`` (the toy one unless named) writing to ``out``, with ``overrides``."""
    return rlvr_cli("train", "--config", str(config), f"grpo.output_dir={out}", *overrides)


def two_process_train_command(port, out, *overrides) -> list[str]:
    """scripts/train_grpo.py on the toy config under `accelerate launch` with two CPU processes
    (configs/accelerate/cpu_2proc.yaml), writing to ``out``, with ``overrides``."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "configs/accelerate/cpu_2proc.yaml"]
    script = ["scripts/train_grpo.py", "--config", TOY_CONFIG, f"grpo.output_dir={out}", *overrides]
    return [*launch, "--main_process_port", str(port), *script]


def run_in_checkout(cmd, timeout=600, environ=None, **variables) -> subprocess.CompletedProcess:
    """``cmd`` run from the checkout's root, its output captured as text. Its environment is
    ``environ`` (this process's unless given) with ``variables`` set on top."""
    env = {**(os.environ if environ is None else environ), **variables}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def run_two_gloo_processes(script, port, *args, timeout) -> subprocess.CompletedProcess:
    """``script`` (a path under the checkout) in two processes joined by gloo on CPU.

    ``accelerate launch --cpu --num_processes 2`` starts a single process in accelerate 1.15
    (multi-CPU needs mpirun), so the processes come from its torchrun launcher (``--multi_gpu``)."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command = [*launch, "--main_process_port", str(port), str(ROOT / script), *args]
    return run_in_checkout(command, timeout, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
