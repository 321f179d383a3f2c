"""One run per output directory (rlvr/run_dir.py): refusing a previous run's directory, what
--overwrite deletes, refusing another config's or run's checkpoint, rewinding the error logs."""

import json

import pytest

from curricula.audit import EVAL_AFTER, TRAIN, VerifierErrorLog, rewind_verifier_errors
from rewards import VerifierError
from rlvr.run_dir import RunDirError, fingerprint, fingerprint_config, plan_run_dir, prepare_run_dir, run_files

CONFIG = {
    "model": {"model_name_or_path": "toy"},
    "data": {"train": "toy", "toy_n_per_skill": 16},
    "verifiers": [{"name": "exact"}],
    "eval": {"max_prompts_per_skill": 64},
    "curricula": {"frontier": {"low": 0.15}},
    "grpo": {"output_dir": "runs/a", "max_steps": 60, "learning_rate": 1e-4, "logging_steps": 5},
}


def with_changes(**changes):
    config = json.loads(json.dumps(CONFIG))
    for key, value in changes.items():
        section, field = key.split("__")
        config[section][field] = value
    return config


def fake_checkpoint(run_dir, step, run_id, config):
    """A checkpoint folder as rlvr.trainer writes it (only the files run_dir reads)."""
    folder = run_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    fields = fingerprint_config(config)
    identity = {"run_id": run_id, "fingerprint": fingerprint(fields), "config": fields}
    (folder / "rlvr_curriculum_state.json").write_text(json.dumps({"run_id": run_id, "run": identity}))
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def test_fingerprint_ignores_length_paths_and_logging_but_not_training_fields():
    base = fingerprint(fingerprint_config(CONFIG))
    assert (
        fingerprint(
            fingerprint_config(
                with_changes(
                    grpo__max_steps=120,
                    grpo__output_dir="elsewhere",
                    grpo__logging_steps=1,
                    eval__max_prompts_per_skill=4,
                )
            )
        )
        == base
    )
    assert fingerprint(fingerprint_config(with_changes(grpo__learning_rate=1e-3))) != base
    assert fingerprint(fingerprint_config(with_changes(data__toy_n_per_skill=2))) != base


def test_new_run_refuses_a_previous_runs_directory_and_overwrite_deletes_only_its_files(tmp_path):
    prepare_run_dir(tmp_path, CONFIG)
    owner = json.loads((tmp_path / "rlvr_run.json").read_text())
    (tmp_path / "audit.jsonl").write_text("{}\n")
    fake_checkpoint(tmp_path, 4, owner["run_id"], CONFIG)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "README.md").write_text("---\ntags:\n- generated_from_trainer\n---\n# Model card")
    with pytest.raises(RunDirError) as refused:
        plan_run_dir(tmp_path, CONFIG)
    message = str(refused.value)
    assert f"holds a previous run's files of run {owner['run_id']}" in message
    assert "README.md, audit.jsonl, checkpoint-4/, rlvr_config.yaml, rlvr_run.json" in message
    assert "--overwrite" in message and "--resume" in message

    run = prepare_run_dir(tmp_path, CONFIG, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "rlvr_config.yaml", "rlvr_run.json"]
    assert run.run_id != owner["run_id"] and not run.resumed
    # A README.md of the user's own is not a run file.
    (tmp_path / "README.md").write_text("# my experiment")
    assert [p.name for p in run_files(tmp_path)] == ["rlvr_config.yaml", "rlvr_run.json"]


