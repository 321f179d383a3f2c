"""Influence vs difficulty: selectors, scores, arm metrics, the plan, a tiny end-to-end comparison
(SFT + GRPO, both regimes, the too-hard probe), its report, determinism, and the quick CLI run."""

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from curricula.selectors import SELECTORS, budget_count, get_selector, scores_needed
from rewards.config_types import ConfigError
from rlvr.compare import (
    RESULT_COLUMNS,
    RESULTS_FILE,
    Arm,
    arm_metrics,
    load_config,
    plan_arms,
    read_results,
    run_compare,
    write_report,
)

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "showdown_toy.yaml"

ROWS = [
    {"id": str(i), "prompt": f"{i}+{i}=", "answer": str(2 * i), "skill": "add2" if i % 2 else "copy"} for i in range(10)
]


def test_difficulty_selector_keeps_the_highest_scores():
    loss = [0.1, 5.0, 0.3, 4.0, float("nan"), 2.0, 0.0, 3.0, 1.0, 0.2]
    chosen = get_selector("loss")(ROWS, {"loss": loss}, fraction=0.3)
    assert chosen == [1, 3, 7]  # 5.0, 4.0, 3.0, in pool order; NaN never outranks a number
    assert get_selector("el2n")(ROWS, {"el2n": loss}, fraction=1.0)[-1] == 9
    forgetting = [0.0, math.inf, 1.0, 0.0, 2.0, 0.0, math.inf, 0.0, 0.0, 0.0]
    assert get_selector("forgetting")(ROWS, {"forgetting": forgetting}, fraction=0.3) == [1, 4, 6]
    with pytest.raises(KeyError, match="needs scores"):
        get_selector("grand")(ROWS, {"loss": loss}, fraction=0.5)


def test_frontier_influence_drops_off_frontier_rows_then_ranks_by_influence():
    influence = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    prob = [0.01, 0.5, 0.99, 0.3, 0.2, 0.04, 0.6, 0.5, 0.5, 0.5]
    scores = {"influence": influence, "answer_prob": prob}
    assert get_selector("influence")(ROWS, scores, fraction=0.3) == [0, 1, 2]
    assert get_selector("frontier_influence")(ROWS, scores, fraction=0.3, band=(0.05, 0.95)) == [1, 3, 4]
    # pass_band: most uncertain (p closest to 0.5) first, within the band
    assert get_selector("pass_band")(ROWS, scores, fraction=0.2) == [1, 7]


def test_random_and_full_selectors():
    a = get_selector("random")(ROWS, None, fraction=0.5, seed=3)
    assert a == get_selector("random")(ROWS, None, fraction=0.5, seed=3) and len(a) == 5 == budget_count(10, 0.5)
    assert a != get_selector("random")(ROWS, None, fraction=0.5, seed=4)
    assert get_selector("full")(ROWS, None, fraction=0.05) == list(range(10))
    assert scores_needed(["random", "frontier_influence", "influence", "loss"]) == ["answer_prob", "influence", "loss"]
    assert {
        "random",
        "full",
        "loss",
        "perplexity",
        "el2n",
        "grand",
        "forgetting",
        "influence",
        "frontier_influence",
    } <= set(SELECTORS)


def test_arm_metrics_shortcut_indicators_on_hand_made_completions():
    rows = [{"skill": "add2", "answer": a} for a in ("12", "34", "56", "78")] + [
        {"skill": "mul3x3", "answer": a} for a in ("56088", "12345")
    ]
    # add2: two right, and "12" said four times; mul3x3: the same short wrong answer twice.
    completions = ["12", "12", "12", "12", "99", "99"]
    rewards = [float(c == r["answer"]) for c, r in zip(completions, rows)]
    m = arm_metrics(rows, completions, rewards, target_skill="add2", hopeless_skill="mul3x3")
    assert m["acc/add2"] == 0.25 and m["acc/mul3x3"] == 0.0 and m["target_acc"] == 0.25
    assert m["retention_acc"] == 0.0 and m["mean_acc"] == 0.125 and m["had_acc"] == 0.25
    assert m["repeat_rate"] == 1.0  # every skill answers one thing whatever the question
    assert m["length_ratio"] == pytest.approx(12 / 18)  # 8 + 4 characters for 8 + 10
    m = arm_metrics(rows, ["12", "34", "56", "78", "56088", "1"], [1, 1, 1, 1, 1, 0], "add2", "mul3x3")
    assert m["repeat_rate"] == pytest.approx((1 / 4 + 1 / 2) / 2) and m["had_acc"] == 1.0
    assert m["length_ratio"] == pytest.approx(14 / 18)


