"""TRL-style flat recipes and ``--key value`` flags, mapped onto rlvr's config sections.

TRL's and open-r1's GRPO recipes are one flat YAML mapping: model keys (``model_name_or_path``,
``torch_dtype``), dataset keys (``dataset_name``, ``dataset_config``, ``dataset_train_split``),
``GRPOConfig`` fields (``learning_rate``, ``num_generations``, ...) and ``reward_funcs``. rlvr
accepts that mapping as is, with its own sections (``curricula``, ``verifiers``, ``data``,
``eval``) as additions, and TRL's command-line flags (``--learning_rate 1e-5``,
``--learning_rate=1e-5``, ``--bf16``, ``--reward_funcs math format``).

There is one schema underneath: every flat key is routed to one dotted key of rlvr's sections
(`route_flat_key`) before anything is built, so a flat recipe and the sectioned config it maps
to resolve to the same `rlvr.config.RLVRConfig`, checked by the same strict, typed builder. A key
that routes nowhere is an error naming it and the closest known key.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from typing import Any

import yaml

from rewards.config_types import ConfigError, close_names, type_hints

# TRL `ScriptArguments` / open-r1 `GRPOScriptArguments` keys -> rlvr dotted keys.
SCRIPT_KEYS = {
    "dataset_name": ("data", "train"),
    "dataset_config": ("data", "dataset_config"),
    "dataset_train_split": ("data", "train_split"),
    "dataset_test_split": ("data", "eval_split"),
    "dataset_prompt_column": ("data", "columns", "prompt"),
    "system_prompt": ("data", "system_prompt"),
    "torch_dtype": ("model", "dtype"),  # transformers' older name, still in open-r1's recipes
}
# Flat keys with a meaning of their own (not one dotted key).
REWARD_KEYS = ("reward_funcs", "reward_weights")
# TRL script keys rlvr does not implement: an error saying what to write instead.
UNSUPPORTED = {
    "reward_model_name_or_path": "rlvr trains on verifiable rewards only; list verifiers under reward_funcs.",
    "datasets": "dataset mixtures are not supported; use data.train (a file, a directory of shards, a glob, "
    "a `datasets` name or reasoning_gym:<task>).",
    "dataset_streaming": "streaming datasets are not supported; rlvr validates every row before training.",
}


@functools.cache
def _model_and_grpo_fields() -> tuple[frozenset, frozenset]:
    from trl import GRPOConfig, ModelConfig

    def names(cls):
        return frozenset(f.name for f in dataclasses.fields(cls) if f.init)

    return names(ModelConfig), names(GRPOConfig)


def flat_keys() -> list[str]:
    """Every key a flat recipe may hold besides rlvr's sections."""
    model, grpo = _model_and_grpo_fields()
    return sorted(set(SCRIPT_KEYS) | set(REWARD_KEYS) | model | grpo)


def route_flat_key(key: str, sections: tuple[str, ...], where: str = "") -> tuple[str, ...]:
    """The dotted path of rlvr's sections a flat key sets (``learning_rate`` -> grpo.learning_rate)."""
    model, grpo = _model_and_grpo_fields()
    if key in SCRIPT_KEYS:
        return SCRIPT_KEYS[key]
    if key in model:
        return ("model", key)
    if key in grpo:
        return ("grpo", key)
    if key in UNSUPPORTED:
        raise ConfigError(f"Key '{key}'{where} is not supported: {UNSUPPORTED[key]}")
    raise ConfigError(_unknown_flat_key(key, sections, where))


def _unknown_flat_key(key: str, sections: tuple[str, ...], where: str) -> str:
    close = close_names(key, sections, n=1) or close_names(key, flat_keys(), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    kind = "section" if close and close[0] in sections else "key"
    return (
        f"Unknown {kind} '{key}'{where}.{hint} A recipe holds rlvr's sections ({', '.join(sections)}) and "
        "TRL's flat keys: GRPOConfig and ModelConfig fields, dataset_name, dataset_config, "
        "dataset_train_split, dataset_test_split, reward_funcs, reward_weights."
    )


def _set(tree: dict, path: tuple[str, ...], value: Any, origin: str, replace: bool) -> None:
    node = tree
    for part in path[:-1]:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"'{origin}' sets {'.'.join(path)}, but '{part}' is not a mapping.")
    if not replace and path[-1] in node:
        raise ConfigError(f"'{origin}' and '{'.'.join(path)}' set the same key; keep one.")
    node[path[-1]] = value


def _verifier_name(name: Any) -> Any:
    """TRL names a reward function by a dotted import path (``my_rewards.accuracy``); rlvr's
    verifier specs write ``module:function``. Registered names pass through."""
    if isinstance(name, str) and "." in name and ":" not in name and not name.endswith(".py"):
        module, function = name.rsplit(".", 1)
        return f"{module}:{function}"
    return name


