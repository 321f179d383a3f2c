"""`rlvr frontier` says when --k is too small to drop anything; `rlvr audit --prompt` an unknown id."""

import pytest

from curricula.audit import AuditLog
from curricula.base import Decision
from curricula.config import FrontierConfig
from rlvr.cli.frontier import min_trials_to_drop, too_few_samples_warning


def test_minimum_k_is_the_smallest_n_whose_zero_successes_bound_falls_below_low():
    config = FrontierConfig(low=0.15, high=0.9, confidence=0.95, min_samples=16)
    assert min_trials_to_drop(config, "too_hard") == 19  # 1 - 0.05 ** (1/18) = 0.1531 >= 0.15 > 0.1459
    assert min_trials_to_drop(config, "too_easy") == 29
    assert min_trials_to_drop(FrontierConfig(low=0.15, high=None, min_samples=16), "too_easy") is None
    assert min_trials_to_drop(FrontierConfig(low=0.15, min_samples=40), "too_hard") == 40  # min_samples rules
    wilson = FrontierConfig(low=0.15, high=None, bound="wilson", min_samples=1)
    assert min_trials_to_drop(wilson, "too_hard") == 16  # z^2 / (n + z^2) < 0.15


def test_warning_names_the_bound_and_the_minimum_k():
    config = FrontierConfig(low=0.15, high=0.9, confidence=0.95, min_samples=16)
    assert too_few_samples_warning(config, 16) == (
        "with --k 16 at confidence 0.95 (beta bound), 0 of 16 correct has an upper bound of 0.1707, not below "
        "low=0.15: no prompt can be dropped as too hard (--k 19 or more can); 16 of 16 correct has a lower bound "
        "of 0.8293, not above high=0.9: no prompt can be dropped as too easy (--k 29 or more can)."
    )
    assert too_few_samples_warning(config, 29) is None


@pytest.mark.slow
def test_rlvr_frontier_warns_before_sampling_when_k_cannot_drop(toy_world_path, tmp_path, capsys, monkeypatch):
    from pathlib import Path

    from rlvr.cli import main

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert (
        main(
            ["frontier", "--config", "configs/toy.yaml", "--k", "16", "--out", str(tmp_path), "data.toy_n_per_skill=1"]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert "rlvr frontier: warning: with --k 16 at confidence 0.95 (beta bound), 0 of 16 correct" in err
    assert "(--k 19 or more can)" in err
    assert "kept 6 of 6 prompts" in out


def test_audit_of_an_unknown_prompt_says_so_and_exits_1(tmp_path, capsys):
    from rlvr.cli import main

    log = AuditLog(tmp_path, "run-1")
    for pid in ("add2-e273085267", "copy-0a1b2c3d4e"):
        log.add(
            Decision(
                filter="frontier",
                prompt_id=pid,
                decision="kept",
                reason="in_frontier",
                message="kept",
                stats={},
                columns={"skill": pid.split("-")[0]},
            ),
            0,
            0.0,
        )
    log.flush()
    assert main(["audit", str(tmp_path), "--prompt", "add2-e273085268"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"rlvr audit: prompt 'add2-e273085268' is not in the audit log {tmp_path} (run run-1); "
        "did you mean 'add2-e273085267'?\n"
    )
    assert main(["audit", str(tmp_path), "--prompt", "mul3x3-zzz"]) == 1
    assert "its 2 prompt ids are listed by `rlvr audit" in capsys.readouterr().err
    assert main(["audit", str(tmp_path), "--prompt", "copy-0a1b2c3d4e"]) == 0
    assert "copy-0a1b2c3d4e" in capsys.readouterr().out


def test_out_dir_of_an_earlier_run_is_refused_unless_overwrite(tmp_path):
    import pytest

    from rewards import UserInputError
    from rlvr.cli.frontier import prepare_out_dir

    (tmp_path / "audit.jsonl").write_text('{"run_id": "earlier"}\n')
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match=r"earlier `rlvr frontier` run \(audit.jsonl\).*--overwrite"):
        prepare_out_dir(tmp_path, overwrite=False)
    assert prepare_out_dir(tmp_path, overwrite=True) == tmp_path
    assert not (tmp_path / "audit.jsonl").exists() and (tmp_path / "notes.txt").read_text() == "mine"