def test_plan_trains_target_agnostic_selectors_once_and_adds_the_probe():
    config = load_config(
        None,
        selectors=["random", "loss", "influence", "full"],
        budgets=[0.1, 0.5, 1.0],
        seeds=[0, 1],
        methods=["sft", "grpo"],
        regimes=["targeted", "general"],
    )
    arms = plan_arms(config)
    assert len(set(arms)) == len(arms)
    per_method_seed = 2 * 2 + 2 * 2 + 1  # random, loss (both regimes) + influence x 2 regimes, 2 budgets + full
    assert sum(a.regime != "probe" for a in arms) == per_method_seed * 2 * 2
    assert Arm("grpo", "both", "loss", 0.5, 1) in arms and Arm("sft", "both", "full", 1.0, 0) in arms
    assert Arm("sft", "targeted", "influence", 0.1, 0) in arms and Arm("sft", "general", "influence", 0.1, 0) in arms
    assert not any(a.budget == 1.0 and a.selector != "full" and a.regime != "probe" for a in arms)
    assert [a.selector for a in arms if a.regime == "probe" and a.seed == 0] == [
        "plain",
        "frontier",
        "without_hopeless",
    ]
    assert all(a.method == "grpo" for a in arms if a.regime == "probe")
    with pytest.raises(ConfigError, match="^Unknown key 'compare.grpo_token'. Did you mean 'grpo_tokens'\\?$"):
        load_config(None, grpo_token=5)
    with pytest.raises(ConfigError, match="^Unknown key 'compare.probe.lo'. Did you mean 'low'\\? Known keys of "):
        load_config(None, probe={"lo": 0.1})
    with pytest.raises(ConfigError, match="unknown methods"):
        load_config(None, methods=["ppo"])


