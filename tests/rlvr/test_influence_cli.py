"""`rlvr influence` (`rlvr.cli.influence` over `rlvr.influence.pipeline`): scores, selection,
audit, LESS mode with Adam moments, policy-gradient features (and their groups' pass rates), bad
selections. The library under it is tested in tests/curricula/test_influence.py."""

import json
import math

import pytest

from curricula.influence import FeatureStore, encode_rows
from rlvr.toy.tasks import make_examples
from rlvr.toy.tokenizer import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def save_tiny_model(model, tokenizer, folder):
    """``model`` and ``tokenizer`` saved into ``folder``, a model folder as ``--model`` reads it."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def influence_argv(model, train, target, out, *flags):
    """The arguments of `rlvr influence` scoring ``train`` against ``target`` with ``model``."""
    paths = ["--model", str(model), "--train", str(train), "--target", str(target), "--out", str(out)]
    return ["influence", *paths, *flags]


def test_cli_scores_selects_and_audits(tiny_llama, tmp_path, tokenizer):
    from curricula.audit import read_audit
    from rlvr.cli import main

    model_dir = save_tiny_model(tiny_llama(tokenizer, seed=7), tokenizer, tmp_path / "model")
    train = make_examples("add2", 10, seed=3) + make_examples("copy", 10, seed=3)
    targets = make_examples("add2", 4, "eval", seed=3) + make_examples("copy", 4, "eval", seed=3)
    for name, data in (("train.jsonl", train), ("target.jsonl", targets)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in data))
    out = tmp_path / "out"
    argv = influence_argv(
        model_dir,
        tmp_path / "train.jsonl",
        tmp_path / "target.jsonl",
        out,
        "--select",
        "25%",
        "--dim",
        "512",
        "--quiet",
    )
    assert main(argv) == 0
    scores = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert [s["id"] for s in scores] == [r["id"] for r in train]
    assert set(scores[0]["per_skill"]) == {"add2", "copy"}
    assert all(abs(s["score"] - max(s["per_skill"].values())) < 1e-5 for s in scores)
    assert sorted(s["rank"] for s in scores) == list(range(1, 21))
    selected = [json.loads(line) for line in (out / "selected.jsonl").read_text().splitlines()]
    assert len(selected) == 5
    assert {r["id"] for r in selected} == {s["id"] for s in scores if s["rank"] <= 5}
    audit = read_audit(out)
    assert len(audit) == 20 and {r["filter"] for r in audit} == {"influence"}
    kept = [r for r in audit if r["decision"] == "kept"]
    assert len(kept) == 5 and all(r["reason"] == "top_influence" for r in kept)
    assert "rank" in kept[0]["message"] and kept[0]["columns"]["skill"] in ("add2", "copy")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == 20 and summary["bytes_per_row"] == summary["dim"] * 2 + 8
    # A second run finds complete stores and recomputes nothing: same scores.
    before = (out / "scores.jsonl").read_text()
    assert main(argv) == 0
    assert (out / "scores.jsonl").read_text() == before
    assert main(argv + ["--seed", "1"]) == 2  # other projection, same store: refused


def test_cli_less_mode_and_adam_from_a_checkpoint(tiny_llama, tmp_path, tokenizer):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from rlvr.cli import main

    train = make_examples("add2", 4, seed=6) + make_examples("copy", 4, seed=6)
    targets = make_examples("add2", 2, "eval", seed=6)
    for name, data in (("train.jsonl", train), ("target.jsonl", targets)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in data))
    sequences = encode_rows(tokenizer, train)
    data = Dataset.from_list(
        [
            {"input_ids": s.input_ids, "labels": [-100] * s.response_start + s.input_ids[s.response_start :]}
            for s in sequences
        ]
    )
    args = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        max_steps=2,
        per_device_train_batch_size=1,
        save_steps=2,
        use_cpu=True,
        report_to=[],
        logging_strategy="no",
    )
    Trainer(model=tiny_llama(tokenizer, seed=9), args=args, train_dataset=data, processing_class=tokenizer).train()
    checkpoint = str(tmp_path / "run" / "checkpoint-2")
    common = [
        "influence",
        "--model",
        checkpoint,
        "--adam-from",
        checkpoint,
        "--train",
        str(tmp_path / "train.jsonl"),
        "--target",
        str(tmp_path / "target.jsonl"),
        "--dim",
        "64",
        "--quiet",
    ]
    for mode in ("less", "fast"):
        out = tmp_path / mode
        assert main(common + ["--mode", mode, "--out", str(out)]) == 0
        train_meta = json.loads((out / "features/ckpt0/train/meta.json").read_text())
        target_meta = json.loads((out / "features/ckpt0/target/meta.json").read_text())
        if mode == "less":  # training features Adam-preconditioned, targets plain (LESS)
            assert train_meta["projection"]["adam"] and not target_meta["projection"]["adam"]
        else:
            assert train_meta["projection"]["preconditioner"] == "adafactor"
            assert target_meta["projection"]["preconditioner"] is None
        scores = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
        assert len(scores) == 8 and all(-1 <= s["score"] <= 1 for s in scores)
        assert len({round(s["score"], 6) for s in scores}) > 1


def test_cli_policy_gradient_features(tiny_llama, tmp_path, tokenizer):
    from rlvr.cli import main

    model_dir = save_tiny_model(tiny_llama(tokenizer, seed=10), tokenizer, tmp_path / "model")
    rows = make_examples("add1", 3, seed=7)
    # A random model never answers right; a reward on the completion's length gives every group signal.
    for row in rows:
        row["answer"] = "7"
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    argv = influence_argv(
        model_dir,
        tmp_path / "data.jsonl",
        tmp_path / "data.jsonl",
        out,
        "--dim",
        "64",
        "--train-feature",
        "policy_gradient",
        "--num-generations",
        "4",
        "--max-new-tokens",
        "3",
        "--verifier",
        f"{__file__}:odd_length",
        "--quiet",
    )
    assert main(argv) == 0
    meta = json.loads((out / "features/ckpt0/train/meta.json").read_text())
    assert meta["kind"] == "policy_gradient" and meta["rows_done"] == 3
    norms = FeatureStore(out / "features/ckpt0/train").norms()
    assert (norms > 0).any()


def odd_length(completion, example):
    """A verifier for the test above: 1 when the completion has an odd number of characters."""
    return float(len(completion) % 2)


def test_cli_rejects_a_bad_selection(tmp_path):
    from rlvr.cli.influence import parse_selection

    assert parse_selection("5%", 100) == (0.05, None, "5%")
    assert parse_selection("30", 10) == (None, 30, "10 rows")
    with pytest.raises(ValueError, match="percentage"):
        parse_selection("0%", 10)


def test_a_groups_pass_rate_counts_only_scored_completions():
    """A policy-gradient row's pass rate (stored beside its feature): NaN rewards (no verifier
    scored the completion) are no trial, as everywhere in curricula (`count_successes`)."""
    from rlvr.influence.pipeline import group_pass_rate

    assert group_pass_rate([1.0, 0.0, 1.0, 0.5]) == 0.5  # all scored: successes / group size, as before
    assert group_pass_rate([1.0, math.nan, 0.0, math.nan]) == 0.5
    assert group_pass_rate([2.0, 0.9], success_threshold=1.0) == 0.5
    assert math.isnan(group_pass_rate([math.nan, math.nan]))


def test_rlvr_influence_re_exports_every_public_name_of_the_library():
    import curricula.influence as library
    import rlvr.influence as offline

    assert offline.__all__ == library.__all__
    assert all(getattr(offline, name) is getattr(library, name) for name in library.__all__)
