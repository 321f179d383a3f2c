"""The in-training influence check in rlvr's trainer: on a real GRPO batch, its actions, and two
processes agreeing. The check's own pure parts: tests/curricula/test_influence_check.py."""

import json
import logging
import time
from pathlib import Path

import pytest
import torch

from curricula.audit import read_audit
from curricula.influence import InfluenceCheck, InfluenceCheckConfig
from curricula.influence.check import prompts_to_act_on
from rlvr.toy.tokenizer import build_tokenizer
from rlvr.trainer import CurriculumGRPOTrainer
from tests.rlvr.conftest import add2_and_copy, influence_check_trainer, run_two_gloo_processes, tiny_grpo_config

ROOT = Path(__file__).resolve().parents[2]
TARGETS = add2_and_copy(3, "eval")
# These runs' settings where they differ from tiny_grpo_config's; logging_steps is GRPOConfig's
# default (they never set one).
ONE_CPU_RUN = dict(max_completion_length=4, seed=3, use_cpu=True, logging_steps=10)


class Recorder(CurriculumGRPOTrainer):
    """Keeps each batch as TRL produced it, before the check touches it."""

    def _generate_and_filter(self, inputs):
        output = super()._generate_and_filter(inputs)
        self.before = {k: v.clone() for k, v in output.items() if isinstance(v, torch.Tensor)}
        return output


Trainer = Recorder


def make_trainer(tmp_path, tiny_llama, **check):
    tokenizer = build_tokenizer()
    model = tiny_llama(tokenizer)
    settings = dict(enabled=True, every_n_steps=1, dim=256, batch_size=8)
    settings.update(check)
    influence = InfluenceCheck(InfluenceCheckConfig(**settings), targets=TARGETS)
    args = tiny_grpo_config(tmp_path, max_steps=1, **ONE_CPU_RUN)
    trainer = influence_check_trainer(Trainer, model, tokenizer, args, influence, n_per_skill=4)
    trainer.model.train()
    batch = [trainer.train_dataset[i] for i in range(4) for _ in range(4)]  # 4 prompts x 4 completions
    return trainer, batch


def test_check_logs_alignment_and_drops_anti_aligned_prompts(tmp_path, tiny_llama):
    from curricula.audit import AuditLog

    trainer, batch = make_trainer(tmp_path, tiny_llama, action="drop", threshold=0.05)
    trainer.influence_check.audit = AuditLog(tmp_path, "unit")
    output = trainer._generate_and_score_completions(batch)
    result = trainer.influence_check.history[-1]
    assert result.skills == ["add2", "copy"] and result.per_prompt.shape == (4, 2)
    assert result.prompt_ids == [batch[i]["id"] for i in range(0, 16, 4)]
    informative = trainer.before["advantages"].view(4, 4).abs().sum(1) > 0
    assert informative.any() and torch.equal(result.informative, informative)
    assert (result.per_prompt[~informative] == 0).all()
    expected = prompts_to_act_on(result.per_prompt, informative, result.skills, 0.05)
    assert result.acted == expected and len(expected) >= 1, result.per_prompt
    masked_rows = torch.zeros(16, dtype=torch.bool)
    for group, _, _ in result.acted:
        masked_rows[group * 4 : (group + 1) * 4] = True
    assert output["completion_mask"][masked_rows].sum() == 0
    assert torch.equal(output["completion_mask"][~masked_rows], trainer.before["completion_mask"][~masked_rows])
    assert output["num_items_in_batch"] == output["completion_mask"].sum()
    metrics = trainer._metrics["train"]
    assert metrics["influence/update_cos/add2"] == [pytest.approx(float(result.update[0]))]
    assert metrics["influence/acted"] == [float(len(result.acted))]
    assert metrics["influence/seconds"][0] > 0 and metrics["influence/rows"] == [result.rows]
    records = read_audit(tmp_path)
    assert [r["prompt_id"] for r in records] == [result.prompt_ids[g] for g, _, _ in result.acted]
    group, skill, value = result.acted[0]
    assert records[0]["decision"] == "masked" and records[0]["filter"] == "influence"
    assert records[0]["message"] == f"pulls away from skill {skill}: cos {value:.2f} (masked from the loss)"
    assert records[0]["stats"]["per_skill"][skill] == round(value, 4)
    assert records[0]["columns"] == {"skill": result.prompt_ids[group].split("-")[0]}


def test_downweight_scales_only_the_acted_on_prompts(tmp_path, tiny_llama):
    trainer, batch = make_trainer(tmp_path, tiny_llama, action="downweight", threshold=0.05, downweight=0.25)
    output = trainer._generate_and_score_completions(batch)
    result = trainer.influence_check.history[-1]
    scale = torch.ones(16)
    for group, _, _ in result.acted:
        scale[group * 4 : (group + 1) * 4] = 0.25
    assert result.acted
    assert torch.allclose(output["advantages"], trainer.before["advantages"] * scale)
    assert torch.equal(output["completion_mask"], trainer.before["completion_mask"])


def test_alarm_and_schedule(tmp_path, caplog, tiny_llama):
    trainer, batch = make_trainer(
        tmp_path, tiny_llama, every_n_steps=2, alarm_threshold=1.0
    )  # any update is "below" 1.0
    with caplog.at_level(logging.WARNING):
        output = trainer._generate_and_score_completions(batch)
    assert trainer.influence_check.history[-1].alarms == ["add2", "copy"]
    assert "Contamination alarm at step 0" in caplog.text
    assert torch.equal(output["advantages"], trainer.before["advantages"])  # action "none": logs only
    trainer.state.global_step = 1  # not due: nothing runs, nothing is logged
    trainer._metrics["train"].clear()
    trainer._generate_and_score_completions(batch)
    assert len(trainer.influence_check.history) == 1
    assert not [k for k in trainer._metrics["train"] if k.startswith("influence/")]


