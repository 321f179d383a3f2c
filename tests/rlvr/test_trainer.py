"""CurriculumGRPOTrainer on a tiny random model (no warm-up needed): parity with TRL,
drops, substitution and zero-variance masking."""

from datasets import Dataset
from trl import GRPOTrainer

from curricula.audit import read_audit
from curricula.config import CurriculaConfig, FrontierConfig
from rlvr.toy.model import build_model
from rlvr.toy.tokenizer import build_tokenizer
from rlvr.trainer import CurriculumGRPOTrainer
from tests.rlvr.conftest import HOPELESS, frontier_reward, tiny_grpo_config


def rows(n=8):
    return Dataset.from_list(
        [
            {
                "id": f"p{i}",
                "prompt": f"{i}+{i}=",
                "answer": str(2 * i),
                "skill": "hard" if f"p{i}" in HOPELESS else "easy",
            }
            for i in range(n)
        ]
    )


def parity_reward(prompts, completions, **kw):
    # Depends on the sampled text, so a random model still gets reward variance (non-zero loss).
    return [float(len(c) % 3 == 0) for c in completions]


def train_losses(trainer_cls, tmp_path, **extra):
    tok = build_tokenizer()
    trainer = trainer_cls(
        model=build_model(tok, seed=0),
        reward_funcs=[parity_reward],
        args=tiny_grpo_config(tmp_path),
        train_dataset=rows(),
        processing_class=tok,
        **extra,
    )
    trainer.train()
    return [(log["loss"], log["grad_norm"]) for log in trainer.state.log_history if "loss" in log]


def test_with_filters_disabled_training_is_exactly_trl(tmp_path):
    plain = train_losses(GRPOTrainer, tmp_path / "trl")
    ours = train_losses(CurriculumGRPOTrainer, tmp_path / "rlvr", curricula=CurriculaConfig())
    assert len(plain) == 4 and any(loss != 0 for loss, _ in plain)  # the comparison is not vacuous
    assert ours == plain
    assert not (tmp_path / "rlvr" / "audit.jsonl").exists()


def coin_flip_reward(prompts, completions, id, **kw):
    # Hopeless prompts never succeed; the others on about half their completions, by the sampled
    # first character (a random model's completions all have the same length).
    return [0.0 if pid in HOPELESS else float(bool(c) and ord(c[0]) % 2 == 0) for pid, c in zip(id, completions)]


def make_frontier_trainer(tmp_path, n_prompts=8, steps=10, reward=frontier_reward, **frontier):
    tok = build_tokenizer()
    cfg = FrontierConfig(enabled=True, min_samples=8, low=0.3, reprobe_interval=None, **frontier)
    return CurriculumGRPOTrainer(
        model=build_model(tok, seed=0),
        reward_funcs=[reward],
        args=tiny_grpo_config(tmp_path, max_steps=steps),
        train_dataset=rows(n_prompts),
        processing_class=tok,
        curricula=CurriculaConfig(frontier=cfg),
    )


def test_hopeless_prompts_are_dropped_and_no_longer_generated_for(tmp_path):
    trainer = make_frontier_trainer(tmp_path)
    generated = []  # (prompt id, was it excluded when generated for?)
    original = trainer._generate_and_score_completions

    def spy(inputs):
        generated.extend((x["id"], trainer.frontier.is_excluded(x["id"])) for x in inputs)
        return original(inputs)

    trainer._generate_and_score_completions = spy
    trainer.train()
    # 0 of 8 over two visits: upper bound 1 - 0.05 ** (1/8) = 0.31 ... needs < 0.3 -> 12 samples.
    assert trainer.frontier.is_excluded("p0") and trainer.frontier.is_excluded("p1")
    records = read_audit(tmp_path)
    drops = [r for r in records if r["decision"] == "dropped"]
    assert {r["prompt_id"] for r in drops} == HOPELESS
    assert all(r["reason"] == "too_hard" and r["columns"] == {"skill": "hard"} for r in drops)
    assert drops[0]["message"].startswith("too hard: 0 of 12 correct over 3 visit(s), upper bound 0.22 < 0.3")
    # Once dropped, a prompt is never generated for again (substituted; batch size unchanged).
    assert len(generated) == 10 * 16 and not any(excluded for _, excluded in generated)
    last_drop_step = max(r["global_step"] for r in drops)
    assert last_drop_step < 8  # so later steps really ran with both prompts excluded
    assert trainer.totals["substituted"] > 0
    assert trainer.curriculum_summary()["dropped_too_hard"] == 2
    # Every record was written once, in order.
    assert [r["seq"] for r in records] == list(range(len(records)))


