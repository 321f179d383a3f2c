"""`rlvr.sources`: the toy world is a registered data source and model, and a new one plugs in by
registering (no string compared anywhere else)."""

import pytest

from rlvr.config import DataConfig
from rlvr.data import load_prompts
from rlvr.influence.pipeline import load_rows
from rlvr.sources import DATA_SOURCES, MODELS, data_source, resolve_model, source_rows
from rlvr.toy import SKILLS, toy_dataset


def test_toy_is_registered_and_specs_parse():
    assert "toy" in DATA_SOURCES and "toy" in MODELS
    assert data_source("toy") == ("toy", None) and data_source("toy:eval") == ("toy", "eval")
    assert data_source("toy:nope") is None and data_source("data/train.jsonl") is None
    assert resolve_model("some/hub-name") == "some/hub-name"


def test_toy_source_rows_match_the_toy_dataset():
    rows = source_rows("toy:eval", n_per_skill=3, seed=1)
    expected = toy_dataset("eval", n_per_skill=3, seed=1).to_list()
    assert [{k: r[k] for k in ("id", "prompt", "answer", "skill")} for r in rows] == expected
    assert len({r["skill"] for r in rows}) == len(SKILLS)
    loaded = load_prompts("toy", DataConfig(train="toy", toy_eval_n_per_skill=3, toy_seed=1), split="eval")
    assert loaded.source == "toy[eval]" and loaded.dataset["id"] == [r["id"] for r in rows]


def test_a_registered_source_is_loadable_by_name(monkeypatch):
    registry = DATA_SOURCES.copy()
    monkeypatch.setattr("rlvr.sources.DATA_SOURCES", registry)

    def three_rows(split, n_per_skill, seed, skills):
        return [{"id": f"{split}-{i}", "prompt": f"q{i}", "answer": str(i + seed), "skill": "s"} for i in range(3)]

    registry.register("three", three_rows)
    assert [r["answer"] for r in load_rows("three:eval", seed=5)] == ["5", "6", "7"]
    loaded = load_prompts("three", DataConfig(train="three"), split="train")
    assert loaded.dataset["id"] == ["train-0", "train-1", "train-2"]
    with pytest.raises(KeyError, match="Did you mean 'three'"):
        registry.get("thre")
