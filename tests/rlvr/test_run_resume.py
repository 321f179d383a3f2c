"""`rlvr train` and its output directory: a resumed run's error logs equal an uninterrupted run's,
a previous run's directory or another run's checkpoint is refused before the model loads, and
models load without the Hub (rlvr does not set HF_HUB_OFFLINE itself)."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from curricula.audit import read_audit
from rlvr.toy.tasks import make_examples
from tests.rlvr.conftest import rlvr_train_command, run_in_checkout

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path) -> Path:
    """The toy config on a JSONL training file with one malformed row, and a verifier that raises
    on odd-length completions (so every phase of the run leaves error records)."""
    rows = [row for skill in ("add1", "add2", "copy", "mul1x2") for row in make_examples(skill, 2, seed=5)]
    rows.insert(3, {"id": "broken-1", "prompt": "1+1=", "skill": "add1"})  # no answer
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = yaml.safe_load((ROOT / "configs/toy.yaml").read_text())
    config["data"].update(train=str(train), skip_bad_rows=True)
    config["verifiers"] = [{"name": str(ROOT / "tests/fixtures/flaky_verifier.py") + ":exact_or_raise"}]
    config["eval"]["max_prompts_per_skill"] = 2
    config["curricula"]["frontier"].update(min_samples=8, low=0.3, high=None, reprobe_interval=None)
    config["grpo"].update(max_steps=6, save_steps=3, per_device_train_batch_size=16, logging_steps=1)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def rlvr_train(config, out, *extra):
    cmd = rlvr_train_command(out, *extra, config=config)
    return run_in_checkout(cmd, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def lines(path):
    return path.read_text().splitlines()


@pytest.mark.slow
def test_resumed_run_has_the_error_logs_of_an_uninterrupted_run(toy_world_path, tmp_path):
    config = write_config(tmp_path)
    reference = tmp_path / "reference"
    done = rlvr_train(config, reference)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    errors = [json.loads(line) for line in lines(reference / "verifier_errors.rank0.jsonl")]
    phases = {r["phase"] for r in errors}
    assert phases == {"eval_before", "train", "eval_after"}, phases
    train_steps = {r["step"] for r in errors if r["phase"] == "train"}
    assert min(train_steps) < 3 <= max(train_steps)  # errors on both sides of checkpoint-3
    assert all(r["kind"] == "raised" and r["message"].startswith("odd-length completion") for r in errors)
    assert [json.loads(line)["row"] for line in lines(reference / "bad_rows.jsonl")] == [3]

    # A run "killed" after step 6: all its files, resumed from checkpoint-3.
    resumed = tmp_path / "resumed"
    shutil.copytree(reference, resumed)
    done = rlvr_train(config, resumed, "--resume", str(resumed / "checkpoint-3"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Verifier error logs rewound to step 3" in done.stderr
    # No record lost or doubled: the same records, in the same order, as the uninterrupted run.
    assert lines(resumed / "verifier_errors.rank0.jsonl") == lines(reference / "verifier_errors.rank0.jsonl")
    assert lines(resumed / "bad_rows.jsonl") == lines(reference / "bad_rows.jsonl")
    assert [{k: v for k, v in r.items() if k != "time"} for r in read_audit(resumed)] == [
        {k: v for k, v in r.items() if k != "time"} for r in read_audit(reference)
    ]
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["verifier_errors"] == len(errors)


def test_checks_run_before_the_model_loads(tmp_path, monkeypatch):
    import rlvr.train
    from rlvr.cli.train import train
    from rlvr.run_dir import RunDirError

    def no_model(config, path):
        raise AssertionError("the model was loaded before the output directory was checked")

    monkeypatch.setattr(rlvr.train, "load_model", no_model)
    out = tmp_path / "run"
    argv = ["--config", "configs/toy.yaml", f"grpo.output_dir={out}"]
    monkeypatch.chdir(ROOT)
    with pytest.raises(AssertionError, match="the model was loaded"):  # an empty directory: accepted
        train(argv)
    (out / "audit.jsonl").write_text('{"run_id": "older"}\n')
    with pytest.raises(RunDirError, match="holds a previous run's files"):
        train(argv)
    assert lines(out / "audit.jsonl") == ['{"run_id": "older"}']  # nothing touched
    checkpoint = out / "checkpoint-2"
    checkpoint.mkdir()
    (checkpoint / "rlvr_curriculum_state.json").write_text(json.dumps({"run_id": "older"}))
    with pytest.raises(RunDirError, match="records no run fingerprint"):
        train(argv + ["--resume"])


def test_a_hub_name_that_cannot_load_says_how_to_use_a_local_copy():
    from rlvr.config import load_config
    from rlvr.train import ModelNotFoundError, load_model_and_tokenizer

    assert os.environ["HF_HUB_OFFLINE"] == "1"  # tests/conftest.py: fails at once instead of retrying
    name = "rlvr-test-no-such-org/no-such-model-0"
    config = load_config(ROOT / "configs/toy.yaml", [f"model.model_name_or_path={name}"])
    with pytest.raises(ModelNotFoundError) as err:
        load_model_and_tokenizer(config)
    message = str(err.value)
    assert message.startswith(f"Cannot load model '{name}' (We couldn't connect to 'https://huggingface.co'")
    assert "model.model_name_or_path=/path/to/local/model" in message
    assert f"`hf download {name}`" in message and "HF_HUB_OFFLINE=1" in message
    missing = load_config(ROOT / "configs/toy.yaml", ["model.model_name_or_path=/no/such/model/dir"])
    with pytest.raises(ModelNotFoundError, match="model.model_name_or_path=/no/such/model/dir: no such directory"):
        load_model_and_tokenizer(missing)


SITE = textwrap.dedent("""
    import socket

    def no_network(host, *args, **kwargs):
        raise AssertionError(f"network look-up of {host!r}")

    socket.getaddrinfo = no_network