def test_zero_variance_groups_are_masked_and_the_normaliser_recomputed(tmp_path):
    trainer = make_frontier_trainer(tmp_path, mask_zero_variance=True)
    trainer.model.train()
    batch = [rows()[i] for i in range(4) for _ in range(4)]  # p0..p3, 4 completions each
    out = trainer._generate_and_score_completions(batch)
    mask = out["completion_mask"]
    # p0 and p1 always score 0: their groups (rows 0-7) carry no signal and are masked.
    assert mask[:8].sum() == 0
    assert out["num_items_in_batch"].item() == mask.sum().item() > 0
    masked = [r for r in read_audit(tmp_path) if r["decision"] == "masked"]
    assert {"p0", "p1"} <= {r["prompt_id"] for r in masked}
    assert masked[0]["message"] == "masked from the loss: all 4 rewards equal (0.0)"


def test_oversampling_replaces_zero_variance_groups_with_informative_ones(tmp_path):
    trainer = make_frontier_trainer(tmp_path, oversample=True, max_generation_multiplier=4.0)
    trainer.model.train()
    batch = [rows()[i] for i in range(4) for _ in range(4)]  # p0, p1 hopeless: zero variance
    out = trainer._generate_and_score_completions(batch)
    assert out["completion_ids"].shape[0] == 16  # shapes per process unchanged
    advantages = out["advantages"].view(4, 4)
    # Each group in the final batch carries signal: some advantage differs from zero.
    assert (advantages.abs().sum(dim=1) > 0).all(), advantages
    assert trainer.totals["oversampled_groups"] >= 4
    assert out["num_items_in_batch"].item() == out["completion_mask"].sum().item()


def test_oversampling_cap_warns_and_trains_on_what_it_has(tmp_path, caplog):
    tok = build_tokenizer()
    cfg = FrontierConfig(enabled=True, oversample=True, max_generation_multiplier=2.0)
    trainer = CurriculumGRPOTrainer(
        model=build_model(tok, seed=0),
        reward_funcs=[lambda completions, **k: [0.0] * len(completions)],
        args=tiny_grpo_config(tmp_path, max_steps=1),
        train_dataset=rows(),
        processing_class=tok,
        curricula=CurriculaConfig(frontier=cfg),
    )
    with caplog.at_level("WARNING"):
        trainer.train()  # every group is zero-variance: never crashes
    assert trainer.state.global_step == 1
    assert trainer.totals["oversample_cap_hit"] == 1
    assert "Over-sampling cap reached (2.0x generation)" in caplog.text


def record_generated_tokens(trainer) -> list[int]:
    """Completion tokens of each generation batch the trainer makes, from TRL's own masks."""
    lengths = []
    original = trainer._generate_scored

    def spy(inputs):
        out, outcome = original(inputs)
        lengths.append(int(out["completion_mask"].sum()))
        return out, outcome

    trainer._generate_scored = spy
    return lengths


def test_generated_tokens_are_counted_and_a_token_budget_stops_training(tmp_path):
    from rlvr.trainer import GeneratedTokenBudget

    tok = build_tokenizer()
    trainer = CurriculumGRPOTrainer(
        model=build_model(tok, seed=0),
        reward_funcs=[parity_reward],
        args=tiny_grpo_config(tmp_path, max_steps=50),
        train_dataset=rows(),
        processing_class=tok,
    )
    lengths = record_generated_tokens(trainer)
    trainer.add_callback(GeneratedTokenBudget(trainer, max_tokens=200))
    trainer.train()
    # 16 completions of <= 6 tokens a step: the budget of 200 is crossed after a few steps, not 50.
    assert trainer.state.global_step == len(lengths) < 50
    assert trainer.totals["generated_tokens"] == sum(lengths) >= 200 > sum(lengths[:-1])
    by_skill = trainer.generated_tokens_by_skill
    assert set(by_skill) == {"easy", "hard"} and sum(by_skill.values()) == sum(lengths)


def test_generated_token_count_survives_a_resume_with_filters_off(tmp_path):
    tok = build_tokenizer()

    def trainer(steps):
        return CurriculumGRPOTrainer(
            model=build_model(tok, seed=0),
            reward_funcs=[parity_reward],
            args=tiny_grpo_config(tmp_path, max_steps=steps, save_strategy="steps", save_steps=3),
            train_dataset=rows(),
            processing_class=tok,
        )

    first = trainer(3)
    first.train()
    at_checkpoint = first.totals["generated_tokens"]
    resumed = trainer(5)
    after_resume = record_generated_tokens(resumed)  # what the resumed run generates itself (steps 4, 5)
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-3"))
    assert len(after_resume) == 2 and at_checkpoint > 0
    assert resumed.totals["generated_tokens"] == at_checkpoint + sum(after_resume)
    assert sum(resumed.generated_tokens_by_skill.values()) == resumed.totals["generated_tokens"]