def test_selectors_on_real_scores_of_the_warm_toy_world(toy_world_path):
    """Loss ranks the unlearned mul3x3 rows above the solved copy rows; forgetting gives the
    never-learned mul3x3 rows inf and the always-solved copy rows 0; influence toward add2 is
    larger in size for add2 rows than copy rows (on the warm world its sign is not reliable, see
    test_influence), and the influence selector keeps more add2 rows than its share of the pool."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlvr.compare import compute_scores
    from rlvr.toy import make_examples

    model = AutoModelForCausalLM.from_pretrained(toy_world_path)
    tokenizer = AutoTokenizer.from_pretrained(toy_world_path)
    pool = (
        make_examples("add2", 12, "train", 0)
        + make_examples("copy", 12, "train", 0)
        + make_examples("mul3x3", 12, "train", 0)
    )
    targets = make_examples("add2", 8, "eval", 5)
    # The comparison's default projection: at 256 dimensions projection noise alone gives copy rows
    # |score| ~0.07 (0.01 at 1024), as large as the add2 signal.
    config = load_config(None, influence_dim=1024, forgetting_epochs=2, batch_size=12)
    scores = compute_scores(
        model,
        tokenizer,
        pool,
        targets,
        ["influence", "loss", "answer_prob", "forgetting"],
        config,
        influence_skill="add2",
    )
    by_skill = {s: [i for i, r in enumerate(pool) if r["skill"] == s] for s in ("add2", "copy", "mul3x3")}

    hardest = get_selector("loss")(pool, scores, fraction=1 / 3)
    assert all(pool[i]["skill"] == "mul3x3" for i in hardest)
    assert min(scores["loss"][i] for i in hardest) >= max(scores["loss"][i] for i in by_skill["copy"])

    assert all(scores["forgetting"][i] == math.inf for i in by_skill["mul3x3"])
    assert sum(scores["forgetting"][i] == 0 for i in by_skill["copy"]) >= 10
    # add2 rows the warm model gets wrong but the short SFT run teaches are learned: finite score
    # (how many it gets wrong depends on the CPU the toy world was built on: one of 12 on one build)
    from rlvr.compare.inputs import answers_solved

    solved = answers_solved(model, tokenizer, pool)
    learned_later = [i for i in by_skill["add2"] if not solved[i] and scores["forgetting"][i] < math.inf]
    assert len(learned_later) >= 1, [(solved[i], scores["forgetting"][i]) for i in by_skill["add2"]]

    size = {s: statistics.fmean(abs(scores["influence"][i]) for i in idx) for s, idx in by_skill.items()}
    assert size["add2"] > 1.5 * max(size["copy"], size["mul3x3"]), size
    # The sign is not asserted: on the warm world it is noise and its direction changes with the
    # CPU the world was built on (one build keeps 3 add2 rows of 12 here, at chance). The selector
    # keeps the highest-scoring third.
    kept = get_selector("influence")(pool, scores, fraction=1 / 3)
    top = sorted(range(len(pool)), key=lambda i: scores["influence"][i], reverse=True)[: len(kept)]
    assert sorted(kept) == sorted(top) and len(kept) == 12

    # the frontier drops the rows the student cannot (mul3x3) or always does (copy) answer
    frontier = get_selector("frontier_influence")(pool, scores, fraction=1.0)
    assert not any(pool[i]["skill"] == "mul3x3" for i in frontier)


TINY = dict(
    selectors=["random", "influence"],
    budgets=[0.5],
    seeds=[0, 1],
    methods=["sft", "grpo"],
    regimes=["targeted", "general"],
    pool_n_per_skill=6,
    eval_n_per_skill=6,
    n_targets=4,
    steps=3,
    batch_size=8,
    influence_dim=1024,
    grpo_tokens=400,
    grpo_prompts_per_step=4,
    grpo_generations=4,
    probe={"max_rows_per_skill": 2, "min_samples": 4, "low": 0.6, "reprobe_interval": None},
)


@pytest.mark.slow
def test_tiny_compare_results_report_and_determinism(tmp_path, toy_world_path):
    first = run_compare(load_config(None, **TINY, workers=1), tmp_path / "a")
    rows = read_results(first)
    assert all(set(RESULT_COLUMNS) <= set(r) for r in rows)
    trained = [r for r in rows if r["selector"] != "warm_start"]
    arms = {(r["method"], r["regime"], r["selector"], r["seed"]) for r in trained}
    expected = {
        (m, g, s, seed)
        for m in ("sft", "grpo")
        for g in ("targeted", "general")
        for s in ("random", "influence")
        for seed in (0, 1)
    }
    expected |= {("grpo", "probe", a, seed) for a in ("plain", "frontier", "without_hopeless") for seed in (0, 1)}
    assert arms == expected
    metrics = {r["metric"] for r in trained}
    assert {
        "target_acc",
        "retention_acc",
        "mean_acc",
        "had_acc",
        "repeat_rate",
        "length_ratio",
        "target_share",
        "acc/add2",
        "acc/copy",
        "acc/mul3x3",
        "hopeless_token_share",
    } <= metrics
    assert all(
        0.0 <= r["value"] <= 1.0
        for r in rows
        if not r["metric"].endswith("length_ratio") and r["metric"] != "dropped_too_hard"
    )
    # the shortcut indicators of the probe: mul3x3's answers are all distinct, so its "frequent guess"
    # is one of them; the warm model never gives it
    assert {
        "guess_share",
        "sampled_guess_share",
        "sampled_hopeless_acc",
        "had_length_ratio",
        "hard_length_ratio",
        "had_repeat_rate",
        "hopeless_acc",
    } <= metrics
    assert all(r["value"] == 0.0 for r in rows if r["metric"] in ("sampled_hopeless_acc", "hopeless_acc"))
    assert {r["n_selected"] for r in trained if r["selector"] == "random"} == {18}  # 36 rows x 0.5
    # random is target-agnostic: one arm per seed, the same numbers in both regimes
    value = {(r["method"], r["regime"], r["selector"], r["seed"], r["metric"]): r["value"] for r in trained}
    assert all(
        value[("sft", "targeted", "random", s, m)] == value[("sft", "general", "random", s, m)]
        for s in (0, 1)
        for m in ("mean_acc", "acc/sub")
    )
    # Which rows influence picks on the warm world is noise in direction (see above), so no share is
    # compared across regimes; that each regime scores against its own targets is tested in
    # test_held_out_rows_split_into_targets_and_evaluation_without_overlap.
    assert all(
        0.0 <= value[("sft", g, "influence", s, "target_share")] <= 1.0 for g in ("targeted", "general") for s in (0, 1)
    )
    # GRPO arms stop at the first step past the token budget (<= one batch of 16 x 4 tokens over)
    grpo = [r for r in trained if r["method"] == "grpo"]
    assert all(400 <= r["gen_tokens"] < 400 + 16 * 8 for r in grpo)
    # the probe's pool: 2 rows per skill; the filter drops both mul3x3 rows (0 of 4: bound 0.53 < low 0.6)
    probe = {(r["selector"], r["seed"], r["metric"]): r["value"] for r in trained if r["regime"] == "probe"}
    assert {r["n_selected"] for r in trained if r["regime"] == "probe"} == {12, 10}
    assert (
        probe[("frontier", 0, "dropped_too_hard")] >= 2 and probe[("without_hopeless", 0, "hopeless_token_share")] == 0
    )
    assert probe[("plain", 0, "hopeless_token_share")] > 0
    audit = [
        json.loads(x)
        for x in (tmp_path / "a" / "arms" / "grpo-probe-frontier-1-s0" / "audit.jsonl").read_text().splitlines()
    ]
    assert {r["columns"]["skill"] for r in audit if r["decision"] == "dropped"} >= {"mul3x3"}

    # The report regenerates from the results file alone, in another folder.
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / RESULTS_FILE).write_text(first.read_text())
    report = write_report(tmp_path / "only" / RESULTS_FILE, tmp_path / "report")
    text = report.read_text()
    for needle in (
        "## Verdict",
        "GRPO (equal generated tokens) — general regime",
        "## Too-hard probe",
        "| influence | 0.5 |",
        "highest on the target (add2)",
        "±",
        "tokens on hopeless prompts",
    ):
        assert needle in text, needle
    for png in ("report_sft.png", "report_grpo.png", "report_probe.png"):
        assert (tmp_path / "report" / png).stat().st_size > 1000
    assert write_report(first, tmp_path / "report2").read_text() == text

    # Same seeds, same numbers, whichever worker process runs which arm.
    second = run_compare(load_config(None, **TINY, workers=2), tmp_path / "b")
    assert [json.loads(x) for x in first.read_text().splitlines()] == [
        json.loads(x) for x in second.read_text().splitlines()
    ]


def test_report_verdict_with_paired_margins(tmp_path):
    from rlvr.cli import main

    rows = [
        {
            "method": "sft",
            "regime": "targeted",
            "selector": s,
            "budget": 0.5,
            "seed": seed,
            "metric": m,
            "value": v + 0.1 * seed + (0.05 if s == "influence" and seed == 1 else 0),
            "n_selected": 4,
            "target_skill": "add2",
            "steps": 3,
            "batch_size": 8,
            "gen_tokens": 0,
        }
        for seed in (0, 1)
        for s, v in (("random", 0.2), ("influence", 0.6), ("loss", 0.3))
        for m in ("target_acc", "retention_acc", "mean_acc", "acc/add2")
    ]
    path = tmp_path / RESULTS_FILE
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    # influence: 0.6, 0.75 -> 0.675; loss: 0.3, 0.4; paired differences 0.3, 0.35 -> mean 0.325, sd 0.0354,
    # 95% half-width t(0.975, 1) 12.706 x 0.0354 / sqrt(2) = 0.318 -> [+0.007, +0.643], just above zero
    assert (
        "**influence** highest on the target (add2) (0.675 ± 0.106), ahead of loss by +0.325 [+0.007, +0.643] "
        "(win); vs random +0.425 [+0.107, +0.743] (win); best influence-type (influence) vs best "
        "difficulty-type (loss): +0.325 [+0.007, +0.643] (win)."
    ) in text
    assert "1 influence-type, 0 difficulty-type, 0 random/full clear wins of 1 budgets" in text
    (tmp_path / "bad.jsonl").write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(ValueError, match="bad.jsonl line 2"):
        read_results(tmp_path / "bad.jsonl")


@pytest.mark.slow
def test_cli_quick_run_writes_results_and_report(tmp_path, toy_world_path):
    """The README's quick command, as a user runs it (<= 3 min on 2 cores; progress on stderr)."""
    out = tmp_path / "quick"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "rlvr.cli", "compare", "--config", str(CONFIG), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[1/" in done.stderr and "left)" in done.stderr  # progress with an estimate of the time left
    rows = read_results(out / RESULTS_FILE)
    quick = load_config(CONFIG, quick=True)
    assert {r["method"] for r in rows} == {"none", "sft", "grpo"}
    assert {r["regime"] for r in rows} == {"none", "targeted", "general", "probe"}
    assert {r["seed"] for r in rows} == set(quick.seeds) and len(quick.seeds) >= 3
    assert {r["selector"] for r in rows if r["regime"] == "targeted"} == set(quick.selectors)
    text = (out / "report.md").read_text()
    assert "## Verdict" in text and "## Too-hard probe" in text
    assert (
        subprocess.run(
            [sys.executable, "-m", "rlvr.cli", "report", str(out / RESULTS_FILE), "--out", str(tmp_path / "again")],
            env=env,
            cwd=ROOT,
            capture_output=True,
        ).returncode
        == 0
    )
    assert (tmp_path / "again" / "report.md").read_text() == text


