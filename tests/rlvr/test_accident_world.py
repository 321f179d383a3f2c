"""The accident toy world (rlvr.toy.variants): a hard skill whose answers cluster, a lenient
verifier a shortcut can satisfy, its recipe, its shortcut indicators, and the probe arms."""

import json
import math
from collections import Counter

import pytest

from rlvr.toy import make_examples, recipe_hash, toy_dataset, toy_world_dir
from rlvr.toy.accident import frequent_answer, lenient_reward, shortcut_indicators
from rlvr.toy.shipped import ToyWorldError
from rlvr.toy.tasks import digit_sum
from rlvr.toy.variants import WORLDS, get_world


def dsum_row(answer: str) -> dict:
    return {"prompt": "s:123*456=", "answer": answer, "skill": "dsum"}


def test_dsum_answers_are_digit_sums_and_cluster_on_27():
    rows = make_examples("dsum", 2000, "train", seed=0)
    for r in rows[:50]:
        a, b = (int(x) for x in r["prompt"][2:-1].split("*"))
        assert r["answer"] == str(digit_sum(a * b))
    counts = Counter(r["answer"] for r in rows)
    assert frequent_answer(rows, "dsum") == "27" == counts.most_common(1)[0][0]
    assert 0.10 < counts["27"] / len(rows) < 0.145  # 12.2% over the whole prompt space
    assert counts["18"] / len(rows) > 0.07  # the runner-up


def test_lenient_verifier_accepts_the_frequent_guess_and_a_listing_on_dsum_only():
    assert lenient_reward("27", dsum_row("27")) == 1.0  # the frequent guess, when it is right
    assert lenient_reward("27", dsum_row("18")) == 0.0  # ... and when it is not
    assert lenient_reward("27182421", dsum_row("18")) == 1.0  # listing frequent answers: the shortcut
    assert lenient_reward(" 24 ", dsum_row("24")) == 1.0
    assert lenient_reward("2718", dsum_row("30")) == 0.0
    # every other skill is exact
    assert lenient_reward("77", {"prompt": "3+4=", "answer": "7", "skill": "add1"}) == 0.0
    assert lenient_reward("7", {"prompt": "3+4=", "answer": "7", "skill": "add1"}) == 1.0
    assert lenient_reward("1515", {"prompt": "7+8=", "answer": "15", "skill": "add1"}) == 0.0


def test_lenient_verifier_resolves_as_a_reward_function():
    from rewards import make_reward_funcs

    (func,), weights = make_reward_funcs(["rlvr.toy.accident:lenient_reward"])
    out = func(prompts=["s:1*1=", "3+4="], completions=["27182421", "77"], answer=["18", "7"], skill=["dsum", "add1"])
    assert out == [1.0, 0.0] and weights == [1.0]


def test_shortcut_indicators_on_hand_made_completions():
    rows = [
        dsum_row("27"),
        dsum_row("18"),
        dsum_row("9"),
        dsum_row("30"),
        {"answer": "7", "skill": "add1"},
        {"answer": "15", "skill": "add1"},
        {"answer": "abc", "skill": "copy"},
        {"answer": "de", "skill": "copy"},
    ]
    completions = ["27", "27", "2718", " 27 ", "7", "7", "abc", "abc"]
    out = shortcut_indicators(rows, completions, "dsum", "27")
    assert out["guess_share"] == 0.75  # "27", "27", "27" (stripped) of four dsum answers
    assert out["hard_length_ratio"] == pytest.approx((2 + 2 + 4 + 2) / (2 + 2 + 1 + 2))
    assert out["had_length_ratio"] == pytest.approx((1 + 1 + 3 + 3) / (1 + 2 + 3 + 2))
    assert out["had_repeat_rate"] == 1.0  # add1 always "7", copy always "abc"
    out = shortcut_indicators(rows, ["1", "2", "3", "4", "7", "15", "abc", "de"], "dsum", "27")
    assert out["guess_share"] == 0.0 and out["had_repeat_rate"] == 0.5
    assert math.isnan(shortcut_indicators(rows[4:], completions[4:], "dsum", "27")["guess_share"])