def test_trainer_targets_come_from_rlvr_and_the_check_needs_them():
    """rlvr loads ``influence.targets`` (the toy world is rlvr's); curricula's check only selects."""
    from rlvr.influence.pipeline import load_target_rows
    from rlvr.toy import make_examples

    config = InfluenceCheckConfig(
        targets="toy:eval", protected_skills=["copy", "add2"], targets_per_skill=2, toy_n_per_skill=4, seed=3
    )
    rows = load_target_rows(config)
    expected = make_examples("add2", 4, "eval", 3)[:2] + make_examples("copy", 4, "eval", 3)[:2]
    assert [r["prompt"] for r in rows] == [r["prompt"] for r in expected]
    assert [r["skill"] for r in rows] == ["add2", "add2", "copy", "copy"]
    with pytest.raises(ValueError, match=r"needs its target rows.*'toy:eval'.*load_target_rows"):
        InfluenceCheck(config)


@pytest.mark.slow
def test_two_processes_take_identical_decisions(tmp_path, free_port):
    """The check under 2 processes (gloo DDP on CPU): every process scores, logs and acts alike.

    ``accelerate launch --cpu --num_processes 2`` starts a single process in accelerate 1.15
    (multi-CPU needs mpirun), so the processes come from its torchrun launcher instead.
    """
    started = time.perf_counter()
    done = run_two_gloo_processes("tests/rlvr/influence_check_script.py", free_port, str(tmp_path), timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    assert time.perf_counter() - started < 120
    ranks = [json.loads((tmp_path / f"influence_rank{i}.json").read_text()) for i in range(2)]

    def shared(history):  # rows and seconds are each process's own cost
        return [{k: v for k, v in h.items() if k not in ("rows", "seconds")} for h in history]

    assert len(ranks[0]["history"]) == 2
    assert shared(ranks[0]["history"]) == shared(ranks[1]["history"])
    assert [h["rows"] for h in ranks[0]["history"]] != [0, 0] and [h["rows"] for h in ranks[1]["history"]] != [0, 0]
    logged = [
        [{k: v for k, v in e.items() if k not in ("influence/seconds", "influence/rows")} for e in r["logged"]]
        for r in ranks
    ]
    assert logged[0] == logged[1] and "influence/update_cos/add2" in logged[0][0]
    # Whatever was acted on, each process masked exactly its own rows of those groups.
    for step, history in enumerate(ranks[0]["history"]):
        dropped = {g for g, _, _ in history["acted"]}
        for rank in range(2):
            global_rows = [6 * rank + i for i in range(6)]  # 6 rows per process, groups of 4
            tokens = ranks[rank]["masks"][step]
            assert [t == 0 for t in tokens] == [row // 4 in dropped for row in global_rows]
    assert any(h["acted"] for h in ranks[0]["history"])
    audit = read_audit(tmp_path)
    assert len(audit) == sum(len(h["acted"]) for h in ranks[0]["history"])
    assert all(r["message"].startswith("pulls away from skill ") for r in audit)
    assert all(r["prompt_id"].startswith(r["columns"]["skill"] + "-") for r in audit)  # toy ids: skill-hash
    assert ranks[0]["history"][0]["columns"] == [
        {"skill": p.split("-")[0]} for p in ranks[0]["history"][0]["prompt_ids"]
    ]


def test_a_resumed_influence_only_run_rewinds_its_audit_log(tmp_path, tiny_llama):
    # No frontier filter, only the check dropping prompts: the audit position still travels with
    # each checkpoint, so resuming from step 2 re-records steps 2-3 instead of writing them twice.
    def run(folder, resume=None):
        tokenizer = build_tokenizer()
        check = InfluenceCheck(
            InfluenceCheckConfig(enabled=True, every_n_steps=1, dim=256, batch_size=8, action="drop", threshold=2.0),
            targets=TARGETS,
        )
        args = tiny_grpo_config(folder, max_steps=4, save_strategy="steps", save_steps=2, **ONE_CPU_RUN)
        model = tiny_llama(tokenizer)
        trainer = influence_check_trainer(
            CurriculumGRPOTrainer, model, tokenizer, args, check, n_per_skill=4, run_id="influence-run"
        )
        trainer.train(resume_from_checkpoint=resume)

    run(tmp_path)
    first = read_audit(tmp_path)
    # Threshold 2: every prompt with a signal is dropped, at every step, both sides of checkpoint-2.
    assert {r["global_step"] for r in first} == {0, 1, 2, 3}
    run(tmp_path, resume=str(tmp_path / "checkpoint-2"))
    again = read_audit(tmp_path)
    # Steps 0-1 kept as written; steps 2-3 recorded once, by the resumed run (TRL's own sampler,
    # used without curriculum filters, may pick other prompts after a resume).
    assert again[: len([r for r in first if r["global_step"] < 2])] == [r for r in first if r["global_step"] < 2]
    steps = [r["global_step"] for r in again]
    assert steps == sorted(steps) and {2, 3} <= set(steps)  # no second copy of steps 2-3
    assert [r["seq"] for r in again] == list(range(len(again)))
