"""`rlvr train` end to end on the toy world, in subprocesses: a short run, a run killed and
resumed, and a two-process `accelerate launch`."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlvr.audit import read_audit

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["data.toy_n_per_skill=2", "eval.max_prompts_per_skill=4", "grpo.num_generations=8",
         "grpo.logging_steps=1", "curricula.frontier.min_samples=8", "curricula.frontier.low=0.3",
         "curricula.frontier.high=null", "curricula.frontier.reprobe_interval=null"]


def rlvr_train(out, *overrides, resume=False, wait=True):
    cmd = [sys.executable, "-m", "rlvr.cli", "train", "--config", "configs/toy.yaml",
           f"grpo.output_dir={out}", *SMALL, *overrides] + (["--resume"] if resume else [])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


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


def test_killed_run_resumes_with_audit_and_filter_state_intact(toy_world_path, tmp_path):
    # Pre-rollout skipping on too: its coins and streaks must replay identically after a resume.
    common = ["grpo.max_steps=10", "grpo.save_steps=4", "grpo.per_device_train_batch_size=16",
              "curricula.frontier.skip_zero_variance=true", "curricula.frontier.skip_explore=0.2"]
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
    state = json.loads((run / "checkpoint-8" / "rlvr_curriculum_state.json").read_text())
    reference_state = json.loads((reference / "checkpoint-8" / "rlvr_curriculum_state.json").read_text())
    assert state["frontier"] == reference_state["frontier"]


@pytest.mark.slow
def test_two_processes_take_identical_decisions_and_write_the_audit_once(toy_world_path, tmp_path, free_port):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "configs/accelerate/cpu_2proc.yaml",
           "--main_process_port", str(free_port),
           "scripts/train_grpo.py", "--config", "configs/toy.yaml", f"grpo.output_dir={tmp_path}", *SMALL,
           "grpo.max_steps=8", "grpo.per_device_train_batch_size=8", "eval.enabled=false", "grpo.save_steps=4",
           # Skipping on too; low=0.35 drops a prompt after one visit of 0/8 (upper bound 0.31), so
           # hopeless prompts are dropped before skipping could hold them back.
           "curricula.frontier.skip_zero_variance=true", "curricula.frontier.skip_explore=0.1",
           "curricula.frontier.low=0.35"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
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
    resume = [c for c in cmd if c != "grpo.max_steps=8"] + ["grpo.max_steps=12", "--resume",
                                                            str(tmp_path / "checkpoint-4")]
    result = subprocess.run(resume, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    resumed = read_audit(tmp_path)
    assert [r["seq"] for r in resumed] == list(range(len(resumed)))
    assert resumed[:len([r for r in records if r["global_step"] < 4])] == [r for r in records if r["global_step"] < 4]
    observed = [r for r in resumed if r["filter"] == "frontier" and r["decision"] != "skipped"]
    steps = sorted({r["global_step"] for r in observed})
    assert steps == list(range(12))  # steps 4..7 redone once, 8..11 new: nothing doubled or lost
    assert all(sum(1 for r in observed if r["global_step"] == s) == 2 for s in steps)
    # Skips are decided on both ranks and recorded once each (by step 12 every prompt came round
    # twice, and a prompt on a streak is skipped 9 times in 10).
    skips = [(r["global_step"], r["prompt_id"]) for r in resumed if r["decision"] == "skipped"]
    assert skips and len(set(skips)) == len(skips)
    assert json.loads((tmp_path / "excluded.rank0.json").read_text()) == \
        json.loads((tmp_path / "excluded.rank1.json").read_text())


def test_offline_frontier_prefilter_drops_the_hopeless_skill(toy_world_path, tmp_path):
    cmd = [sys.executable, "-m", "rlvr.cli", "frontier", "--config", "configs/toy.yaml", "--k", "24",
           "--out", str(tmp_path), "data.toy_n_per_skill=2"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rates = [json.loads(line) for line in (tmp_path / "pass_rates.jsonl").read_text().splitlines()]
    kept = [json.loads(line) for line in (tmp_path / "filtered.jsonl").read_text().splitlines()]
    assert len(rates) == 12
    mul3x3 = [r for r in rates if r["skill"] == "mul3x3"]
    assert [(r["decision"], r["reason"], r["successes"], r["trials"]) for r in mul3x3] == [
        ("dropped", "too_hard", 0, 24)] * 2
    assert not any(row["skill"] == "mul3x3" for row in kept)
    assert {r["id"] for r in rates if r["decision"] != "dropped"} == {row["id"] for row in kept}
    records = read_audit(tmp_path)
    assert len(records) == 12 and records[0]["filter"] == "frontier"
    assert "upper bound 0.12 < 0.15" in next(r["message"] for r in records if r["columns"]["skill"] == "mul3x3")
