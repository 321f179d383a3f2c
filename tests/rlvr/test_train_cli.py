"""`rlvr train` end to end on the toy world, in subprocesses: a short run, a run killed and
resumed, and a two-process `accelerate launch`."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from curricula.audit import read_audit
from tests.rlvr.conftest import TOY_CONFIG, rlvr_cli, rlvr_train_command, run_in_checkout, two_process_train_command

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "data.toy_n_per_skill=2",
    "eval.max_prompts_per_skill=4",
    "grpo.num_generations=8",
    "grpo.logging_steps=1",
    "curricula.frontier.min_samples=8",
    "curricula.frontier.low=0.3",
    "curricula.frontier.high=null",
    "curricula.frontier.reprobe_interval=null",
]


def rlvr_train(out, *overrides, resume=False, wait=True):
    cmd = rlvr_train_command(out, *SMALL, *overrides) + (["--resume"] if resume else [])
    if not wait:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return run_in_checkout(cmd, PYTHONUNBUFFERED="1")


def comparable(records):
    return [{k: v for k, v in r.items() if k not in ("time", "run_id")} for r in records]


def test_rlvr_train_runs_end_to_end_and_prints_a_summary(toy_world_path, tmp_path):
    result = rlvr_train(tmp_path, "grpo.max_steps=3", "grpo.per_device_train_batch_size=16")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 3
    assert set(summary["accuracy_before"]) == {"add1", "add2", "copy", "mul1x2", "mul3x3", "sub"}
    assert "=== rlvr summary ===" in result.stdout and "held-out accuracy per skill" in result.stdout
    assert "=== audit: run" in result.stdout
    records = read_audit(tmp_path)
    assert len(records) == 3 * 2  # 3 generation steps x 2 prompts, one frontier record each
    assert (tmp_path / "final" / "config.json").exists()


def test_bad_config_fails_before_training_naming_the_key(tmp_path):
    result = rlvr_train(tmp_path, "grpo.max_stepz=3")
    assert result.returncode != 0
    assert "Unknown key 'grpo.max_stepz'. Did you mean 'max_steps'?" in result.stderr


@pytest.mark.slow
def test_killed_run_resumes_with_audit_and_filter_state_intact(toy_world_path, tmp_path):
    # Pre-rollout skipping on too: its coins and streaks must replay identically after a resume.
    common = [
        "grpo.max_steps=10",
        "grpo.save_steps=4",
        "grpo.per_device_train_batch_size=16",
        "curricula.frontier.skip_zero_variance=true",
        "curricula.frontier.skip_explore=0.2",
        "curricula.audit_flush_seconds=0",  # records reach the file every step: killed past checkpoint-4
    ]
    reference = tmp_path / "reference"
    assert rlvr_train(reference, *common).returncode == 0
    assert any(r["decision"] == "skipped" and r["global_step"] >= 4 for r in read_audit(reference))

    run = tmp_path / "killed"
    proc = rlvr_train(run, *common, wait=False)
    deadline = time.time() + 300
    killed_mid_run = False
    while time.time() < deadline and proc.poll() is None:
        state = run / "checkpoint-4" / "rlvr_curriculum_state.json"
        audit = run / "audit.jsonl"
        if state.exists() and audit.exists() and any(r["global_step"] >= 5 for r in read_audit(audit)):
            proc.send_signal(signal.SIGKILL)
            killed_mid_run = True
            break
        time.sleep(0.05)
    proc.wait()
    assert killed_mid_run, "the run finished before it could be killed"
    assert not (run / "checkpoint-8").exists()
    written_before_kill = len(read_audit(run))

    resumed = rlvr_train(run, *common, resume=True)
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "Audit log rewound to the checkpoint" in resumed.stdout + resumed.stderr
    ours, theirs = read_audit(run), read_audit(reference)
    assert written_before_kill > 8  # records past checkpoint-4 existed and were rewound
    # No record lost or doubled: the resumed log equals an uninterrupted run's, record for record.
    assert comparable(ours) == comparable(theirs)
    assert len({r["run_id"] for r in ours}) == 1
    with (
        np.load(run / "checkpoint-8" / "rlvr_frontier_state.npz") as state,
        np.load(reference / "checkpoint-8" / "rlvr_frontier_state.npz") as reference_state,
    ):
        assert state.files == reference_state.files
        assert all(np.array_equal(state[k], reference_state[k]) for k in state.files)


@pytest.mark.slow
def test_two_processes_take_identical_decisions_and_write_the_audit_once(toy_world_path, tmp_path, free_port):
    cmd = two_process_train_command(
        free_port,
        tmp_path,
        *SMALL,
        "grpo.max_steps=8",
        "grpo.per_device_train_batch_size=8",
        "eval.enabled=false",
        "grpo.save_steps=4",
        # Skipping on too; low=0.35 drops a prompt after one visit of 0/8 (upper bound 0.31), so
        # hopeless prompts are dropped before skipping could hold them back.
        "curricula.frontier.skip_zero_variance=true",
        "curricula.frontier.skip_explore=0.1",
        "curricula.frontier.low=0.35",
    )
    result = run_in_checkout(cmd, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rank0 = json.loads((tmp_path / "excluded.rank0.json").read_text())
    rank1 = json.loads((tmp_path / "excluded.rank1.json").read_text())
    assert rank0 == rank1 and rank0, "ranks disagree, or nothing was dropped (test would be vacuous)"
    records = read_audit(tmp_path)
    assert [r["seq"] for r in records] == list(range(len(records)))
    # Each generation step is recorded once: 2 prompts (16 rows over 2 ranks) per step.
    per_step = {}
    for r in records:
        if r["filter"] == "frontier" and r["decision"] != "skipped":
            per_step.setdefault(r["global_step"], []).append(r["prompt_id"])
    assert sorted(per_step) == list(range(8))
    assert all(len(ids) == 2 for ids in per_step.values())
    dropped = {r["prompt_id"] for r in records if r["decision"] == "dropped"}
    assert dropped == set(rank0) - {r["prompt_id"] for r in records if r["decision"] == "readmitted"}

    # Resume under two processes from checkpoint-4 (of save_steps=4) and run on to step 12.
    assert (tmp_path / "checkpoint-4" / "rlvr_curriculum_state.json").exists()
    resume = [c for c in cmd if c != "grpo.max_steps=8"] + [
        "grpo.max_steps=12",
        "--resume",
        str(tmp_path / "checkpoint-4"),
    ]
    result = run_in_checkout(resume, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    resumed = read_audit(tmp_path)
    assert [r["seq"] for r in resumed] == list(range(len(resumed)))
    assert resumed[: len([r for r in records if r["global_step"] < 4])] == [r for r in records if r["global_step"] < 4]
    observed = [r for r in resumed if r["filter"] == "frontier" and r["decision"] != "skipped"]
    steps = sorted({r["global_step"] for r in observed})
    assert steps == list(range(12))  # steps 4..7 redone once, 8..11 new: nothing doubled or lost
    assert all(sum(1 for r in observed if r["global_step"] == s) == 2 for s in steps)
    # Skips are decided on both ranks and recorded once each (by step 12 every prompt came round
    # twice, and a prompt on a streak is skipped 9 times in 10).
    skips = [(r["global_step"], r["prompt_id"]) for r in resumed if r["decision"] == "skipped"]
    assert skips and len(set(skips)) == len(skips)
    assert json.loads((tmp_path / "excluded.rank0.json").read_text()) == json.loads(
        (tmp_path / "excluded.rank1.json").read_text()
    )


def test_offline_frontier_prefilter_drops_the_hopeless_skill(toy_world_path, tmp_path):
    cmd = rlvr_cli("frontier", "--config", TOY_CONFIG, "--k", "24", "--out", str(tmp_path), "data.toy_n_per_skill=2")
    result = run_in_checkout(cmd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rates = [json.loads(line) for line in (tmp_path / "pass_rates.jsonl").read_text().splitlines()]
    kept = [json.loads(line) for line in (tmp_path / "filtered.jsonl").read_text().splitlines()]
    assert len(rates) == 12
    mul3x3 = [r for r in rates if r["skill"] == "mul3x3"]
    assert [(r["decision"], r["reason"], r["successes"], r["trials"]) for r in mul3x3] == [
        ("dropped", "too_hard", 0, 24)
    ] * 2
    assert not any(row["skill"] == "mul3x3" for row in kept)
    assert {r["id"] for r in rates if r["decision"] != "dropped"} == {row["id"] for row in kept}
    records = read_audit(tmp_path)
    assert len(records) == 12 and records[0]["filter"] == "frontier"
    assert "upper bound 0.12 < 0.15" in next(r["message"] for r in records if r["columns"]["skill"] == "mul3x3")


# --------------------------------------------------------------------------------------------
# A user's mistake is one line on stderr and exit status 2, found before the model loads


def run_command(*args, script=("-m", "rlvr.cli")):
    return run_in_checkout([sys.executable, *script, *args], timeout=300, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")


def test_a_config_mistake_is_one_line_and_exit_2_and_debug_adds_the_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grpo:\n  max_steps: ten\n")
    line = "rlvr train: error: grpo.max_steps: expected an integer, got 'ten'"
    result = run_command("train", "--config", str(bad))
    assert (result.returncode, result.stderr.splitlines()) == (2, [line])
    debug = run_command("train", "--config", str(bad), "--debug")
    assert debug.returncode == 2
    assert debug.stderr.startswith("Traceback (most recent call last)") and "raise _mismatch" in debug.stderr
    assert debug.stderr.splitlines()[-2:] == [f"rewards.config_types.ConfigError: {line.split('error: ')[1]}", line]


def test_the_accelerate_entry_point_reports_a_config_mistake_the_same_way(tmp_path):
    result = run_command("--config", "configs/toy.yaml", "data.skip_bad_rows=maybe", script=("scripts/train_grpo.py",))
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["rlvr train: error: data.skip_bad_rows: expected true or false, got 'maybe'"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.train={tmp}/missing.jsonl", "Data file '{tmp}/missing.jsonl' does not exist."),
        ("verifiers.0.name=exakt", "Unknown verifier 'exakt'. Did you mean 'exact'?"),
    ],
)
def test_data_and_verifier_mistakes_stop_the_run_before_the_model_loads(tmp_path, override, message):
    # The model path does not exist: had the recipe tried to load the model first (as it did),
    # the run would stop on that instead, after the tokenizer and weights of a real model.
    result = run_command(
        "train",
        "--config",
        "configs/toy.yaml",
        f"grpo.output_dir={tmp_path / 'out'}",
        f"model.model_name_or_path={tmp_path / 'no-model'}",
        override.format(tmp=tmp_path),
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("rlvr train: error: " + message.format(tmp=tmp_path))
    assert (tmp_path / "out" / "rlvr_config.yaml").exists()  # the steps before data did run


def test_a_missing_model_is_one_line_naming_the_key(tmp_path):
    result = run_command(
        "train",
        "--config",
        "configs/toy.yaml",
        f"grpo.output_dir={tmp_path}",
        f"model.model_name_or_path={tmp_path / 'no-model'}",
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line == f"rlvr train: error: model.model_name_or_path={tmp_path / 'no-model'}: no such directory."


def test_other_subcommands_report_missing_inputs_in_one_line(tmp_path):
    audit = run_command("audit", str(tmp_path / "no-run"))
    assert (audit.returncode, audit.stderr.splitlines()) == (
        2,
        [f"rlvr audit: error: No audit log at {tmp_path / 'no-run'}."],
    )
    report = run_command("report", str(tmp_path / "results.jsonl"), "--out", str(tmp_path))
    assert (report.returncode, report.stderr.splitlines()) == (
        2,
        [f"rlvr report: error: No such file or directory: '{tmp_path / 'results.jsonl'}'"],
    )
    frontier = run_command("frontier", "--config", "configs/toy.yaml", "--out", str(tmp_path), "--k", "2")
    assert (frontier.returncode, frontier.stderr.splitlines()) == (
        2,
        [
            "rlvr frontier: error: --k 2 is below curricula.frontier.min_samples=16, so no prompt could be dropped; "
            "raise --k or lower min_samples."
        ],
    )


def test_resume_followed_by_an_override_takes_it_as_an_override():
    from rlvr.cli.train import parse_args

    args = parse_args(["--config", "configs/toy.yaml", "--resume", "grpo.output_dir=runs/x", "grpo.max_steps=3"])
    assert (args.resume, args.overrides) == ("auto", ["grpo.output_dir=runs/x", "grpo.max_steps=3"])
    args = parse_args(["--config", "configs/toy.yaml", "--resume", "runs/x/checkpoint-2", "grpo.max_steps=3"])
    assert (args.resume, args.overrides) == ("runs/x/checkpoint-2", ["grpo.max_steps=3"])