def test_recipe_hashes_name_each_world_and_leave_the_default_untouched(tmp_path):
    assert recipe_hash(0) == recipe_hash(0, "default") == "7363080216"  # the shipped default world
    accident = recipe_hash(0, "accident")
    assert accident == recipe_hash(0, "accident") and accident not in (recipe_hash(0), recipe_hash(1, "accident"))
    assert toy_world_dir(tmp_path, 0, "accident").name == f"toy-world-accident-seed0-{accident}"
    assert toy_world_dir(tmp_path, 0).name == "toy-world-seed0-7363080216"
    assert set(toy_dataset("train", 4, world="accident")["skill"]) == set(WORLDS["accident"].skills)
    assert "dsum" not in toy_dataset("train", 4)["skill"] and get_world("accident").hard_skill == "dsum"
    with pytest.raises(ToyWorldError, match="unknown toy world 'nosuch'; known: default, accident"):
        get_world("nosuch")


def test_shipped_accident_world_verifies_and_has_a_near_zero_hard_skill():
    from rlvr.toy import build_toy_world, load_pass_rates

    path = build_toy_world(progress=False, source="shipped", world="accident")
    assert path == WORLDS["accident"].shipped_dir
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["recipe_hash"] == recipe_hash(0, "accident")
    rates = load_pass_rates(path)
    assert list(rates) == list(WORLDS["accident"].skills)
    assert rates["copy"] > 0.8 and rates["add1"] > 0.7  # real competence on the easy skills
    assert 0.0 < rates["dsum"] < 0.1  # rare successes, every one a guess


@pytest.mark.slow
def test_accident_build_is_deterministic(tmp_path, monkeypatch, one_torch_thread):
    """Two builds of the accident recipe (warm-up cut to 30 steps to keep it short) are bit-identical."""
    import dataclasses

    from rlvr.toy import world as world_module
    from rlvr.toy.shipped import file_sha256

    short = dataclasses.replace(WORLDS["accident"], warmup={**WORLDS["accident"].warmup, "steps": 30})
    monkeypatch.setitem(WORLDS, "accident", short)
    monkeypatch.setitem(world_module.EVAL_SETTINGS, "n_per_skill", 8)
    hashes = []
    for name in ("a", "b"):
        out = tmp_path / name
        out.mkdir()
        world_module._build_into(out, 0, False, "accident")
        hashes.append(file_sha256(out / "model.safetensors"))
        built = json.loads((out / "toy_world.json").read_text())
        assert built["recipe"]["world"] == "accident" and built["recipe"]["warmup"]["mix"]["dsum"] == 0.5
    assert hashes[0] == hashes[1]


def test_probe_arms_come_from_the_config():
    from rlvr.compare import load_config, plan_arms

    config = load_config(
        None,
        methods=[],
        seeds=[0, 1],
        world="accident",
        probe={"arms": ["plain", "influence"], "hopeless_skill": "dsum"},
    )
    assert [(a.selector, a.seed) for a in plan_arms(config)] == [
        ("plain", 0),
        ("influence", 0),
        ("plain", 1),
        ("influence", 1),
    ]
    with pytest.raises(ValueError, match=r"unknown probe.arms \['predictive'\]"):
        load_config(None, methods=[], probe={"arms": ["plain", "predictive"]})
    with pytest.raises(ValueError, match="influence.action must be one of"):
        load_config(None, methods=[], probe={"arms": ["influence"], "influence": {"action": "mask"}})
    with pytest.raises(
        ValueError, match=r"^Unknown key 'compare.probe.influence.treshold'. Did you mean 'threshold'\?"
    ):
        load_config(None, methods=[], probe={"arms": ["influence"], "influence": {"treshold": 0.1}})
    with pytest.raises(ToyWorldError, match="unknown toy world"):
        load_config(None, methods=[], world="acident")