def generated_prompts(trainer) -> list[tuple[int, str]]:
    """(global step, prompt id) of every group the trainer generates, over-sampled ones included."""
    seen = []
    original = trainer._generate_scored

    def spy(inputs):
        seen.extend((trainer.state.global_step, x["id"]) for x in inputs[:: trainer.num_generations])
        return original(inputs)

    trainer._generate_scored = spy
    return seen


def test_prompts_on_a_zero_variance_streak_are_skipped_before_rollout_and_audited(tmp_path):
    # Fixed explore 0.05: after one all-wrong group a hopeless prompt is rolled out 5% of the time.
    # 24 prompts, 4 a step: enough prompts outside each batch to take a skipped prompt's place.
    skip = dict(skip_zero_variance=True, skip_explore=0.05, skip_target_easy=None, skip_target_hard=None)
    plain = make_frontier_trainer(tmp_path / "plain", n_prompts=24, steps=20, reward=coin_flip_reward)
    skipping = make_frontier_trainer(tmp_path / "skip", n_prompts=24, steps=20, reward=coin_flip_reward, **skip)
    plain_seen, skip_seen = generated_prompts(plain), generated_prompts(skipping)
    plain.train()
    skipping.train()
    records = read_audit(tmp_path / "skip")
    skipped = [r for r in records if r["decision"] == "skipped"]
    assert skipped
    for r in skipped:
        assert r["filter"] == "frontier" and r["reason"] == "zero_variance_streak"
        assert r["message"].startswith("skipped before rollout: its last ")
        assert r["stats"]["coin"] >= r["stats"]["rollout_probability"]
        # A skipped prompt is not generated for at that step, not even as a replacement.
        assert (r["global_step"], r["prompt_id"]) not in skip_seen
        assert r["columns"]["skill"] in ("easy", "hard") and r["prompt_hash"]
    # Same batch size every step; the hopeless prompts' rollouts go to the others instead.
    assert len(skip_seen) == len(plain_seen) == 20 * 4
    hopeless = [sum(pid in HOPELESS for _, pid in seen) for seen in (plain_seen, skip_seen)]
    assert hopeless[1] < hopeless[0], hopeless
    assert HOPELESS <= {r["prompt_id"] for r in skipped}
    assert skipping.totals["skipped"] == len(skipped) == skipping.curriculum_summary()["skipped"]
    assert not [r for r in read_audit(tmp_path / "plain") if r["decision"] == "skipped"]


def alternating_reward(prompts, completions, id, **kw):
    # Hopeless prompts never succeed; every other completion of the rest does: always informative.
    return [0.0 if pid in HOPELESS else float(i % 2) for i, pid in enumerate(id)]


def test_deficit_oversampling_generates_only_what_the_missing_groups_need(tmp_path):
    trainer = make_frontier_trainer(
        tmp_path, reward=alternating_reward, oversample=True, oversample_draw="deficit", max_generation_multiplier=4.0
    )
    rows_per_call = []
    original = trainer._generate_scored

    def spy(inputs):
        rows_per_call.append(len(inputs))
        return original(inputs)

    trainer._generate_scored = spy
    trainer.model.train()
    data = rows()
    batch = [data[i] for i in (0, 2, 3, 4) for _ in range(4)]  # p0 hopeless: one group short
    out = trainer._generate_and_score_completions(batch)
    assert out["completion_ids"].shape[0] == 16
    advantages = out["advantages"].view(4, 4)
    assert (advantages.abs().sum(dim=1) > 0).all(), advantages
    # 1 zero-variance group of 4 at an informative rate of 3/4: rounds of ceil(1 / 0.75) = 2 groups
    # (8 rows), not of the whole batch (16 rows).
    assert rows_per_call[0] == 16 and len(rows_per_call) >= 2
    assert all(n == 8 for n in rows_per_call[1:]), rows_per_call
    # How many groups each mode draws: tests/curricula/test_oversample.py.
    assert trainer.totals["oversampled_groups"] == 2 * (len(rows_per_call) - 1)


def test_a_prompt_is_skipped_only_when_another_takes_its_place(tmp_path):
    # Every group has equal rewards (so every prompt is on a streak after its first visit), and
    # with 8 prompts, 4 a step, often every prompt outside the batch is skipped too: then a prompt
    # is rolled out after all, and no skip is recorded for it. The rewards do not depend on the
    # sampled text, so which prompts are skipped does not depend on the machine.
    def constant_reward(prompts, completions, id, **kw):
        return [0.0 if pid in HOPELESS else 1.0 for pid in id]

    skip = dict(skip_zero_variance=True, skip_explore=0.3, skip_target_easy=None, skip_target_hard=None)
    trainer = make_frontier_trainer(tmp_path, n_prompts=8, steps=10, reward=constant_reward, **skip)
    seen = generated_prompts(trainer)
    wanted = []  # (step, prompt) the coin said to skip, among the prompts the sampler brought
    original = trainer._substitute_excluded

    def spy(rows):
        step = trainer.state.global_step
        wanted.extend(
            (step, pid)
            for pid in dict.fromkeys(str(r["id"]) for r in rows)
            if not trainer.frontier.is_excluded(pid) and trainer.frontier.skips(pid, step, trainer.args.seed)
        )
        return original(rows)

    trainer._substitute_excluded = spy
    trainer.train()
    skipped = {(r["global_step"], r["prompt_id"]) for r in read_audit(tmp_path) if r["decision"] == "skipped"}
    assert skipped and skipped <= set(wanted)
    assert not skipped & set(seen)  # a recorded skip is never generated for at that step
    rolled_anyway = set(wanted) - skipped
    assert rolled_anyway and rolled_anyway <= set(seen)  # no replacement left: rolled out after all