def _apply_rewards(tree: dict, funcs: Any, weights: Any, where: str, replace: bool) -> None:
    """``reward_funcs`` (+ ``reward_weights``) become the ``verifiers`` list: TRL's weighted sum
    is built from the verifiers' weights, so a bare ``grpo.reward_weights`` would be overwritten."""
    if funcs is not None:
        if isinstance(funcs, str):
            funcs = [funcs]
        if not isinstance(funcs, list):
            raise ConfigError(f"reward_funcs{where} must be a list of verifier names, got {funcs!r}.")
        if tree.get("verifiers") is not None and not replace:
            raise ConfigError(f"'reward_funcs' and 'verifiers'{where} both list the rewards; keep one.")
        tree["verifiers"] = [{"name": _verifier_name(name)} for name in funcs]
    if weights is None:
        return
    weights = weights if isinstance(weights, list) else [weights]
    verifiers = tree.get("verifiers") or [{"name": "exact"}]
    if len(weights) != len(verifiers):
        raise ConfigError(f"reward_weights{where} has {len(weights)} weight(s) for {len(verifiers)} verifier(s).")
    tree["verifiers"] = [
        {**({"name": v} if isinstance(v, str) else v), "weight": w} for v, w in zip(verifiers, weights)
    ]


def sectioned_tree(tree: dict, sections: tuple[str, ...], where: str = "") -> dict:
    """A config mapping with every flat key moved into rlvr's sections (a copy; sectioned input
    is returned unchanged). A key set both flat and in its section is an error."""
    flat = [key for key in tree if key not in sections]
    if not flat:
        return tree
    out = {key: copy.deepcopy(value) for key, value in tree.items() if key in sections}
    for key in flat:
        if key in REWARD_KEYS:
            continue
        _set(out, route_flat_key(str(key), sections, where), tree[key], str(key), replace=False)
    _apply_rewards(out, tree.get("reward_funcs"), tree.get("reward_weights"), where, replace=False)
    if "dataset_name" in tree and "eval" not in (out.get("data") or {}):
        # TRL evaluates on dataset_test_split only when asked; rlvr's default eval set is the toy
        # world's, which says nothing about another dataset.
        out["data"]["eval"] = tree["dataset_name"] if "dataset_test_split" in tree else None
    return out


def apply_flag(tree: dict, key: str, value: Any, sections: tuple[str, ...]) -> None:
    """Apply one command-line flag (``--learning_rate 1e-5`` -> key, value) to a sectioned tree;
    a flag wins over the file. ``--grpo.max_steps 5`` (a dotted key) works too."""
    where = f" (flag --{key})"
    if key in REWARD_KEYS:
        funcs, weights = (value, None) if key == "reward_funcs" else (None, value)
        _apply_rewards(tree, funcs, weights, where, replace=True)
        return
    if "." in key:
        path = tuple(key.split("."))
        if path[0] not in sections:
            raise ConfigError(_unknown_flat_key(key, sections, where))
    else:
        path = route_flat_key(key, sections, where)
    if path[0] == "grpo" and not isinstance(value, list) and _is_list_field(path[-1]):
        value = [value]  # `--report_to wandb`: one value of a list field
    _set(tree, path, value, f"--{key}", replace=True)
    data = tree.get("data") or {}
    if key == "dataset_name" and "eval" not in data:
        data["eval"] = None  # as in a flat recipe: the toy world's eval set says nothing of this dataset
    if key == "dataset_test_split" and data.get("eval") is None:
        data["eval"] = data.get("train")


def _is_list_field(name: str) -> bool:
    from trl import GRPOConfig

    hint = type_hints(GRPOConfig).get(name)
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    has_list = any(typing.get_origin(m) is list or m is list for m in members)
    return has_list and str not in members


def _is_value(token: str) -> bool:
    """A token that is a flag's value: not another flag (``--x``, ``-h``) and not a dotted
    override (``grpo.max_steps=5``); negative numbers are values."""
    if token.startswith("-"):
        try:
            float(token)
            return True
        except ValueError:
            return False
    return True


def split_flags(argv: list[str], own_options: set[str], sections: tuple[str, ...]) -> tuple[list[str], list]:
    """Separate TRL-style flags from a command line: ``(rest, [(key, value), ...])``.

    ``own_options`` are the command's own ``--options`` (left in ``rest`` for argparse). A flag
    takes the tokens after it up to the next flag or ``section.key=value`` override: none is
    ``True`` (``--bf16``), one is a YAML value, several a list (``--reward_funcs math format``).
    """
    rest, flags, i = [], [], 0
    while i < len(argv):
        token = argv[i]
        name = token[2:].split("=", 1)[0]
        if not token.startswith("--") or token == "--" or token.split("=", 1)[0] in own_options:
            rest.append(token)
            i += 1
            continue
        if "=" in token:
            flags.append((name, _yaml_value(token.split("=", 1)[1], token)))
            i += 1
            continue
        values = []
        i += 1
        while i < len(argv) and _is_value(argv[i]) and not _is_override(argv[i], sections):
            values.append(_yaml_value(argv[i], f"{token} {argv[i]}"))
            i += 1
        flags.append((name, True if not values else values[0] if len(values) == 1 else values))
    return rest, flags


def _is_override(token: str, sections: tuple[str, ...]) -> bool:
    return "=" in token and token.split("=", 1)[0].split(".")[0] in sections


def _yaml_value(raw: str, text: str) -> Any:
    try:
        return yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        problem = str(err).replace("\n", " ")
        raise ConfigError(f"Flag '{text}': the value is not valid YAML ({problem}).") from err
