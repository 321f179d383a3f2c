"""The run configuration: one YAML file with a section per component.

A config says what is built, torchtune-style::

    model:      # TRL's `ModelConfig` fields (model_name_or_path, dtype, use_peft, lora_r, ...)
      model_name_or_path: toy        # "toy" = the self-built toy world (see `rlvr.toy`)
    data:       # `DataConfig` below: where prompts come from and how columns map
      train: toy
    verifiers:  # a list of `rewards.VerifierSpec`: name (or module:function / file.py:function), weight, ...
      - name: exact
    eval:       # `EvalConfig` below: held-out accuracy per skill before, during and after training
      max_prompts_per_skill: 32
    curricula:  # `CurriculaConfig`: which filters run (see `curricula/`)
      ...
    grpo:       # TRL's `GRPOConfig` fields, passed through unchanged
      output_dir: runs/toy
      max_steps: 40

Every key is checked: a key that nothing reads is an error naming the key and the closest
known one, because a silently ignored typo (``lerning_rate``) costs a whole run. Every value is
checked against its field's type (`rlvr.config_types`): ``grpo.max_steps: ten`` is an error
naming the key, the value and the type, raised before the model loads; ``1e-3`` (a string to
YAML) is accepted as the number 0.001 for a float field.

Command-line overrides use dotted keys with YAML values: ``grpo.max_steps=5``,
``data.train=prompts.jsonl``, ``verifiers.0.weight=0.5``.

A TRL / open-r1 style flat recipe (``model_name_or_path``, ``dataset_name``, GRPOConfig fields
and ``reward_funcs`` at the top level) is accepted too, with these sections as additions, and
so are TRL's ``--learning_rate 1e-5`` flags: `rlvr.recipe` maps both onto the sections above.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rewards.config_types import ConfigError, build_dataclass
from rewards.config_types import did_you_mean as _suggest

__all__ = ["ConfigError", "DataConfig", "EvalConfig", "RLVRConfig", "build_config", "load_config"]

SECTIONS = ("model", "data", "verifiers", "eval", "curricula", "grpo", "compat")


@dataclass
class DataConfig:
    """Where the training prompts come from.

    Args:
        train: ``"toy"`` (the toy world's train split), a local ``.jsonl``/``.json``/``.parquet``/
            ``.csv`` file, a directory of such shards (every supported file inside, recursively,
            sorted; one format only), a glob (``data/train-*.jsonl``, ``data/**/*.parquet``), or a
            `datasets` name (loaded with `datasets.load_dataset`). A ``.json`` file may hold JSON
            Lines or one JSON array of row objects; blank lines in JSON Lines are ignored. JSON
            Lines, JSON and CSV files may be compressed (``train.jsonl.gz``, ``.bz2``, ``.xz``).
        eval: Held-out prompts for the before/after accuracy table, in the same forms as
            ``train``; ``"toy"`` is the toy world's eval split (never shares a prompt with train).
            ``None`` skips held-out evaluation.
        train_split: Split to take when ``train`` is a `datasets` name.
        eval_split: Split to take when ``eval`` is a `datasets` name.
        dataset_config: The `datasets` configuration name (e.g. ``"main"`` for GSM8K), if any.
        columns: Maps rlvr's column names to the source's, e.g. ``{prompt: question, answer:
            final_answer}``. rlvr's names: ``prompt`` (required), ``answer``, ``id``, ``skill``.
        required: Columns every row must have, non-empty (after mapping).
        skip_bad_rows: If false, bad rows stop the run before training (and before the model
            loads), each reported with its file, its line (JSON Lines, 1-based; CSV when exact) or
            0-based row index, its field and the reason. Bad rows: a line that is not a JSON object
            (broken JSON, not UTF-8, an array...), a missing or malformed field, a duplicate id, and
            a prompt longer than the model's context minus ``grpo.max_completion_length`` tokens
            (counted as TRL does, through the chat template for chat prompts; such prompts are never
            truncated, since cutting a question changes what its answer refers to). If true, they
            are skipped and written to ``bad_rows.jsonl`` in the output directory instead.
        max_rows: Keep only the first ``max_rows`` rows of each split (after validation).
        system_prompt: If set, prompts become chat messages ``[system, user]`` (for instruct
            models with a chat template); otherwise plain strings.
        conversational: Wrap plain prompts as a one-message chat even without a system prompt.
        toy_n_per_skill: Toy world only: training prompts per skill.
        toy_eval_n_per_skill: Toy world only: held-out prompts per skill (capped by the skill's
            prompt space, e.g. 22 for add1).
        toy_skills: Toy world only: which skills to include (default: all).
        toy_seed: Toy world only: generator seed.
    """

    train: str = "toy"
    eval: str | None = "toy"
    train_split: str = "train"
    eval_split: str = "test"
    dataset_config: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    required: list[str] = field(default_factory=lambda: ["prompt", "answer"])
    skip_bad_rows: bool = False
    max_rows: int | None = None
    system_prompt: str | None = None
    conversational: bool = False
    toy_n_per_skill: int = 32
    toy_eval_n_per_skill: int = 64
    toy_skills: list[str] | None = None
    toy_seed: int = 0

    def __post_init__(self):
        # A slice with 0 or a negative max_rows trained on nothing or on all rows but the last.
        problems = [
            f"{name} must be >= 1, got {value}"
            for name, value in (
                ("max_rows", self.max_rows),
                ("toy_n_per_skill", self.toy_n_per_skill),
                ("toy_eval_n_per_skill", self.toy_eval_n_per_skill),
            )
            if value is not None and value < 1
        ]
        if problems:
            raise ValueError("; ".join(problems) + ".")


@dataclass
class EvalConfig:
    """Held-out accuracy per skill, measured before and after training (and every ``every_steps``).

    Args:
        enabled: Measure at all (needs ``data.eval``).
        max_prompts_per_skill: Prompts per skill taken from the eval split.
        samples_per_prompt: Completions sampled per prompt.
        temperature: Sampling temperature; ``0`` means greedy decoding.
        max_new_tokens: Completion budget; defaults to ``grpo.max_completion_length``.
        success_threshold: A completion counts as solved when its weighted reward (the same
            sum TRL trains on) is at least this.
        batch_size: Prompts per generation batch.
        every_steps: Also measure during training, every this many optimizer steps; ``None`` =
            before and after training only. Every measurement is logged through the trainer
            (``log_history`` and each ``grpo.report_to`` backend) as ``eval_accuracy/<skill>``
            and ``eval_accuracy/mean`` (the backends show ``eval/accuracy/...``).
    """

    enabled: bool = True
    max_prompts_per_skill: int = 32
    samples_per_prompt: int = 1
    temperature: float = 0.0
    max_new_tokens: int | None = None
    success_threshold: float = 1.0
    batch_size: int = 64
    every_steps: int | None = None

    def __post_init__(self):
        # Checked now: these crashed (or sampled with invalid scores) after the model loaded.
        problems = [
            f"{name} must be >= 1, got {value}"
            for name, value in (
                ("max_prompts_per_skill", self.max_prompts_per_skill),
                ("samples_per_prompt", self.samples_per_prompt),
                ("max_new_tokens", self.max_new_tokens),
                ("batch_size", self.batch_size),
                ("every_steps", self.every_steps),
            )
            if value is not None and value < 1
        ]
        if self.temperature < 0:
            problems.append(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if problems:
            raise ValueError("; ".join(problems) + ".")


@dataclass
class RLVRConfig:
    """A whole run: the sections above plus TRL's `GRPOConfig` (``grpo``)."""

    model: Any  # trl.ModelConfig
    data: DataConfig
    verifiers: list  # list[rewards.VerifierSpec]
    eval: EvalConfig
    curricula: Any  # curricula.CurriculaConfig
    grpo: Any  # trl.GRPOConfig
    compat: Any = None  # curricula.compat.CompatConfig, read by `rlvr compat` (not by training)
    source: str | None = None  # the config file this came from


# --------------------------------------------------------------------------------------------
# Loading


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"grpo.max_steps=5"`` -> (["grpo", "max_steps"], 5). Values are parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"Override '{text}' must look like section.key=value (e.g. grpo.max_steps=5).")
    key, raw = text.split("=", 1)
    path = key.strip().split(".")
    if path[0] not in SECTIONS:
        hint = ""
        for section, cls in _section_classes().items():
            if cls is not None and path[0] in {f.name for f in dataclasses.fields(cls)}:
                hint = f" Did you mean '{section}.{key}'?"
                break
        hint = hint or _suggest(path[0], SECTIONS)
        raise ConfigError(f"Unknown key '{key}' in override '{text}'.{hint} Sections: {', '.join(SECTIONS)}.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        problem = str(err).replace("\n", " ")
        raise ConfigError(f"Override '{text}': the value is not valid YAML ({problem}).") from err
    return path, value


def _set_path(tree: dict, path: list[str], value: Any, text: str) -> None:
    """Set ``tree[path...] = value``; a `ConfigError` naming the override when a part of the
    path is not a key or list index of what is there (an int, a string, an index past the end)."""
    node: Any = tree
    for i, part in enumerate(path):
        where = ".".join(path[:i]) or "the config"
        if isinstance(node, list):
            if not part.isdigit():
                raise ConfigError(f"Override '{text}': '{where}' is a list; '{part}' is not an index (0, 1, ...).")
            if int(part) >= len(node):
                raise ConfigError(
                    f"Override '{text}': index {part} is past the end of '{where}' ({len(node)} item(s))."
                )
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
        else:
            raise ConfigError(f"Override '{text}': '{where}' is {node!r}, not a section; it has no key '{part}'.")
        if i == len(path) - 1:
            node[key] = value
        else:
            if isinstance(node, dict) and node.get(key) is None:
                node[key] = [] if path[i + 1].isdigit() else {}
            node = node[key]


def _section_classes() -> dict:
    from trl import GRPOConfig, ModelConfig

    from curricula.config import CurriculaConfig

    return {
        "model": ModelConfig,
        "data": DataConfig,
        "verifiers": None,
        "eval": EvalConfig,
        "curricula": CurriculaConfig,
        "grpo": GRPOConfig,
        "compat": None,  # curricula.compat.CompatConfig, imported only when the section is there
    }


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys: by default the last one silently wins, so
    a second ``max_steps:`` further down a section overrides the first without a word."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (first at line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml_file(path: Path) -> Any:
    """A config file's YAML content; a `ConfigError` naming the file (and line) if unreadable."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"Config file '{path}' is not UTF-8 text (byte {err.object[err.start : err.start + 1]!r} "
            f"at offset {err.start})."
        ) from err
    try:
        loader = _StrictLoader(text)
        loader.name = str(path)  # error marks then say the file, not "<unicode string>"
        try:
            return loader.get_single_data() or {}
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        raise ConfigError(f"Config file '{path}' is not valid YAML: {err}") from err


def load_config(path: str | os.PathLike | None, overrides: list = ()) -> RLVRConfig:
    """Read a YAML config (sectioned, or a TRL-style flat recipe: `rlvr.recipe`), apply the
    overrides in order and build every section. An override is ``"section.key=value"`` or a
    ``(key, value)`` pair from a TRL-style flag (``--learning_rate 1e-5``)."""
    from rlvr.recipe import apply_flag, sectioned_tree

    tree: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file '{path}' does not exist.")
        tree = read_yaml_file(path)
        if not isinstance(tree, dict):
            raise ConfigError(f"Config file '{path}' must be a mapping of sections, got {type(tree).__name__}.")
        tree = sectioned_tree(tree, SECTIONS, f" in '{path}'")
    for override in overrides:
        if isinstance(override, tuple):
            apply_flag(tree, *override, SECTIONS)
            continue
        key_path, value = parse_override(override)
        _set_path(tree, key_path, value, override)
    return build_config(tree, source=str(path) if path else None)


def build_config(tree: dict, source: str | None = None) -> RLVRConfig:
    """Build an `RLVRConfig` from a parsed mapping (the YAML file's content).

    Every section is a dataclass built by `build_dataclass`: unknown keys and values of the wrong
    type are `ConfigError`s naming the dotted key.
    """
    from rlvr.recipe import sectioned_tree

    where = f" in '{source}'" if source else ""
    tree = sectioned_tree(tree, SECTIONS, where)
    for key in tree:
        if key not in SECTIONS:
            raise ConfigError(
                f"Unknown section '{key}'{where}.{_suggest(key, SECTIONS)} Sections: {', '.join(SECTIONS)}."
            )
    classes = _section_classes()
    sections = {}
    for name in ("model", "data", "eval", "curricula"):
        sections[name] = _build_section(name, classes[name], tree.get(name), where)
    sections["verifiers"] = _build_verifiers(tree.get("verifiers"), where)
    user_grpo = tree.get("grpo")
    if user_grpo is not None and not isinstance(user_grpo, dict):
        raise ConfigError(f"'grpo'{where} must be a mapping of GRPOConfig keys, got {user_grpo!r}.")
    generations = (user_grpo or {}).get("num_generations")
    if isinstance(generations, int) and not isinstance(generations, bool) and generations < 2:
        # Checked before GRPOConfig, which divides by it first (0: "integer modulo by zero").
        raise ConfigError(
            f"grpo.num_generations must be >= 2 (GRPO compares the completions of a group), got {generations}."
        )
    sections["grpo"] = build_dataclass(classes["grpo"], user_grpo or {}, "grpo", trusted=cpu_defaults(user_grpo or {}))
    check_grpo_values(sections["grpo"], user_grpo or {})
    sections["compat"] = None
    if tree.get("compat") is not None:
        from curricula.compat import CompatConfig

        sections["compat"] = _build_section("compat", CompatConfig, tree["compat"], where)
    return RLVRConfig(**sections, source=source)


def _build_section(name: str, cls, values, where: str):
    """One mapping section, strictly typed; the model section names the toy world by default."""
    if values is not None and not isinstance(values, dict):
        raise ConfigError(f"'{name}'{where} must be a mapping of {cls.__name__} keys, got {values!r}.")
    field_types = None
    if name == "model":
        values = {"model_name_or_path": "toy", **(values or {})}
        if not isinstance(values["model_name_or_path"], str) or not values["model_name_or_path"].strip():
            # null reached transformers as the string 'None' ("couldn't connect to huggingface.co").
            raise ConfigError(
                f"model.model_name_or_path must be a local folder, a Hub name or 'toy', "
                f"got {values['model_name_or_path']!r}."
            )
    if name == "curricula":
        # CurriculaConfig.influence is typed `Any`: its class lives in rlvr, which curricula
        # must not import; name it here so its fields are checked like the frontier's.
        from curricula.influence.check import InfluenceCheckConfig

        field_types = {"influence": InfluenceCheckConfig | None}
    return build_dataclass(cls, values, name, field_types=field_types)


def curricula_config(values) -> Any:
    """A `CurriculaConfig` from a mapping (e.g. ``{"frontier": {"enabled": True, "low": 0.2}}``),
    checked and typed like the ``curricula`` section of a config file; a `CurriculaConfig` or
    `None` passes through."""
    if values is None or not isinstance(values, dict):
        return values
    return _build_section("curricula", _section_classes()["curricula"], values, "")


def _build_verifiers(raw, where: str) -> list:
    from rewards import VerifierSpec

    if raw is None:  # no section: the exact-match verifier
        raw = [{"name": "exact"}]
    if isinstance(raw, list) and not raw:
        raise ConfigError(
            f"'verifiers'{where} is an empty list: name at least one verifier (e.g. `- name: exact`), "
            "or leave the section out for exact match."
        )
    if not isinstance(raw, list):
        raise ConfigError(f"'verifiers'{where} must be a list of {{name: ..., weight: ...}} entries.")
    verifiers = []
    for i, entry in enumerate(raw):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise ConfigError(f"'verifiers.{i}'{where} must be a mapping or a name, got {entry!r}.")
        verifiers.append(build_dataclass(VerifierSpec, entry, f"verifiers.{i}"))
    return verifiers


# GRPOConfig fields whose nonsensical values TRL and transformers accept at construction and
# fail on only after the model loaded (or, for temperature 0, sample from invalid scores).
_GRPO_AT_LEAST_ONE = (
    "max_completion_length",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "steps_per_generation",
    "num_iterations",
)

# (field, valid?, what is allowed): sampling settings transformers rejects only at generation,
# and loss coefficients whose negative values silently invert what they mean.
_GRPO_RANGES = (
    ("learning_rate", lambda v: v >= 0, ">= 0"),
    ("top_p", lambda v: 0 < v <= 1, "in (0, 1]"),
    ("top_k", lambda v: v >= 0, ">= 0 (0 = off)"),
    ("min_p", lambda v: 0 <= v <= 1, "in [0, 1] or null"),
    ("repetition_penalty", lambda v: v > 0, "> 0"),
    ("beta", lambda v: v >= 0, ">= 0 (the KL coefficient; 0 = no KL term)"),
    ("epsilon", lambda v: v >= 0, ">= 0 (the clipping range)"),
    ("epsilon_high", lambda v: v >= 0, ">= 0 or null"),
    # transformers reads any value <= 0 as "no clipping": a negative one is a typo, not a setting.
    ("max_grad_norm", lambda v: v >= 0, ">= 0 (0 = no gradient clipping)"),
)


def check_grpo_values(grpo, user_values: dict) -> None:
    """Range checks of the GRPO fields TRL does not check itself, as `ConfigError`s naming the key.

    ``user_values`` is the user's ``grpo`` mapping: an explicit ``output_dir: null`` or ``""`` is
    refused there, since GRPOConfig would turn it into ``trainer_output`` (or the working
    directory) and the run would write where nobody looks.
    """
    if "output_dir" in user_values:
        given = user_values["output_dir"]
        if given is None or (isinstance(given, str) and not given.strip()):
            raise ConfigError(f"grpo.output_dir must be a directory path, got {given!r}.")
    for name in _GRPO_AT_LEAST_ONE:
        value = getattr(grpo, name, None)
        if value is not None and value < 1:
            raise ConfigError(f"grpo.{name} must be >= 1, got {value}.")
    if grpo.temperature <= 0:
        raise ConfigError(f"grpo.temperature must be > 0 (GRPO samples its groups), got {grpo.temperature}.")
    for name, is_valid, allowed in _GRPO_RANGES:
        value = getattr(grpo, name, None)
        if value is not None and not is_valid(value):
            raise ConfigError(f"grpo.{name} must be {allowed}, got {value}.")


def cpu_defaults(grpo_values: dict) -> dict:
    """GRPOConfig defaults replaced by rlvr; a value the user wrote always wins.

    TRL defaults to bf16 mixed precision and gradient checkpointing (both for big GPU runs); on
    a machine without CUDA bf16 autocast is slow or unsupported, and checkpointing a tiny model
    only costs time. The output directory defaults to ``runs/rlvr`` rather than transformers'
    ``trainer_output``.
    """
    import torch

    defaults: dict = {"output_dir": "runs/rlvr"}
    if torch.cuda.is_available():
        return defaults
    defaults["bf16"] = False
    # Without CUDA, accelerate only forms a multi-process (gloo) group when told to use the CPU.
    defaults["use_cpu"] = True
    if not {"gradient_checkpointing", "activation_checkpointing"} & set(grpo_values):
        # transformers 5 renamed the flag; setting the new name avoids its deprecation warning.
        defaults.update(activation_checkpointing=False, gradient_checkpointing=None)
    return defaults


def config_to_dict(config: RLVRConfig) -> dict:
    """A YAML-ready dict of the resolved config (saved beside the run for reproducibility)."""

    def plain(obj):
        if dataclasses.is_dataclass(obj):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
        if isinstance(obj, (list, tuple)):
            return [plain(x) for x in obj]
        if isinstance(obj, dict):
            return {str(k): plain(v) for k, v in obj.items()}
        if isinstance(obj, (str, int, float, bool)) or obj is None:
            return obj
        return str(obj)

    out = {s: plain(getattr(config, s)) for s in ("model", "data", "verifiers", "eval", "curricula")}
    out["grpo"] = {k: plain(v) for k, v in config.grpo.to_dict().items()}
    return out
