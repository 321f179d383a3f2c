"""TRL-style flat recipes and ``--key value`` flags resolve to the same config as rlvr's sections."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from rlvr.cli.train import parse_args
from rlvr.config import ConfigError, config_to_dict, load_config
from tests.rlvr.conftest import rlvr_cli, run_in_checkout

ROOT = Path(__file__).resolve().parents[2]
SECTIONED = ROOT / "configs" / "toy.yaml"
FLAT = ROOT / "configs" / "toy_trl_recipe.yaml"


def resolved(argv: list[str]) -> dict:
    args = parse_args(argv)
    return config_to_dict(load_config(args.config, args.overrides))


def test_the_shipped_flat_recipe_resolves_like_the_sectioned_toy_config():
    assert resolved(["--config", str(FLAT)]) == resolved(["--config", str(SECTIONED)])


def test_flags_in_every_form_equal_dotted_overrides():
    flat = resolved(
        [
            "--config",
            str(FLAT),
            "--learning_rate",
            "1e-5",
            "--max_steps=7",
            "--bf16",
            "false",
            "--reward_funcs",
            "exact",
            "format",
            "--reward_weights",
            "1.0",
            "0.5",
            "--torch_dtype",
            "float32",
            "--curricula.frontier.low",
            "0.3",
            "data.toy_seed=2",
        ]
    )
    sectioned = resolved(
        [
            "--config",
            str(SECTIONED),
            "grpo.learning_rate=1e-5",
            "grpo.max_steps=7",
            "grpo.bf16=false",
            "verifiers=[{name: exact, weight: 1.0}, {name: format, weight: 0.5}]",
            "model.dtype=float32",
            "curricula.frontier.low=0.3",
            "data.toy_seed=2",
        ]
    )
    assert flat == sectioned
    assert flat["grpo"]["learning_rate"] == 1e-5 and flat["grpo"]["max_steps"] == 7
    assert [v["weight"] for v in flat["verifiers"]] == [1.0, 0.5]


def test_a_flag_wins_over_the_recipe_and_a_bare_flag_is_true(tmp_path):
    config = resolved(["--config", str(FLAT), "--max_steps", "3", "--use_peft"])
    assert config["grpo"]["max_steps"] == 3 and config["model"]["use_peft"] is True


def test_a_hub_recipe_maps_dataset_keys_and_evaluates_only_on_a_named_test_split(tmp_path):
    recipe = {
        "model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct",
        "dataset_name": "openai/gsm8k",
        "dataset_config": "main",
        "dataset_train_split": "train",
        "dataset_prompt_column": "question",
        "system_prompt": "Think, then answer.",
        "reward_funcs": ["math"],
        "num_generations": 4,
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    data = config_to_dict(load_config(path))["data"]
    assert (data["train"], data["dataset_config"], data["train_split"], data["eval"]) == (
        "openai/gsm8k",
        "main",
        "train",
        None,
    )
    assert data["columns"] == {"prompt": "question"} and data["system_prompt"] == "Think, then answer."
    path.write_text(yaml.safe_dump({**recipe, "dataset_test_split": "test"}))
    data = config_to_dict(load_config(path))["data"]
    assert (data["eval"], data["eval_split"]) == ("openai/gsm8k", "test")


def test_dataset_flags_map_like_the_recipe_keys():
    data = resolved(["--config", str(SECTIONED), "--dataset_name", "openai/gsm8k", "--dataset_config", "main"])["data"]
    assert (data["train"], data["dataset_config"], data["eval"]) == ("openai/gsm8k", "main", "toy")  # eval: toy, set
    data = config_to_dict(load_config(None, [("dataset_name", "openai/gsm8k")]))["data"]
    assert data["eval"] is None
    data = config_to_dict(load_config(None, [("dataset_name", "openai/gsm8k"), ("dataset_test_split", "test")]))["data"]
    assert (data["eval"], data["eval_split"]) == ("openai/gsm8k", "test")


@pytest.mark.parametrize(
    "text, message",
    [
        ("lerning_rate: 1.0e-5\n", r"Unknown key 'lerning_rate' in '.*'\. Did you mean 'learning_rate'\?"),
        ("num_generation: 4\n", r"Unknown key 'num_generation' in '.*'\. Did you mean 'num_generations'\?"),
        ("model_name_or_pth: toy\n", r"Did you mean 'model_name_or_path'\?"),
        ("curicula: {}\n", r"Unknown section 'curicula' in '.*'\. Did you mean 'curricula'\?"),
        (
            "learning_rate: 1.0\ngrpo: {learning_rate: 2.0}\n",
            r"'learning_rate' and 'grpo.learning_rate' set the same key",
        ),
        ("reward_funcs: [exact]\nverifiers: [exact]\n", r"'reward_funcs' and 'verifiers'.* both list the rewards"),
        ("reward_funcs: [exact]\nreward_weights: [1.0, 2.0]\n", r"reward_weights.* 2 weight\(s\) for 1 verifier"),
        ("max_steps: ten\n", r"grpo\.max_steps"),
    ],
)
def test_a_bad_flat_key_or_value_is_one_error_naming_it(tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_typod_flag_is_an_error_with_a_suggestion():
    with pytest.raises(
        ConfigError,
        match=r"Unknown key 'lerning_rate' \(flag --lerning_rate\)\. "
        r"Did you mean 'learning_rate'\?",
    ):
        resolved(["--config", str(FLAT), "--lerning_rate", "1e-5"])


def test_the_accelerate_entry_point_rejects_a_typod_flag_before_the_model_loads(tmp_path):
    cmd = [sys.executable, "scripts/train_grpo.py", "--config", str(FLAT), f"--output_dir={tmp_path}"]
    result = run_in_checkout([*cmd, "--num_generation", "4"], timeout=120)
    assert result.returncode == 2
    assert "Did you mean 'num_generations'?" in result.stderr
    assert not (tmp_path / "summary.json").exists()


def test_the_toy_world_trains_from_the_flat_recipe_end_to_end(toy_world_path, tmp_path):
    cmd = rlvr_cli(
        "train",
        "--config",
        str(FLAT),
        "--output_dir",
        str(tmp_path),
        "--max_steps",
        "3",
        "--per_device_train_batch_size=16",
        "--logging_steps",
        "1",
        "--seed",
        "0",
        "--data.toy_n_per_skill",
        "2",
        "--eval.max_prompts_per_skill",
        "4",
        "--curricula.frontier.min_samples",
        "8",
    )
    result = run_in_checkout(cmd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 3
    assert set(summary["accuracy_before"]) == {"add1", "add2", "copy", "mul1x2", "mul3x3", "sub"}
    saved = yaml.safe_load((tmp_path / "rlvr_config.yaml").read_text())  # the resolved config, sectioned
    assert saved["grpo"]["max_steps"] == 3 and saved["data"]["toy_n_per_skill"] == 2
    assert saved["curricula"]["frontier"]["enabled"] is True
