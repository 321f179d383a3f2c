import pytest

from rlvr.config import ConfigError, load_config


def write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_toy_config_builds_every_section():
    config = load_config("configs/toy.yaml", ["grpo.max_steps=3", "verifiers.0.weight=0.5"])
    assert config.model.model_name_or_path == "toy"
    assert config.grpo.max_steps == 3 and config.grpo.num_generations == 8
    assert config.verifiers[0].name == "exact" and config.verifiers[0].weight == 0.5
    assert config.curricula.frontier.enabled and config.curricula.frontier.high == 0.9
    assert config.grpo.bf16 is False  # CPU default, not TRL's bf16=True


def test_unknown_keys_name_the_key_and_suggest(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown key 'grpo.lerning_rate'. Did you mean 'learning_rate'\?"):
        load_config(write(tmp_path, "grpo:\n  lerning_rate: 0.1\n"))
    with pytest.raises(ConfigError, match=r"Unknown key 'data.trian'. Did you mean 'train'\?"):
        load_config(write(tmp_path, "data:\n  trian: x.jsonl\n"))
    with pytest.raises(ConfigError, match=r"Unknown section 'curicula'.*Did you mean 'curricula'\?"):
        load_config(write(tmp_path, "curicula: {}\n"))
    with pytest.raises(ConfigError, match=r"curricula.frontier.mni_samples.*Did you mean 'min_samples'\?"):
        load_config(write(tmp_path, "curricula:\n  frontier:\n    mni_samples: 3\n"))
    with pytest.raises(ConfigError, match=r"Unknown key 'verifiers.0.wieght'"):
        load_config(write(tmp_path, "verifiers:\n  - name: exact\n    wieght: 2\n"))


def test_overrides_need_a_section_and_say_which(tmp_path):
    path = write(tmp_path, "grpo:\n  output_dir: out\n")
    with pytest.raises(ConfigError, match=r"Did you mean 'grpo.max_steps'\?"):
        load_config(path, ["max_steps=5"])
    with pytest.raises(ConfigError, match="must look like section.key=value"):
        load_config(path, ["grpo.max_steps"])


def test_bad_values_are_reported_with_their_section(tmp_path):
    with pytest.raises(ConfigError, match="frontier.high must be in"):
        load_config(write(tmp_path, "curricula:\n  frontier:\n    low: 0.5\n    high: 0.2\n"))
    with pytest.raises(ConfigError, match="Config file .* does not exist"):
        load_config(tmp_path / "missing.yaml")