def test_public_api_takes_curricula_as_a_dict(tmp_path):
    import pytest

    import rlvr
    from rlvr import ConfigError

    assert rlvr.CurriculumGRPOTrainer is CurriculumGRPOTrainer and rlvr.FrontierConfig is FrontierConfig
    tok = build_tokenizer()

    def make(curricula):
        return rlvr.CurriculumGRPOTrainer(
            model=build_model(tok, seed=0),
            reward_funcs=[frontier_reward],
            args=tiny_grpo_config(tmp_path),
            train_dataset=rows(),
            processing_class=tok,
            curricula=curricula,
        )

    # Typed like a config file's section: the string "0.3" is read as the number 0.3.
    trainer = make({"frontier": {"enabled": True, "min_samples": 8, "low": "0.3", "reprobe_interval": None}})
    wanted = FrontierConfig(enabled=True, min_samples=8, low=0.3, reprobe_interval=None)
    assert trainer.curricula == rlvr.CurriculaConfig(frontier=wanted)
    assert trainer.frontier is not None
    with pytest.raises(ConfigError, match=r"curricula\.frontier\.lowe.*Did you mean 'low'"):
        make({"frontier": {"lowe": 0.3}})


def test_a_plugged_in_online_filter_observes_logs_and_resumes_without_changing_training(tmp_path):
    from curricula.difficulty import ForgettingTracker

    tok = build_tokenizer()

    def run(folder, tracker, steps=4, resume=None):
        trainer = CurriculumGRPOTrainer(
            model=build_model(tok, seed=0),
            reward_funcs=[parity_reward],
            args=tiny_grpo_config(folder, max_steps=steps, save_strategy="steps", save_steps=2),
            train_dataset=rows(),
            processing_class=tok,
            online_filters=[tracker] if tracker is not None else (),
        )
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    # success_threshold 1: a visit is solved when at least half of its 4 rollouts score 1.
    tracker = ForgettingTracker(solved_threshold=0.5, success_threshold=1.0)
    observed = run(tmp_path / "a", tracker)
    plain = run(tmp_path / "plain", None)
    losses = [[e["loss"] for e in t.state.log_history if "loss" in e] for t in (observed, plain)]
    assert losses[0] == losses[1]  # observing changes nothing in training
    # 4 steps x 16 rows / 4 generations = 16 groups over the 8 prompts: 2 visits each.
    assert sorted(tracker.history) == [f"p{i}" for i in range(8)]
    assert sum(len(v) for v in tracker.history.values()) == 16
    logged = [e for e in observed.state.log_history if "forgetting/prompts" in e]
    assert logged[-1]["forgetting/prompts"] == 8 and logged[-1]["forgetting/events"] == tracker.events
    transitions = sum(a and not b for v in tracker.history.values() for a, b in zip(v, v[1:]))
    assert tracker.events == transitions

    # A running total is logged as its value at the logging step, not averaged over the window.
    observed._metrics["train"]["forgetting/prompts"] = [4, 8]
    observed.log({})
    assert observed.state.log_history[-1]["forgetting/prompts"] == 8

    resumed_tracker = ForgettingTracker(solved_threshold=0.5, success_threshold=1.0)
    run(tmp_path / "a", resumed_tracker, resume=str(tmp_path / "a" / "checkpoint-2"))
    assert resumed_tracker.history == tracker.history and resumed_tracker.events == tracker.events


def test_an_object_that_is_not_an_online_filter_is_refused_with_what_it_lacks(tmp_path):
    import pytest

    class Observer:
        name = "mine"

        def observe(self, groups, step, epoch):
            return []

    tok = build_tokenizer()
    with pytest.raises(TypeError, match=r"Observer is not an online filter: it needs name, observe"):
        CurriculumGRPOTrainer(
            model=build_model(tok, seed=0),
            reward_funcs=[parity_reward],
            args=tiny_grpo_config(tmp_path),
            train_dataset=rows(),
            processing_class=tok,
            online_filters=[Observer()],
        )