def test_compare_on_own_model_directory_and_data_files(tmp_path, toy_world_path):
    """model / pool / eval as a user gives them: a model directory and JSONL files with a skill
    column (here the toy world's, saved as plain files), a verifier given as a spec."""
    from rlvr.toy import make_examples

    pool = [r for s in ("add2", "copy", "sub") for r in make_examples(s, 8, "train", 3)]
    held = [r for s in ("add2", "copy", "sub") for r in make_examples(s, 6, "eval", 3)]
    for name, rows in (("pool.jsonl", pool), ("eval.jsonl", held)):
        (tmp_path / name).write_text(
            "".join(json.dumps({k: r[k] for k in ("prompt", "answer", "skill")}) + "\n" for r in rows)
        )
    config = load_config(
        None,
        model=str(toy_world_path),
        pool=str(tmp_path / "pool.jsonl"),
        eval=str(tmp_path / "eval.jsonl"),
        verifiers=[{"name": "exact", "weight": 1.0}],
        target_skill="sub",
        methods=["sft"],
        regimes=["targeted"],
        selectors=["random", "loss"],
        budgets=[0.5],
        seeds=[0],
        n_targets=2,
        eval_n_per_skill=4,
        steps=2,
        batch_size=4,
        probe={"enabled": False},
    )
    rows = read_results(run_compare(config, tmp_path / "out"))
    trained = [r for r in rows if r["selector"] != "warm_start"]
    assert {r["selector"] for r in trained} == {"random", "loss"} and {r["n_selected"] for r in trained} == {12}
    assert {r["metric"] for r in trained} >= {"acc/add2", "acc/copy", "acc/sub"} and "acc/mul3x3" not in {
        r["metric"] for r in trained
    }
    assert {r["target_skill"] for r in rows} == {"sub"}
    with pytest.raises(ValueError, match="target_skill 'mul1x2' is not a skill of the held-out rows"):
        run_compare(
            load_config(None, **{**config.__dict__, "probe": {"enabled": False}, "target_skill": "mul1x2"}),
            tmp_path / "bad",
        )
    with pytest.raises(KeyError, match="Unknown verifier 'exactt'. Did you mean 'exact'"):
        load_config(None, verifiers=["exactt"])


