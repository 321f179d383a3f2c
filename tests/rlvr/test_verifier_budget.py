"""A broken verifier stops training: in the trainer (gathered counts) and end to end under
`rlvr train` (preflight before training; error budget during training)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from datasets import Dataset

from rewards import VerifierBudgetExceeded, VerifierSpec, make_reward_funcs
from rewards import adapter as adapter_module
from rlvr.toy.model import build_model
from rlvr.toy.tokenizer import build_tokenizer
from rlvr.trainer import CurriculumGRPOTrainer
from tests.rlvr.conftest import rlvr_train_command, run_in_checkout, tiny_grpo_config, two_process_train_command

ROOT = Path(__file__).resolve().parents[2]
BROKEN = "tests/fixtures/broken_verifiers.py"
# The end-to-end runs below: 2 prompts per skill, no held-out evaluation, groups of 8, up to 10 steps.
SHORT_RUN = [
    "data.toy_n_per_skill=2",
    "eval.enabled=false",
    "grpo.num_generations=8",
    "grpo.logging_steps=1",
    "grpo.max_steps=10",
]


def test_trainer_stops_on_gathered_counts_even_when_reward_functions_do_not_raise(
    tmp_path, monkeypatch, one_torch_thread
):
    # As under several processes: the reward function leaves the decision to the trainer.
    monkeypatch.setattr(adapter_module, "_world_size", lambda: 2)
    errors = []
    funcs, _ = make_reward_funcs(
        [VerifierSpec(f"{ROOT}/{BROKEN}:wrong_column", error_rate_min_completions=32)], error_sink=errors.append
    )
    tok = build_tokenizer()
    data = Dataset.from_list([{"id": f"p{i}", "prompt": f"{i}+{i}=", "answer": str(2 * i)} for i in range(8)])
    # learning_rate: GRPOConfig's default (this test never set one)
    args = tiny_grpo_config(tmp_path, max_steps=6, max_completion_length=4, seed=0, learning_rate=1e-6)
    trainer = CurriculumGRPOTrainer(
        model=build_model(tok, seed=0), reward_funcs=funcs, args=args, train_dataset=data, processing_class=tok
    )
    with pytest.raises(VerifierBudgetExceeded, match="'wrong_column' failed on 32 of 32 completions"):
        trainer.train()
    assert trainer.state.global_step == 1  # the second generation batch (32 completions) stopped it
    assert len(errors) == 32


def rlvr_train(out, *overrides):
    cmd = rlvr_train_command(out, *SHORT_RUN, "grpo.per_device_train_batch_size=16", *overrides)
    return run_in_checkout(cmd, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


def warning_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " WARNING " in line]


@pytest.mark.slow
def test_rlvr_train_with_a_verifier_reading_a_missing_column_stops_before_training(toy_world_path, tmp_path):
    result = rlvr_train(tmp_path, f"verifiers.0.name={BROKEN}:wrong_column")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "Verifier 'wrong_column' failed on the gold answer of every probed row (first 8 rows) before "
        "training: raised KeyError: 'solution'. First failing row id="
    ) in output
    assert "answer=" in output and "=== rlvr summary ===" not in output
    assert not (tmp_path / "summary.json").exists() and not (tmp_path / "final").exists()
    assert warning_lines(output) == []


@pytest.mark.slow
def test_rlvr_train_stops_once_a_verifier_is_over_its_error_budget(toy_world_path, tmp_path):
    # Passes the preflight (right on gold answers), then raises KeyError on wrong completions.
    # The warmed-up toy model is right on about half the completions: a 0.2 budget trips surely.
    result = rlvr_train(tmp_path, f"verifiers.0.name={BROKEN}:fails_on_wrong_answers", "verifiers.0.max_error_rate=0.2")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Verifier 'fails_on_wrong_answers' failed on " in output
    assert "raised KeyError x" in output and "('expected')" in output
    assert "=== rlvr summary ===" not in output and not (tmp_path / "final").exists()
    # 64 completions (4 steps of 16) are needed to judge: stopped at the 4th generation batch.
    steps = [json.loads(line.replace("'", '"')) for line in result.stdout.splitlines() if line.startswith("{'loss'")]
    assert len(steps) == 3
    errors = (tmp_path / "verifier_errors.rank0.jsonl").read_text().splitlines()
    assert len(errors) > 32  # every failure recorded, more than half of 64
    # One warning per generation batch from the verifier (plus the preflight's one), not per completion.
    verifier_warnings = [line for line in warning_lines(output) if "rewards." in line]
    assert len(verifier_warnings) == 5, verifier_warnings
    assert "verifier 'fails_on_wrong_answers': " in verifier_warnings[-1]


@pytest.mark.slow
def test_two_processes_stop_together_without_hanging(toy_world_path, tmp_path, free_port):
    # Each process sees 8 completions a step; the budget is judged on the 64 of both after 4 steps.
    cmd = two_process_train_command(
        free_port,
        tmp_path,
        *SHORT_RUN,
        "grpo.per_device_train_batch_size=8",
        f"verifiers.0.name={BROKEN}:fails_on_wrong_answers",
        "verifiers.0.max_error_rate=0.2",
    )
    result = run_in_checkout(cmd, timeout=300, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # Both processes stopped with the same message (no process left waiting in a collective). With
    # two processes the reward functions never raise themselves: this is the trainer's gathered check.
    wanted = "Verifier 'fails_on_wrong_answers' failed on "
    # The ranks share stderr: find each rank's message wherever it starts, up to its first period.
    prefixes = {0: "rlvr train: error: ", 1: "rlvr train [rank 1]: error: "}
    raised = {rank: set(re.findall(re.escape(prefix + wanted) + r"[^.]*", output)) for rank, prefix in prefixes.items()}
    raised = {rank: {text.split(": error: ", 1)[1] for text in found} for rank, found in raised.items()}
    assert len(raised[0]) == 1 and raised[0] == raised[1], output[-3000:]
    assert " of 64 completions" in next(iter(raised[0]))
    assert (tmp_path / "verifier_errors.rank0.jsonl").exists() and (tmp_path / "verifier_errors.rank1.jsonl").exists()
