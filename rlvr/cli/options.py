"""How every subcommand but ``rlvr train`` takes its settings: ``--config FILE`` (the file's section
for the command) plus ``key=value`` overrides, dotted for nested keys (``probe.enabled=false``),
values read as YAML. Precedence: the settings class's defaults < the file < the overrides.
(``rlvr train`` parses its own, ``section.key=value`` over the whole file: `rlvr.config`.)
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from rewards.base import UserInputError


def add_config_arguments(parser: argparse.ArgumentParser, section: str, example: str) -> None:
    """``--config FILE`` and the ``KEY=VALUE`` positionals."""
    parser.add_argument("--config", metavar="FILE", help=f"YAML file whose '{section}:' section holds the settings.")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help=f"Settings over --config's, e.g. {example} (values are YAML; nested keys dotted).",
    )


def parse_overrides(texts: Iterable[str], section: str) -> dict:
    """``["dim=4096", "features.seed=3"]`` -> ``{"dim": 4096, "features": {"seed": 3}}``; a leading
    ``section.`` is allowed (``compat.quantile=0.8``)."""
    tree: dict = {}
    for text in texts:
        key, sep, raw = text.partition("=")
        path = [part.strip() for part in key.split(".")]
        if not sep or not all(path):
            raise UserInputError(f"Override '{text}' must look like key=value (e.g. quantile=0.8).")
        if path[0] == section and len(path) > 1:
            path = path[1:]
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as err:
            raise UserInputError(
                f"Override '{text}': the value is not valid YAML ({str(err).replace(chr(10), ' ')})."
            ) from err
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserInputError(f"Override '{text}': '{part}' is set to a value, not a section.")
        node[path[-1]] = value
    return tree


def merge(base: Mapping, extra: Mapping) -> dict:
    """``base`` updated by ``extra``, nested mappings merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_section(path: str | None, section: str) -> dict:
    """The ``section:`` mapping of the YAML file at ``path`` (``{}`` without a file or section)."""
    if not path:
        return {}
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"Config file '{file}' does not exist.")
    tree = yaml.safe_load(file.read_text()) or {}
    values = tree.get(section) if isinstance(tree, dict) else None
    if values is not None and not isinstance(values, dict):
        raise UserInputError(f"'{file}': the '{section}:' section must be a mapping of keys.")
    return dict(values or {})


def settings(args: argparse.Namespace, section: str, flags: Mapping[str, Any] | None = None) -> dict:
    """The file's section < the ``KEY=VALUE`` overrides < ``flags`` (values of old-style flags given)."""
    values = merge(read_section(getattr(args, "config", None), section), parse_overrides(args.overrides, section))
    return merge(values, flags or {})


def flags_to_overrides(argv: list[str], fields: Mapping[str, bool]) -> list[str]:
    """Old one-flag-per-setting spellings as overrides: ``--on-too-long drop`` -> ``on_too_long=drop``,
    ``--flag`` / ``--no-flag`` -> ``flag=true`` / ``flag=false`` for the boolean ones. ``fields``:
    setting name -> whether it is a boolean. Other arguments are left as they are."""
    out: list[str] = []
    converted: list[str] = []  # after the rest: argparse takes the KEY=VALUE positionals as one run
    i = 0
    while i < len(argv):
        token = argv[i]
        name, eq, value = token[2:].partition("=") if token.startswith("--") else ("", "", "")
        field = name.replace("-", "_")
        if field.startswith("no_") and fields.get(field[3:]) is True and not eq:
            converted.append(f"{field[3:]}=false")
        elif field in fields and fields[field] and not eq:
            converted.append(f"{field}=true")
        elif field in fields and (eq or i + 1 < len(argv)):
            if not eq:
                i += 1
                value = argv[i]
            converted.append(f"{field}={value}")
        else:
            out.append(token)
        i += 1
    return out + converted