def test_probe_only_run_trains_on_the_probes_own_reward(tmp_path, toy_world_path):
    """methods: [] runs the probe alone; probe.verifiers rewards its GRPO rollouts while accuracy
    is still scored by the comparison's verifier."""
    calls = tmp_path / "calls.txt"
    (tmp_path / "probe_reward.py").write_text(
        "def shaped(completion, example):\n"
        f"    open({str(calls)!r}, 'a').write(example['skill'] + '\\n')\n"
        "    return 0.5 if completion.strip()[-1:] == str(example['answer'])[-1:] else 0.0\n"
    )
    spec = f"{tmp_path / 'probe_reward.py'}:shaped"
    config = load_config(
        None,
        methods=[],
        seeds=[0],
        eval_n_per_skill=4,
        n_targets=2,
        grpo_tokens=200,
        grpo_prompts_per_step=4,
        grpo_generations=4,
        probe={"max_rows_per_skill": 2, "verifiers": [spec]},
    )
    rows = read_results(run_compare(config, tmp_path / "out"))
    assert {(r["method"], r["regime"]) for r in rows} == {("none", "none"), ("grpo", "probe")}
    assert {r["reward"] for r in rows if r["regime"] == "probe"} == {spec}
    skills = calls.read_text().split()
    assert "mul3x3" in skills and "copy" in skills  # plain and frontier arms train on the hopeless rows too
    # accuracy is exact match: scored by the shaped reward (at most 0.5) no answer would count
    assert all(r["value"] >= 0.75 for r in rows if r["metric"] == "acc/copy")
    text = write_report(tmp_path / "out" / RESULTS_FILE, tmp_path / "out").read_text()
    assert text.startswith("# The too-hard probe") and f"trained on the reward `{spec}`" in text


