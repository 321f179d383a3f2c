"""Procedural task sources: ``data.train: reasoning_gym:<task>?size=200&seed=1&<task option>=...``.

reasoning-gym (``pip install 'rlvr[reasoning-gym]'``) generates reasoning tasks with a gold answer
and a scorer of their own. A spec names one task and, after ``?``, options joined by ``&``, each
value read as YAML (``min_terms=2``, ``allowed_ops=[+, -]``):

- ``size``: rows generated (default 500);
- ``seed``: generator seed (default 0 for ``data.train``, 1 for ``data.eval`` so that the held-out
  set is drawn apart from the train set);
- ``level``: a difficulty level of the task's reasoning-gym curriculum (0 = easiest), which sets
  the task's difficulty fields (e.g. ``chain_sum``'s term and digit counts); options given beside
  it override the level's values;
- any other option: a field of the task's config dataclass (e.g. ``chain_sum``'s ``min_terms``,
  ``max_digits``); an unknown one is an error naming the closest field.

Each row has ``prompt`` (the question), ``answer`` (the gold answer as text), ``skill`` (the task
name), a stable ``id`` (``<task>-s<seed>-<index>``, ``<task>-L<level>-s<seed>-<index>`` with a level) and ``reasoning_gym_entry``: the generator's
whole entry as JSON, which the ``reasoning_gym`` verifier hands to the task's ``score_answer``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import parse_qsl

import yaml

from curricula.records import DataError
from rewards.config_types import did_you_mean

PREFIX = "reasoning_gym:"
ENTRY_COLUMN = "reasoning_gym_entry"  # read by rewards.builtin.reasoning_gym_score
DEFAULT_SIZE = 500
DEFAULT_SEED = {"train": 0, "eval": 1}
INSTALL_HINT = "pip install 'rlvr[reasoning-gym]' (or: pip install reasoning-gym)"


def is_procedural(spec: str) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"reasoning_gym:chain_sum?size=20&min_terms=2"`` -> ("chain_sum", {"size": 20, "min_terms": 2})."""
    body = spec[len(PREFIX) :]
    task, _, query = body.partition("?")
    options: dict[str, Any] = {}
    for key, raw in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key in options:
            raise DataError(f"'{spec}': option '{key}' is given twice.")
        try:
            options[key] = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError as err:
            raise DataError(f"'{spec}': option '{key}={raw}' is not a valid YAML value.") from err
    if not task.strip():
        raise DataError(f"'{spec}' names no task; write reasoning_gym:<task>, e.g. reasoning_gym:chain_sum.")
    return task.strip(), options


def _import_reasoning_gym(spec: str):
    try:
        import reasoning_gym
        from reasoning_gym.factory import DATASETS
    except ImportError as err:
        raise DataError(f"'{spec}' needs the reasoning-gym package, which is not installed: {INSTALL_HINT}.") from err
    return reasoning_gym, DATASETS


def create_task_dataset(spec: str, split: str = "train"):
    """The reasoning-gym dataset a spec describes; one-line `DataError`s for an unknown task,
    option or option value."""
    task, options = parse_spec(spec)
    _, tasks = _import_reasoning_gym(spec)
    if task not in tasks:
        hint = did_you_mean(task, tasks)
        raise DataError(
            f"'{spec}': unknown reasoning-gym task '{task}'.{hint} ({len(tasks)} tasks: "
            "python -c 'import reasoning_gym.factory as f; print(sorted(f.DATASETS))')"
        )
    dataset_cls, config_cls = tasks[task]
    known = [f.name for f in dataclasses.fields(config_cls)]
    for key in options:
        if key not in known and key != "level":
            hint = did_you_mean(key, known + ["level"])
            raise DataError(f"'{spec}': task '{task}' has no option '{key}'.{hint} Options: level, {', '.join(known)}.")
    options = {"size": DEFAULT_SIZE, "seed": DEFAULT_SEED.get(split, 0), **options}
    try:
        if "level" in options:
            config = _config_at_level(spec, task, options)
        else:
            config = config_cls(**options)
        if hasattr(config, "validate"):
            config.validate()
        return dataset_cls(config=config), task, options
    except (AssertionError, TypeError, ValueError) as err:  # the task config's own validate()
        raise DataError(f"'{spec}': invalid options for task '{task}': {err or type(err).__name__}") from err


def _config_at_level(spec: str, task: str, options: dict):
    """The task's config at a difficulty level of its reasoning-gym curriculum (0 = easiest);
    options given beside ``level`` override the level's values."""
    from reasoning_gym.factory import CURRICULA, create_curriculum

    if task not in CURRICULA:
        raise DataError(f"'{spec}': task '{task}' has no difficulty curriculum in reasoning-gym; drop 'level'.")
    curriculum = create_curriculum(task)
    levels = max((len(attr.levels) for attr in curriculum.attributes.values()), default=1)
    level = options["level"]
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level < levels:
        raise DataError(f"'{spec}': level must be an integer from 0 to {levels - 1} for task '{task}', got {level!r}.")
    curriculum.set_global_level(level)
    fields = {k: v for k, v in options.items() if k != "level"}
    return dataclasses.replace(
        curriculum.generate_configuration({"size": fields["size"], "seed": fields["seed"]}), **fields
    )


def procedural_rows(spec: str, split: str = "train") -> tuple[list[dict], str]:
    """Rows (with rlvr's column names) generated from a spec, and a source name for messages."""
    dataset, task, options = create_task_dataset(spec, split)
    level = f"-L{options['level']}" if "level" in options else ""
    rows = []
    for index in range(len(dataset)):
        entry = dataset[index]
        answer = entry.get("answer")
        rows.append(
            {
                "id": f"{task}{level}-s{options['seed']}-{index}",
                "prompt": entry["question"],
                "answer": None if answer is None else str(answer),
                "skill": task,
                ENTRY_COLUMN: json.dumps(entry, default=str),
            }
        )
    return rows, f"{PREFIX}{task}[size={options['size']}, seed={options['seed']}{level.replace('-L', ', level=')}]"
