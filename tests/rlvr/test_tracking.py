"""What reaches TRL's logging (``state.log_history`` and so every ``report_to`` backend): curriculum
levels as their value at the step, and held-out accuracy at step 0, every ``eval.every_steps``
steps and at the end."""

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from datasets import Dataset
from transformers import TrainerCallback

from curricula.config import CurriculaConfig, FrontierConfig
from rlvr.config import EvalConfig
from rlvr.evaluate import HeldOutEvalCallback, evaluate_skills
from rlvr.toy.model import build_model
from rlvr.toy.tokenizer import build_tokenizer
from rlvr.trainer import CurriculumGRPOTrainer
from tests.rlvr.conftest import (
    HOPELESS,
    frontier_reward,
    rlvr_train_command,
    run_in_checkout,
    tiny_grpo_config,
    two_process_train_command,
)

ROOT = Path(__file__).resolve().parents[2]
# The end-to-end runs below: 2 prompts per skill, 2 held-out prompts per skill, groups of 8.
SMALL = ["data.toy_n_per_skill=2", "eval.max_prompts_per_skill=2", "grpo.num_generations=8"]


def rows(n=8):
    return Dataset.from_list(
        [{"id": f"p{i}", "prompt": f"{i}+{i}=", "skill": "hard" if f"p{i}" in HOPELESS else "easy"} for i in range(n)]
    )


class RecordAtStepEnd(TrainerCallback):
    """What the trainer holds at the end of each step, before the step's logging."""

    def __init__(self, trainer):
        self.trainer, self.pool, self.zero_share = trainer, {}, {}

    def on_step_end(self, args, state, control, **kwargs):
        self.pool[state.global_step] = self.trainer.frontier.counts()["active"]
        self.zero_share[state.global_step] = self.trainer._metrics["train"]["curriculum/zero_variance_share"][-1]


def test_pool_size_is_logged_at_the_step_and_rates_stay_averaged(tmp_path):
    tok = build_tokenizer()
    cfg = FrontierConfig(enabled=True, min_samples=8, low=0.3, reprobe_interval=None)
    trainer = CurriculumGRPOTrainer(
        model=build_model(tok, seed=0),
        reward_funcs=[frontier_reward],
        args=tiny_grpo_config(tmp_path, max_steps=9, logging_steps=3),
        train_dataset=rows(8),
        processing_class=tok,
        curricula=CurriculaConfig(frontier=cfg),
    )
    seen = RecordAtStepEnd(trainer)
    trainer.add_callback(seen)
    trainer.train()
    logged = {log["step"]: log for log in trainer.state.log_history if "curriculum/active_pool" in log}
    assert sorted(logged) == [3, 6, 9]
    # Not vacuous: in some logging window the pool shrank (p0 and p1 are dropped at step 5).
    assert any(seen.pool[s - 2] != seen.pool[s] for s in logged), seen.pool
    for step, log in logged.items():
        assert log["curriculum/active_pool"] == seen.pool[step], (step, seen.pool)
        assert log["curriculum/dropped_too_hard"] == 8 - seen.pool[step]
        # A per-step rate is still the window's mean.
        window = [seen.zero_share[s] for s in (step - 2, step - 1, step)]
        assert log["curriculum/zero_variance_share"] == pytest.approx(sum(window) / 3)
    assert [logged[s]["curriculum/active_pool"] for s in (3, 6, 9)] == [8, 6, 6]


def length_reward(prompts, completions, **kw):
    return [float(len(c) % 2 == 0) for c in completions]


class EvaluateAtStepEnd(TrainerCallback):
    """Held-out accuracy measured independently of the callback under test, at each step."""

    def __init__(self, trainer, measure):
        self.trainer, self.measure, self.accuracy = trainer, measure, {}

    def on_step_end(self, args, state, control, **kwargs):
        self.accuracy[state.global_step] = self.measure(self.trainer.model)