def test_cli_config_errors_name_the_problem(tmp_path, capsys):
    from rlvr.cli import main

    out = str(tmp_path / "out")
    assert main(["compare", "--config", str(CONFIG), "--probe-only", "--probe-reward", "exakt", "--out", out]) == 2
    assert "Unknown verifier 'exakt'. Did you mean 'exact'?" in capsys.readouterr().err
    assert main(["compare", "--config", str(tmp_path / "missing.yaml"), "--out", out]) == 2
    assert "missing.yaml' does not exist" in capsys.readouterr().err
    (tmp_path / "typo.yaml").write_text("compare:\n  budget: [0.1]\n")
    assert main(["compare", "--config", str(tmp_path / "typo.yaml"), "--out", out]) == 2
    assert "Unknown key 'compare.budget'. Did you mean 'budgets'?" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_held_out_rows_split_into_targets_and_evaluation_without_overlap():
    from rlvr.compare import held_out

    held = held_out(load_config(None, n_targets=32, eval_n_per_skill=64))
    count = lambda rows, skill: sum(r["skill"] == skill for r in rows)  # noqa: E731
    assert count(held.targets, "add2") == 32 and count(held.evaluation, "add2") == 64
    # add1 has 22 held-out prompts: half become targets, half are evaluated
    assert count(held.targets, "add1") == 11 and count(held.evaluation, "add1") == 11
    assert not {r["id"] for r in held.targets} & {r["id"] for r in held.evaluation}
    assert {r["skill"] for r in held.targets_for("targeted", "add2")} == {"add2"}
    assert len(held.targets_for("general", "add2")) == len(held.targets)


# -- honest statistics: paired 95% t intervals over seeds ----------------------------------------
def test_paired_margin_has_the_hand_computed_t_interval():
    from rlvr.compare.report import margin, paired

    # differences 0.1, 0.2, 0.3: mean 0.2, sd 0.1, half-width t(0.975, 2) 4.302653 x 0.1 / sqrt(3) = 0.24841
    m = paired({0: 0.4, 1: 0.5, 2: 0.6, 7: 0.9}, {0: 0.3, 1: 0.3, 2: 0.3, 8: 0.0})  # seeds 7, 8 unshared
    assert m.n == 3 and m.mean == pytest.approx(0.2) and m.std == pytest.approx(0.1)
    assert (m.low, m.high) == (pytest.approx(0.2 - 0.248414, abs=1e-6), pytest.approx(0.2 + 0.248414, abs=1e-6))
    assert margin(m) == "+0.200 [-0.048, +0.448] (no clear difference)"
    assert margin(paired({0: 0.4}, {0: 0.3})) == "+0.100 (one seed: no interval)"
    # differences -0.10, -0.12, -0.08, -0.11, -0.09: the interval [-0.120, -0.080] lies below zero
    assert (
        margin(paired({s: 0.5 for s in range(5)}, dict(enumerate([0.6, 0.62, 0.58, 0.61, 0.59]))))
        == "-0.100 [-0.120, -0.080] (loss)"
    )