""")


@pytest.mark.slow
def test_toy_run_neither_sets_hf_hub_offline_nor_reaches_for_the_network(toy_world_path, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITE)  # any DNS look-up fails loudly
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(PYTHONPATH=f"{tmp_path / 'site'}{os.pathsep}{ROOT}", OMP_NUM_THREADS="1")
    probe = "import os, rlvr.train, rlvr.cli; print(os.environ.get('HF_HUB_OFFLINE'))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "None", done.stderr[-2000:]
    cmd = rlvr_train_command(tmp_path / "run", "grpo.max_steps=2", "eval.max_prompts_per_skill=2")
    done = run_in_checkout(cmd, environ=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "network look-up" not in done.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 2


def test_the_frontier_state_is_checkpointed_as_arrays_and_an_old_json_checkpoint_still_loads(tmp_path):
    from dataclasses import asdict

    from curricula.base import GroupResult
    from curricula.config import FrontierConfig
    from curricula.controller import CurriculumController
    from curricula.frontier import FrontierFilter
    from rlvr.checkpoint import FRONTIER_FILE, STATE_FILE, load_curriculum_state, save_curriculum_state

    ids = [f"p{i}" for i in range(6)]
    config = FrontierConfig(enabled=True, min_samples=8, low=0.3, reprobe_interval=2, skip_zero_variance=True)
    frontier = FrontierFilter(config, ids)
    for step in range(3):
        frontier.observe([GroupResult("p1", [0.0] * 8), GroupResult("p2", [1.0] * 8)], step, 0.0)
    save_curriculum_state(tmp_path, CurriculumController(frontier), "run-A")
    assert "frontier" not in json.loads((tmp_path / STATE_FILE).read_text())  # arrays only, in the .npz
    restored = FrontierFilter(config, ids)
    load_curriculum_state(tmp_path, CurriculumController(restored))
    assert restored.all_stats() == frontier.all_stats() and restored.explore == frontier.explore
    assert restored.excluded_ids() == ["p1"] and restored.counts() == frontier.counts()

    old = tmp_path / "old"  # a checkpoint written before the arrays: the table in the JSON state
    old.mkdir()
    table = {pid: asdict(s) for pid, s in frontier.all_stats().items()}
    state = {"run_id": "run-A", "frontier": {"table": table, "floor_warned": False, "explore": frontier.explore}}
    (old / STATE_FILE).write_text(json.dumps(state))
    from_old = FrontierFilter(config, ids)
    load_curriculum_state(old, CurriculumController(from_old))
    assert from_old.all_stats() == frontier.all_stats() and from_old.wants_probe("p1", 9)
    (old / STATE_FILE).write_text(json.dumps({"run_id": "run-A"}))
    with pytest.raises(FileNotFoundError, match=f"{FRONTIER_FILE} is missing"):
        load_curriculum_state(old, CurriculumController(FrontierFilter(config, ids)))
