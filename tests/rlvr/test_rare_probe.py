"""The rare-success probe (`rlvr.compare.rare_probe`, run by scripts/rare_success_probe.py) end to
end on the toy world, tiny: which prompts count as rare, and the probe runs on them."""

import json

from rlvr.compare.rare_probe import RareProbeConfig, first_rows, pick_rare, run_rare_probe


def test_pick_rare_keeps_only_rarely_solved_rows_and_their_skill():
    rows = [
        {"id": "a", "skill": "sub"},
        {"id": "b", "skill": "sub"},
        {"id": "c", "skill": "mul1x2"},
        {"id": "d", "skill": "mul1x2"},
    ]
    rates = {"a": 0.0, "b": 0.05, "c": 0.08, "d": 0.09}
    assert pick_rare(rows, rates, 0.08) == [
        {"id": "b", "skill": "rare", "source": "sub"},
        {"id": "c", "skill": "rare", "source": "mul1x2"},
    ]


def test_first_rows_keeps_the_skill_order_and_leaves_out_excluded_ids():
    rows = [{"id": i, "skill": s} for i, s in enumerate(["add2", "sub", "add2", "sub", "add2", "copy"])]
    assert [r["id"] for r in first_rows(rows, ["sub", "add2"], 2)] == [1, 3, 0, 2]
    assert [r["id"] for r in first_rows(rows, ["add2", "copy"], 2, exclude={0})] == [2, 4, 5]


def test_probe_runs_on_the_rare_prompts(toy_world_path, tmp_path):
    out = tmp_path / "rare"
    config = RareProbeConfig(
        seeds=(0,), grpo_tokens=400, k=8, rare_max=0.25, candidates_per_skill=16, per_skill=2, max_rare=4, workers=1
    )
    report = run_rare_probe(config, out)
    pool = [json.loads(line) for line in (out / "pool.jsonl").read_text().splitlines()]
    rare = [r for r in pool if r["skill"] == "rare"]
    assert 1 <= len(rare) <= 4 and all(0 < r["pass_rate"] <= 0.25 for r in rare)
    assert all(r["source"] in ("mul1x2", "sub", "add2") for r in rare)
    assert sum(r["skill"] != "rare" for r in pool) == 5 * 2
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    arms = {r["selector"] for r in results if r["regime"] == "probe"}
    assert arms == {"plain", "frontier", "without_hopeless"}
    without = {r["n_selected"] for r in results if r["selector"] == "without_hopeless"}
    assert without == {len(pool) - len(rare)}
    assert "## Too-hard probe" in report.read_text()