def test_t_quantile_table_matches_the_t_distribution():
    """Each tabulated t(0.975, df) (and the expansion past 30) leaves 2.5% in the upper tail of
    Student's t density, integrated numerically."""
    import numpy as np

    from rlvr.compare.report import t975

    for df in [*range(1, 31), 31, 60, 500]:
        x = np.linspace(0.0, t975(df), 100001)
        log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
        density = np.exp(log_norm) * (1 + x**2 / df) ** (-(df + 1) / 2)
        assert 0.5 + np.trapezoid(density, x) == pytest.approx(0.975, abs=1e-5), df
    assert t975(2) == 4.302653
    with pytest.raises(ValueError, match="df >= 1, got 0"):
        t975(0)


def _margin_rows(diffs_by_budget: dict[float, list[float]]) -> list[dict]:
    """influence = loss + diff per seed; random far below both; one SFT targeted arm per selector."""
    rows = []
    for budget, diffs in diffs_by_budget.items():
        for seed, diff in enumerate(diffs):
            for s, v in (("random", 0.1), ("loss", 0.4 + 0.01 * seed), ("influence", 0.4 + 0.01 * seed + diff)):
                rows += [
                    {
                        "method": "sft",
                        "regime": "targeted",
                        "selector": s,
                        "budget": budget,
                        "seed": seed,
                        "metric": m,
                        "value": v,
                        "n_selected": 4,
                        "target_skill": "add2",
                        "steps": 3,
                        "batch_size": 8,
                        "gen_tokens": 0,
                    }
                    for m in ("target_acc", "retention_acc", "mean_acc")
                ]
    return rows


def test_report_calls_a_win_only_when_the_interval_excludes_zero(tmp_path):
    """The issue's case: at budget 0.2 influence leads loss by 0.044 with sd 0.040 (beyond one std,
    which the old report called a win) but the 95% interval [-0.005, +0.093] includes zero; at
    0.5 the lead 0.100 has interval [+0.080, +0.120] and is a win."""
    path = tmp_path / RESULTS_FILE
    path.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in _margin_rows({0.2: [0.05, 0.02, 0.09, -0.01, 0.07], 0.5: [0.10, 0.12, 0.08, 0.11, 0.09]})
        )
    )
    text = write_report(path, tmp_path / "out").read_text()
    assert (
        "- budget 0.2: **influence** highest on the target (add2) (0.464 ± 0.043), ahead of loss by "
        "+0.044 [-0.005, +0.093] (no clear difference); vs random +0.364 [+0.310, +0.418] (win); "
        "best influence-type (influence) vs best "
        "difficulty-type (loss): +0.044 [-0.005, +0.093] (no clear difference)." in text
    )
    assert (
        "- budget 0.5: **influence** highest on the target (add2) (0.520 ± 0.019), ahead of loss by "
        "+0.100 [+0.080, +0.120] (win);" in text
    )
    assert (
        "clear best selector per budget — no clear winner @ 0.2 (influence over loss +0.044 [-0.005, +0.093] "
        "(no clear difference)), influence @ 0.5 (1 influence-type, 0 difficulty-type, 0 random/full clear "
        "wins of 2 budgets)."
    ) in text
    assert "influence-type clearly ahead at 1, difficulty-type at 0, no clear call at 1 of 2 budgets" in text
    assert "95% paired t interval" in text and "within one std" not in text


def test_report_with_one_seed_gives_no_interval_and_no_winner(tmp_path):
    path = tmp_path / RESULTS_FILE
    path.write_text("".join(json.dumps(r) + "\n" for r in _margin_rows({0.5: [0.2]})))
    text = write_report(path, tmp_path / "out").read_text()
    assert "ahead of loss by +0.200 (one seed: no interval)" in text
    assert "no clear winner @ 0.5" in text and "0 influence-type, 0 difficulty-type, 0 random/full clear wins" in text


def test_ci95_is_the_t_interval_of_the_mean():
    from rlvr.compare.report import ci95

    mean, half = ci95({0: 0.1, 1: 0.3, 2: 0.2})  # sd 0.1, n 3: t(0.975, 2) = 4.302653
    assert mean == pytest.approx(0.2) and half == pytest.approx(4.302653 * 0.1 / 3**0.5)
    assert ci95({0: 0.5}) == (0.5, 0.0)