def test_resume_refuses_a_checkpoint_of_another_config_naming_both_unless_forced(tmp_path, caplog):
    run = prepare_run_dir(tmp_path, CONFIG)
    fake_checkpoint(tmp_path, 4, run.run_id, CONFIG)
    changed = with_changes(data__toy_n_per_skill=2, grpo__max_steps=90)
    with pytest.raises(RunDirError) as refused:
        plan_run_dir(tmp_path, changed, resume="auto")
    theirs, ours = fingerprint(fingerprint_config(CONFIG)), fingerprint(fingerprint_config(changed))
    assert str(refused.value).startswith(
        f"Checkpoint {tmp_path / 'checkpoint-4'} was written with another config "
        f"(fingerprint {theirs}, this config {ours}: data.toy_n_per_skill: 16 -> 2)."
    )
    assert "--force" in str(refused.value)
    forced = prepare_run_dir(tmp_path, changed, resume="auto", force=True)
    assert forced.checkpoint == str(tmp_path / "checkpoint-4") and forced.run_id == run.run_id
    assert "Resuming anyway (--force)" in caplog.text
    # Same config, longer run: accepted.
    resumed = plan_run_dir(tmp_path, with_changes(grpo__max_steps=90), resume="auto").run
    assert (resumed.checkpoint_step, resumed.run_id) == (4, run.run_id)
    # A checkpoint already at max_steps: nothing to train (transformers would train one step more).
    with pytest.raises(RunDirError, match="is at step 4 and grpo.max_steps=4: the run is already trained that far"):
        plan_run_dir(tmp_path, with_changes(grpo__max_steps=4), resume="auto")


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path):
    other = tmp_path / "other"
    checkpoint = fake_checkpoint(other, 8, "run-A", CONFIG)
    mine = tmp_path / "mine"
    run = prepare_run_dir(mine, CONFIG)
    with pytest.raises(RunDirError, match=f"belongs to run run-A, but {mine} holds run {run.run_id}"):
        plan_run_dir(mine, CONFIG, resume=str(checkpoint))
    # A checkpoint that records no fingerprint (older rlvr) cannot be checked: refused too.
    (checkpoint / "rlvr_curriculum_state.json").write_text(json.dumps({"run_id": "run-A"}))
    with pytest.raises(RunDirError, match="records no run fingerprint"):
        plan_run_dir(other, CONFIG, resume=str(checkpoint))
    with pytest.raises(RunDirError, match="no such checkpoint directory"):
        plan_run_dir(mine, CONFIG, resume=str(tmp_path / "nope"))


def error(prompt_id):
    return VerifierError(
        verifier="exact", prompt_id=prompt_id, kind="raised", exception_type="ValueError", message="boom"
    )


def test_verifier_error_log_records_phase_and_step_and_rewinds_to_a_checkpoint(tmp_path):
    path = tmp_path / "verifier_errors.rank0.jsonl"
    log = VerifierErrorLog(path)
    step = {"now": 0}
    log.step_of = lambda: step["now"]
    log.write_error(error("e0"))  # evaluation before training
    log.phase = TRAIN
    for step["now"] in range(6):
        log.write_error(error(f"p{step['now']}"))
    log.phase = EVAL_AFTER
    log.write_error(error("e1"))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["prompt_id"], r["phase"], r["step"]) for r in records[:2]] == [
        ("e0", "eval_before", None),
        ("p0", "train", 0),
    ]
    assert records[-1] == {
        "verifier": "exact",
        "prompt_id": "e1",
        "kind": "raised",
        "exception_type": "ValueError",
        "message": "boom",
        "phase": "eval_after",
        "step": None,
    }

    assert rewind_verifier_errors(tmp_path, 4) == 3  # steps 4, 5 and the final evaluation
    assert [json.loads(line)["prompt_id"] for line in path.read_text().splitlines()] == ["e0", "p0", "p1", "p2", "p3"]
    resumed = VerifierErrorLog(path, skip_phases=("eval_before",))
    resumed.write_error(error("e0"))  # the resumed run's repeat of the first evaluation
    assert resumed.count == 5 and len(path.read_text().splitlines()) == 5


def test_an_attempt_that_stopped_before_training_is_replaced_without_overwrite(tmp_path):
    # A data or verifier mistake stops a run after it wrote its config (and maybe bad rows): fixing
    # the mistake and running again must not need --overwrite. A directory where training began
    # (an audit log, a checkpoint) is still refused.
    run_dir = tmp_path / "run"
    first = prepare_run_dir(run_dir, CONFIG)
    (run_dir / "bad_rows.jsonl").write_text('{"line": 3}\n')
    (run_dir / "verifier_errors.rank0.jsonl").write_text("")
    second = prepare_run_dir(run_dir, CONFIG)
    assert second.run_id != first.run_id and not (run_dir / "bad_rows.jsonl").exists()
    (run_dir / "audit.jsonl").write_text("")
    with pytest.raises(RunDirError, match="holds a previous run's files"):
        prepare_run_dir(run_dir, CONFIG)


def test_errors_of_an_evaluation_during_training_carry_its_step_and_rewind_with_it(tmp_path):
    from rlvr.audit import EVAL_DURING

    path = tmp_path / "verifier_errors.rank0.jsonl"
    log = VerifierErrorLog(path)
    log.step_of = lambda: 2
    log.phase = EVAL_DURING
    log.write_error(error("d2"))
    log.step_of = lambda: 4
    log.write_error(error("d4"))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["prompt_id"], r["phase"], r["step"]) for r in records] == [
        ("d2", "eval_during", 2),
        ("d4", "eval_during", 4),
    ]
    assert rewind_verifier_errors(tmp_path, 3) == 1  # the resumed run redoes the evaluation at step 4
    assert [json.loads(line)["prompt_id"] for line in path.read_text().splitlines()] == ["d2"]
