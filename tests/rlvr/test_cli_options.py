"""Every subcommand but train takes ``--config FILE`` plus ``KEY=VALUE`` overrides (rlvr.cli.options);
old flag spellings keep working."""

import pytest

from rewards.base import UserInputError
from rlvr.cli import SUBCOMMANDS, parse_args
from rlvr.cli.compat import config_from_args
from rlvr.cli.options import flags_to_overrides, merge, parse_overrides


def test_overrides_nest_by_dots_drop_the_section_prefix_and_read_yaml():
    tree = parse_overrides(["dim=4096", "features.seed=3", "influence.mode=less", "skills=[a, b]", "x="], "influence")
    assert tree == {"dim": 4096, "features": {"seed": 3}, "mode": "less", "skills": ["a", "b"], "x": None}
    with pytest.raises(UserInputError, match="must look like key=value"):
        parse_overrides(["dim"], "influence")
    assert merge({"probe": {"a": 1, "b": 2}, "c": 0}, {"probe": {"b": 3}}) == {"probe": {"a": 1, "b": 3}, "c": 0}


def test_old_flags_become_overrides():
    fields = {"quantile": False, "response_eos": True}
    argv = ["compat", "--quantile", "0.8", "--data", "x", "--no-response-eos", "--quantile=0.7", "--response-eos"]
    assert flags_to_overrides(argv, fields) == [
        "compat",
        "--data",
        "x",
        "quantile=0.8",
        "response_eos=false",
        "quantile=0.7",
        "response_eos=true",
    ]


def test_compat_new_and_old_forms_build_the_same_config(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text("compat:\n  quantile: 0.5\n  max_length: 7\n")
    base = ["compat", "--data", "d.jsonl", "--out", str(tmp_path / "o"), "--config", str(config_file)]
    new = config_from_args(parse_args([*base, "quantile=0.8", "response_eos=false"]))
    old = config_from_args(parse_args([*base, "--quantile", "0.8", "--no-response-eos"]))
    assert new == old
    assert (new.quantile, new.response_eos, new.max_length) == (0.8, False, 7)
    mixed = config_from_args(parse_args(["compat", "quantile=0.9", "--data", "d", "--out", "o", "response_eos=false"]))
    assert (mixed.quantile, mixed.response_eos) == (0.9, False)


@pytest.mark.parametrize("command", ["compat", "compare", "influence", "frontier"])
def test_every_command_takes_config_and_overrides(command):
    assert command in SUBCOMMANDS
    required = {
        "compat": ["--data", "d", "--out", "o"],
        "compare": ["--out", "o"],
        "influence": ["--model", "toy", "--train", "toy", "--target", "toy", "--out", "o"],
        "frontier": ["--out", "o"],
    }[command]
    args = parse_args([command, "--config", "c.yaml", *required, "a.b=1"])
    assert args.config == "c.yaml" and "a.b=1" in args.overrides


def test_influence_settings_from_flags_config_and_overrides(tmp_path):
    from curricula.influence.features import FeatureConfig
    from rlvr.cli.influence import extraction_config
    from rlvr.influence.pipeline import ExtractionConfig

    base = ["influence", "--model", "toy", "--train", "toy", "--target", "toy:eval", "--out", str(tmp_path)]
    assert extraction_config(parse_args(base)) == ExtractionConfig()  # defaults live in the classes only
    old = extraction_config(
        parse_args(
            [
                *base,
                "--dim",
                "512",
                "--modules",
                "*.q_proj",
                "*.v_proj",
                "--mode",
                "less",
                "--verifier",
                "exact",
                "--verifier",
                "math",
            ]
        )
    )
    config_file = tmp_path / "c.yaml"
    config_file.write_text("influence:\n  features:\n    dim: 256\n    modules: ['*.q_proj', '*.v_proj']\n")
    new = extraction_config(
        parse_args([*base, "--config", str(config_file), "features.dim=512", "mode=less", "verifiers=[exact, math]"])
    )
    assert old == new
    assert new.features == FeatureConfig(dim=512, modules=("*.q_proj", "*.v_proj")) and new.verifiers == (
        "exact",
        "math",
    )
    assert extraction_config(parse_args([*base, "features.dim=512", "--dim", "128"])).features.dim == 128  # flag wins
    with pytest.raises(UserInputError, match="Did you mean 'features.batch_size'"):
        extraction_config(parse_args([*base, "batch_size=8"]))


def test_compare_nested_override_keeps_the_files_other_keys(tmp_path):
    from rlvr.compare import load_config

    config_file = tmp_path / "c.yaml"
    config_file.write_text("compare:\n  seeds: [3]\n  probe:\n    low: 0.1\n")
    args = parse_args(["compare", "--config", str(config_file), "--out", "o", "probe.enabled=false", "seeds=[0, 1]"])
    config = load_config(args.config, **parse_overrides(args.overrides, "compare"))
    assert config.seeds == [0, 1] and config.probe.enabled is False and config.probe.low == 0.1
