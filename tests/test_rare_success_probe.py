"""scripts/rare_success_probe.py end to end on the toy world, tiny: which prompts count as rare,
and the probe runs on them."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import rare_success_probe  # noqa: E402


def test_pick_rare_keeps_only_rarely_solved_rows_and_their_skill():
    rows = [
        {"id": "a", "skill": "sub"},
        {"id": "b", "skill": "sub"},
        {"id": "c", "skill": "mul1x2"},
        {"id": "d", "skill": "mul1x2"},
    ]
    rates = {"a": 0.0, "b": 0.05, "c": 0.08, "d": 0.09}
    assert rare_success_probe.pick_rare(rows, rates, 0.08) == [
        {"id": "b", "skill": "rare", "source": "sub"},
        {"id": "c", "skill": "rare", "source": "mul1x2"},
    ]


def test_probe_runs_on_the_rare_prompts(toy_world_path, tmp_path, capsys):
    out = tmp_path / "rare"
    assert (
        rare_success_probe.main(
            [
                "--seeds",
                "0",
                "--grpo-tokens",
                "400",
                "--k",
                "8",
                "--rare-max",
                "0.25",
                "--candidates-per-skill",
                "16",
                "--per-skill",
                "2",
                "--max-rare",
                "4",
                "--workers",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
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
    assert "## Too-hard probe" in capsys.readouterr().out