def test_held_out_accuracy_is_logged_at_step_0_every_n_steps_and_at_the_end(tmp_path):
    tok = build_tokenizer()
    held_out = [{"prompt": f"{i}{i}+", "skill": "even" if i % 2 else "odd"} for i in range(10)]
    funcs, weights = [length_reward], [1.0]
    config = EvalConfig(temperature=1.0, samples_per_prompt=4, every_steps=2)

    def measure(policy):
        return evaluate_skills(policy, tok, held_out, funcs, weights, config, max_new_tokens=6, seed=3)

    model = build_model(tok, seed=0)
    before = measure(model)
    trainer = CurriculumGRPOTrainer(
        model=model,
        reward_funcs=[length_reward],
        args=tiny_grpo_config(tmp_path, max_steps=5, learning_rate=3e-2),
        train_dataset=rows(8),
        processing_class=tok,
    )
    independent = EvaluateAtStepEnd(trainer, measure)
    trainer.add_callback(independent)
    callback = HeldOutEvalCallback(trainer, measure, every_steps=config.every_steps, before=before)
    trainer.add_callback(callback)
    trainer.train()

    evals = {log["step"]: log for log in trainer.state.log_history if "eval_accuracy/mean" in log}
    assert sorted(evals) == [0, 2, 4, 5]
    expected = {0: before, **{s: independent.accuracy[s] for s in (2, 4, 5)}}
    for step, accuracy in expected.items():
        assert {k: v for k, v in evals[step].items() if k.startswith("eval_accuracy/")} == {
            "eval_accuracy/even": accuracy["even"],
            "eval_accuracy/odd": accuracy["odd"],
            "eval_accuracy/mean": (accuracy["even"] + accuracy["odd"]) / 2,
        }
    assert len({evals[s]["eval_accuracy/mean"] for s in evals}) > 1  # the policy changed: not one value
    assert callback.after == independent.accuracy[5] and callback.after_step == 5
    # The train metrics due at the eval steps are still logged (logging_steps=1).
    assert [log["step"] for log in trainer.state.log_history if "loss" in log] == [1, 2, 3, 4, 5]