@pytest.mark.parametrize("budgets", [[0.2], [0.05, 0.2, 0.5, 1.0]])
def test_report_plots_quick_and_full_budget_grids(tmp_path, budgets):
    """Quick mode (one budget) draws bars; a budget grid draws lines over a log axis with a tick
    at every budget. Both write a real PNG."""
    import matplotlib.pyplot as plt

    path = tmp_path / RESULTS_FILE
    path.write_text("".join(json.dumps(r) + "\n" for r in _margin_rows({b: [0.05, 0.02, 0.09] for b in budgets})))
    drawn = []
    real_savefig = plt.Figure.savefig

    def spy(fig, target, **kwargs):
        drawn.append([(len(ax.patches), [t.get_text() for t in ax.get_xticklabels()]) for ax in fig.axes])
        return real_savefig(fig, target, **kwargs)

    plt.Figure.savefig = spy
    try:
        write_report(path, tmp_path / "out")
    finally:
        plt.Figure.savefig = real_savefig
    png = (tmp_path / "out" / "report_sft.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    patches, labels = drawn[0][0]
    if len(budgets) == 1:
        assert patches == 3 and labels == ["budget 20%"]  # one bar per selector
    else:
        assert patches == 0 and labels == ["5%", "20%", "50%", "100%"]


def _math_record(problem, solution, subject, level="Level 3"):
    return {"problem": problem, "solution": solution, "type": subject, "level": level}


def test_math_rows_take_the_last_boxed_answer_and_the_subject_as_skill():
    from rlvr.compare.inputs import MATH_INSTRUCTION, math_rows

    rows = math_rows(
        [
            _math_record("What is 1/2 + 0?", r"First \boxed{1}, no: $\boxed{\frac{1}{2}}$.", "Algebra"),
            _math_record("Area?", r"It is \fbox{4\pi}", "Geometry", "Level 5"),
        ],
        source="m.jsonl",
    )
    assert [(r["id"], r["answer"], r["skill"], r["level"]) for r in rows] == [
        ("m.jsonl:1", r"\frac{1}{2}", "Algebra", "Level 3"),
        ("m.jsonl:2", r"4\pi", "Geometry", "Level 5"),
    ]
    assert rows[0]["prompt"] == "What is 1/2 + 0?\n\n" + MATH_INSTRUCTION


def test_math_rows_name_the_record_without_a_boxed_answer():
    from rlvr.compare.inputs import math_rows

    with pytest.raises(ValueError, match=r"m.jsonl record 2: its 'solution' has no \\boxed"):
        math_rows([_math_record("a", r"\boxed{1}", "Algebra"), _math_record("b", "so 2", "Algebra")], source="m.jsonl")
    with pytest.raises(ValueError, match="m.jsonl record 1: no column 'type'"):
        math_rows([{"problem": "a", "solution": r"\boxed{1}"}], source="m.jsonl")


def test_prepare_math_showdown_writes_rows_the_math_verifier_scores(tmp_path):
    """The real-model showdown's data step on local files: the golds it writes are scored 1.0 by
    the `math` verifier for a boxed correct answer and 0.0 for a wrong one."""
    import subprocess
    import sys

    from rewards import make_reward_funcs

    records = [
        _math_record("x?", r"So $x = \boxed{\dfrac{3}{4}}$.", "Algebra"),
        _math_record("y?", r"Thus \boxed{12}", "Number Theory"),
    ]
    for split in ("train", "test"):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    script = Path(__file__).resolve().parents[2] / "scripts" / "prepare_math_showdown.py"
    subprocess.run(
        [
            sys.executable,
            str(script),
            "--out",
            str(tmp_path / "out"),
            "--files",
            str(tmp_path / "train.jsonl"),
            str(tmp_path / "test.jsonl"),
        ],
        check=True,
        capture_output=True,
    )
    rows = [json.loads(line) for line in (tmp_path / "out" / "test.jsonl").read_text().splitlines()]
    assert [r["answer"] for r in rows] == [r"\dfrac{3}{4}", "12"]
    (math,), _ = make_reward_funcs(["math"])
    scores = math(
        prompts=["p"] * 4,
        completions=[r"\boxed{0.75}", r"\boxed{4/3}", r"\boxed{12}", r"\boxed{13}"],
        answer=[rows[0]["answer"], rows[0]["answer"], rows[1]["answer"], rows[1]["answer"]],
    )
    assert scores == [1.0, 0.0, 1.0, 0.0]
