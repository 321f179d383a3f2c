"""Every YAML under configs/ parses and names only keys something reads.

Run configs go through `rlvr.config.load_config` (unknown keys are errors there). Launch configs
under configs/accelerate/ go through accelerate's own `ClusterConfig.from_yaml_file` (unknown
top-level keys are errors there) and, since accelerate copies the keys of nested blocks
(``deepspeed_config``, ``fsdp_config``, ...) onto `accelerate launch` arguments and silently
ignores a key no argument has, each nested key is checked against the launcher's arguments too.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE_DIR = ROOT / "configs" / "accelerate"
ALL_YAML = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if ACCELERATE_DIR not in p.parents)
# Comparison configs (`rlvr compare`) have one `compare:` section; the rest are run configs.
COMPARE_CONFIGS = [p for p in ALL_YAML if set(yaml.safe_load(p.read_text())) == {"compare"}]
RUN_CONFIGS = [p for p in ALL_YAML if p not in COMPARE_CONFIGS]
LAUNCH_CONFIGS = sorted(ACCELERATE_DIR.glob("*.yaml"))
# The launch configs the docs name: file -> (distributed_type, num_processes, num_machines).
DOCUMENTED = {
    "single_gpu": ("NO", 1, 1),
    "multi_gpu": ("MULTI_GPU", 8, 1),
    "zero2": ("DEEPSPEED", 8, 1),
    "zero3": ("DEEPSPEED", 8, 1),
    "fsdp2": ("FSDP", 8, 1),
    "multi_node": ("MULTI_GPU", 16, 2),
    "cpu_2proc": ("MULTI_GPU", 2, 1),
}
# Nested blocks whose keys accelerate maps onto launch arguments, with the prefix it adds.
NESTED_PREFIX = {
    "deepspeed_config": "",
    "fsdp_config": "fsdp_",
    "dynamo_config": "dynamo_",
    "fp8_config": "fp8_",
    "parallelism_config": "",
}


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_both_kinds_of_config_are_found():
    assert {p.name for p in RUN_CONFIGS} >= {"toy.yaml", "math_1p5b_lora.yaml", "math_1p5b_full.yaml"}
    assert {p.stem for p in LAUNCH_CONFIGS} >= set(DOCUMENTED)


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=_name)
def test_run_config_loads_with_only_known_keys(path):
    from rlvr.config import SECTIONS, load_config
    from rlvr.recipe import flat_keys

    raw = yaml.safe_load(path.read_text())
    known = set(SECTIONS) | set(flat_keys())  # a TRL-style flat recipe's keys (rlvr/recipe.py)
    assert set(raw) <= known, f"{_name(path)}: unknown keys {set(raw) - known}"
    config = load_config(path)  # raises ConfigError naming any unknown key
    assert config.source == str(path)
    # The verifiers resolve (a typo in a verifier name fails here, not at the first step).
    from rewards import make_reward_funcs

    funcs, weights = make_reward_funcs(config.verifiers)
    assert len(funcs) == len(weights) == len(config.verifiers)


@pytest.mark.parametrize("path", COMPARE_CONFIGS, ids=_name)
def test_compare_config_loads_with_only_known_keys(path):
    from rlvr.compare import load_config

    assert load_config(path) is not None and load_config(path, quick=True) is not None


@pytest.mark.parametrize("path", RUN_CONFIGS + COMPARE_CONFIGS + LAUNCH_CONFIGS, ids=_name)
def test_every_config_starts_with_a_comment_saying_what_it_is_for(path):
    assert path.read_text().startswith("#"), f"{_name(path)} has no header comment"


@pytest.mark.parametrize("path", LAUNCH_CONFIGS, ids=_name)
def test_launch_config_parses_with_accelerate(path):
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.commands.launch import launch_command_parser

    config = ClusterConfig.from_yaml_file(str(path))  # raises on unknown top-level keys
    launch_args = {action.dest for action in launch_command_parser()._actions}
    raw = yaml.safe_load(path.read_text())
    for block, prefix in NESTED_PREFIX.items():
        for key in raw.get(block) or {}:
            argument = key if key.startswith(prefix) else prefix + key
            assert argument in launch_args, f"{_name(path)}: {block}.{key} is not an accelerate launch argument"
    expected = DOCUMENTED.get(path.stem)
    if expected is not None:
        distributed_type, num_processes, num_machines = expected
        assert (str(config.distributed_type).split(".")[-1], config.num_processes, config.num_machines) == expected


@pytest.mark.parametrize("path", LAUNCH_CONFIGS, ids=_name)
def test_launch_config_resolves_to_a_launcher(path):
    """What `accelerate launch --config_file X` would start, resolved without starting it."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    parsed = launch_command_parser().parse_args(["--config_file", str(path), "scripts/train_grpo.py"])
    args, _, _ = _validate_launch_command(parsed)
    stem = path.stem
    if stem.startswith("zero"):
        assert args.use_deepspeed and args.zero_stage == int(stem[-1])
    if stem.startswith("fsdp"):
        assert args.use_fsdp and int(args.fsdp_version) == 2
    if stem in ("multi_gpu", "multi_node", "cpu_2proc"):
        assert args.multi_gpu and not args.cpu  # torchrun, one process each
    if stem == "cpu_2proc":
        assert args.mixed_precision == "no"
    elif stem in DOCUMENTED:
        assert args.mixed_precision == "bf16"  # TRL's GRPOConfig default on GPU


@pytest.mark.slow
def test_cpu_config_starts_two_processes_in_one_group(tmp_path, free_port):
    probe = ROOT / "tests" / "fixtures" / "accelerate_probe.py"
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ACCELERATE_DIR / "cpu_2proc.yaml"),
        "--main_process_port",
        str(free_port),
        str(probe),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    records = [json.loads((tmp_path / f"probe_rank{rank}.json").read_text()) for rank in range(2)]
    for rank, record in enumerate(records):
        assert record["rank"] == rank and record["world_size"] == 2
        assert record["backend"] == "gloo" and record["gathered"] == [0, 1]