def test_evaluation_does_not_move_the_training_rng(tmp_path):
    """An evaluation in the middle of training leaves the run's losses exactly as without it."""
    tok = build_tokenizer()
    held_out = [{"prompt": "12+", "skill": "a"}, {"prompt": "34+", "skill": "b"}]
    config = EvalConfig(temperature=1.0, samples_per_prompt=2)

    def losses(every_steps):
        trainer = CurriculumGRPOTrainer(
            model=build_model(tok, seed=0),
            reward_funcs=[length_reward],
            args=tiny_grpo_config(tmp_path / str(every_steps), max_steps=3),
            train_dataset=rows(8),
            processing_class=tok,
        )

        def measure(policy):
            return evaluate_skills(policy, tok, held_out, [length_reward], [1.0], config, max_new_tokens=4, seed=11)

        if every_steps:
            trainer.add_callback(HeldOutEvalCallback(trainer, measure, every_steps=every_steps))
        trainer.train()
        return [log["loss"] for log in trainer.state.log_history if "loss" in log]

    assert losses(1) == losses(None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: the GPU's RNG state is what is checked")
def test_evaluation_leaves_the_gpu_rng_as_it_found_it():
    tok = build_tokenizer()
    model = build_model(tok, seed=0).to("cuda")
    torch.cuda.manual_seed(5)
    state = torch.cuda.get_rng_state()
    evaluate_skills(
        model,
        tok,
        [{"prompt": "12+", "skill": "a"}],
        [length_reward],
        [1.0],
        EvalConfig(temperature=1.0),
        max_new_tokens=4,
        seed=11,
    )
    assert torch.equal(torch.cuda.get_rng_state(), state)


@pytest.mark.slow
def test_rlvr_train_logs_the_accuracy_that_summary_json_reports(toy_world_path, tmp_path):
    cmd = rlvr_train_command(
        tmp_path,
        *SMALL,
        "grpo.per_device_train_batch_size=16",
        "grpo.max_steps=3",
        "grpo.save_steps=3",
        "eval.every_steps=2",
    )
    result = run_in_checkout(cmd, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    history = json.loads((tmp_path / "checkpoint-3" / "trainer_state.json").read_text())["log_history"]
    evals = {
        log["step"]: {k.removeprefix("eval_accuracy/"): v for k, v in log.items() if k.startswith("eval_accuracy/")}
        for log in history
        if "eval_accuracy/mean" in log
    }
    assert sorted(evals) == [0, 2, 3]
    for step, accuracy in (("before", evals[0]), ("after", evals[3])):
        expected = summary[f"accuracy_{step}"]
        assert len(expected) == 6
        assert accuracy == {**expected, "mean": pytest.approx(sum(expected.values()) / 6)}


@pytest.mark.slow
def test_two_processes_evaluate_during_training_without_desynchronising(toy_world_path, tmp_path, free_port):
    # Rank 0 generates for the held-out set while rank 1 waits for its result: both must come out
    # of every evaluation step in step (a hang here ends in the timeout) and log the same values.
    cmd = two_process_train_command(
        free_port,
        tmp_path,
        *SMALL,
        "grpo.per_device_train_batch_size=8",
        "grpo.max_steps=4",
        "grpo.save_steps=4",
        "grpo.logging_steps=1",
        "eval.every_steps=1",
    )
    result = run_in_checkout(cmd, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    history = json.loads((tmp_path / "checkpoint-4" / "trainer_state.json").read_text())["log_history"]
    evals = {log["step"]: log for log in history if "eval_accuracy/mean" in log}
    assert sorted(evals) == [0, 1, 2, 3, 4]
    assert {
        k.removeprefix("eval_accuracy/"): v
        for k, v in evals[4].items()
        if k.startswith("eval_accuracy/") and k != "eval_accuracy/mean"
    } == summary["accuracy_after"]
    assert [log["step"] for log in history if "loss" in log] == [1, 2, 3, 4]


@pytest.mark.slow
def test_a_resumed_run_logs_each_evaluation_and_its_verifier_errors_once(toy_world_path, tmp_path):
    # A verifier that raises on odd-length completions: every evaluation leaves error records.
    config = yaml.safe_load((ROOT / "configs/toy.yaml").read_text())
    config["verifiers"] = [
        {"name": str(ROOT / "tests/fixtures/flaky_verifier.py") + ":exact_or_raise", "max_error_rate": None}
    ]
    config["data"]["toy_n_per_skill"] = 2
    config["eval"].update(max_prompts_per_skill=2, every_steps=2)
    config["grpo"].update(max_steps=6, save_steps=3, per_device_train_batch_size=16, num_generations=8)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))

    def train(out, *extra):
        cmd = rlvr_train_command(out, *extra, config=tmp_path / "run.yaml")
        done = run_in_checkout(cmd, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    train(reference)
    shutil.copytree(reference, resumed)  # a run "killed" after step 6, resumed from checkpoint-3
    train(resumed, "--resume", str(resumed / "checkpoint-3"))

    def evals(run):
        history = json.loads((run / "checkpoint-6" / "trainer_state.json").read_text())["log_history"]
        return [(log["step"], log["eval_accuracy/mean"]) for log in history if "eval_accuracy/mean" in log]

    assert [step for step, _ in evals(reference)] == [0, 2, 4, 6]
    assert evals(resumed) == evals(reference)
    errors = (reference / "verifier_errors.rank0.jsonl").read_text().splitlines()
    phases = {json.loads(line)["phase"] for line in errors}
    assert phases == {"eval_before", "train", "eval_during", "eval_after"}, phases
    # An evaluation during training records its errors at its step, so the resume rewinds and redoes
    # them with the step: no record lost or doubled.
    assert (resumed / "verifier_errors.rank0.jsonl").read_text().splitlines() == errors
