"""`rlvr.compare.load_config`: built by the strict, typed builder every config uses."""

import ast
from pathlib import Path

import pytest

from rewards.config_types import ConfigError
from rlvr.compare import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"workers": "two"}, "compare.workers: expected an integer, got 'two'"),
        ({"budgets": [0.1, "half"]}, "compare.budgets.1: expected a number, got 'half'"),
        ({"seeds": [0, 1.5]}, "compare.seeds.1: expected an integer, got 1.5"),
        ({"probe": {"enabled": "maybe"}}, "compare.probe.enabled: expected true or false, got 'maybe'"),
        ({"probe": {"low": "low"}}, "compare.probe.low: expected a number, got 'low'"),
        ({"band": [0.1]}, "compare.band: expected a list of numbers, got [0.1]"),
    ],
)
def test_a_mistyped_value_names_its_key_value_and_type(overrides, message):
    with pytest.raises(ConfigError) as caught:
        load_config(None, **overrides)
    assert str(caught.value) == message


def test_number_strings_are_numbers_and_the_file_is_checked_too(tmp_path):
    config = load_config(None, lr="1e-3", workers="2", probe={"low": "0.2"})
    assert config.lr == 0.001 and type(config.lr) is float and config.workers == 2 and config.probe.low == 0.2
    path = tmp_path / "compare.yaml"
    path.write_text("compare:\n  grpo_lr: 5e-5\n  steps: ten\n")
    with pytest.raises(ConfigError, match="^compare.steps: expected an integer, got 'ten'$"):
        load_config(path)
    path.write_text("compare:\n  grpo_lr: 5e-5\n  quick:\n    steps: '3'\n")
    config = load_config(path, quick=True)
    assert config.grpo_lr == 5e-5 and config.steps == 3
    path.write_text("- steps\n")
    with pytest.raises(ConfigError, match="must be a mapping of CompareConfig keys"):
        load_config(path)


def test_range_checks_and_the_probes_influence_settings_name_their_section():
    with pytest.raises(ConfigError, match=r"^Invalid 'compare' section: workers must be >= 1, got 0.$"):
        load_config(None, workers=0)
    with pytest.raises(ConfigError, match="^compare.probe.influence.threshold: expected a number, got 'x'$"):
        load_config(None, probe={"arms": ["influence"], "influence": {"threshold": "x"}})
    with pytest.raises(ConfigError, match=r"^Unknown key 'compare.probe.influence.treshold'. Did you mean 'threshold'"):
        load_config(None, probe={"arms": ["influence"], "influence": {"treshold": -0.1}})


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_config_does_not_import_the_arms():
    """No import cycle: `rlvr.compare.arms` imports the config, and the config checks probe arms
    through `rlvr.compare.probe_arms`, which imports neither."""
    compare = ROOT / "rlvr" / "compare"
    assert "rlvr.compare.config" in imported_modules(compare / "arms.py")
    assert "rlvr.compare.arms" not in imported_modules(compare / "config.py")
    assert not {"rlvr.compare.arms", "rlvr.compare.config"} & imported_modules(compare / "probe_arms.py")