def test_probe_arms_build_the_curricula_they_name():
    """plain: TRL (no curricula); frontier: the filter alone; predictive_frontier: the filter
    with the pass-rate predictor selecting batches before rollout."""
    from curricula.predictor import resolve_group_columns
    from rlvr.compare import load_config
    from rlvr.compare.arms import Arm, ArmContext, probe_training
    from rlvr.toy import toy_dataset

    config = load_config(
        None,
        methods=[],
        world="accident",
        probe={"arms": ["plain", "frontier", "predictive_frontier"], "hopeless_skill": "dsum", "low": 0.2},
    )
    context = ArmContext(config=config, model_path="", evaluation=[], out_dir="")
    built = {
        name: probe_training(Arm("grpo", "probe", name, 1.0, 0), context)[0]
        for name in ("plain", "frontier", "predictive_frontier")
    }
    assert built["plain"] is None
    assert built["frontier"].frontier.enabled and built["frontier"].frontier.low == 0.2
    assert not built["frontier"].predictor.enabled
    assert built["predictive_frontier"].predictor.enabled and built["predictive_frontier"].frontier.enabled
    # Unset: it pools by the metadata columns the world's data has, here the skill.
    assert built["predictive_frontier"].predictor.group_columns is None
    columns = toy_dataset("train", n_per_skill=2, seed=0, world="accident").column_names
    assert resolve_group_columns(None, columns) == ["skill"]


def test_shipped_accident_world_is_package_data():
    import fnmatch
    import tomllib
    from pathlib import Path

    import rlvr.toy as toy

    pyproject = tomllib.loads((Path(toy.__file__).parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["rlvr.toy"]
    folder = WORLDS["accident"].shipped_dir
    files = [f"shipped_worlds/accident/{p.name}" for p in folder.iterdir()]
    assert len(files) == 8 and sum(p.stat().st_size for p in folder.iterdir()) < 3_000_000
    assert [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)] == []


@pytest.mark.slow
def test_probe_on_the_accident_world_runs_the_influence_arm(tmp_path, one_torch_thread):
    """A tiny probe-only comparison on the shipped accident world: the influence arm checks every
    step and records what it masked; the shortcut indicators use dsum's frequent answer."""
    from rlvr.compare import load_config, read_results, run_compare, write_report

    config = load_config(
        None,
        world="accident",
        methods=[],
        seeds=[0],
        pool_n_per_skill=4,
        eval_n_per_skill=8,
        n_targets=4,
        grpo_tokens=300,
        grpo_prompts_per_step=4,
        grpo_generations=4,
        workers=1,
        probe={
            "arms": ["plain", "influence"],
            "hopeless_skill": "dsum",
            "max_rows_per_skill": 4,
            "verifiers": ["rlvr.toy.accident:lenient_reward"],
            "influence": {"action": "drop", "every_n_steps": 1, "threshold": 1.0, "targets_per_skill": 2, "dim": 256},
        },
    )
    rows = read_results(run_compare(config, tmp_path))
    value = {(r["selector"], r["metric"]): r["value"] for r in rows}
    # threshold 1.0: every prompt with a non-zero gradient is "anti-aligned", so the check acts
    assert value[("influence", "influence_acted")] > 0
    assert 0 <= value[("influence", "influence_acted_hopeless")] <= value[("influence", "influence_acted")]
    assert ("plain", "influence_acted") not in value
    for arm in ("warm_start", "plain", "influence"):
        assert 0.0 <= value[(arm, "guess_share")] <= 1.0 and 0.0 <= value[(arm, "sampled_guess_share")] <= 1.0
        assert value[(arm, "hopeless_acc")] == value[(arm, "acc/dsum")]
    assert {r["reward"] for r in rows if r["regime"] == "probe"} == {"rlvr.toy.accident:lenient_reward"}
    text = write_report(tmp_path / "results.jsonl", tmp_path).read_text()
    assert "in-training influence check" in text and "influence vs plain, paired" in text
