"""Training prompts: load, map columns, validate every row before training starts.

A malformed row is reported with its file, row index and field, e.g.::

    data/train.jsonl row 17, field 'answer': missing (the row has: prompt, id)

With ``skip_bad_rows`` the bad rows are skipped instead, and each one is kept (with its
reason) so the caller can write it to ``bad_rows.jsonl``: nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset

from rewards.base import UserInputError
from rlvr.config import DataConfig

LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
RLVR_COLUMNS = ("prompt", "answer", "id", "skill")


class DataError(UserInputError):
    """Input data that cannot be trained on; the message names the file, row and field."""


@dataclass
class BadRow:
    """One row that failed validation."""

    source: str
    row: int
    field: str
    problem: str
    values: dict = field(default_factory=dict)

    def message(self) -> str:
        return f"{self.source} row {self.row}, field '{self.field}': {self.problem}"


@dataclass
class LoadedData:
    """Validated rows plus the ones that were skipped (only with ``skip_bad_rows``)."""

    dataset: Dataset
    bad_rows: list[BadRow]
    source: str


def prompt_hash(prompt: Any) -> str:
    """A short content hash of a prompt (string or chat messages), stable across runs."""
    text = prompt if isinstance(prompt, str) else repr(prompt)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _read_source(spec: str, split: str, dataset_config: str | None) -> tuple[Dataset, str]:
    import datasets

    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix in LOCAL_FORMATS:
        if not path.is_file():
            raise DataError(f"Data file '{spec}' does not exist.")
        try:
            ds = datasets.load_dataset(LOCAL_FORMATS[suffix], data_files=str(path), split="train")
        except Exception as err:  # datasets wraps parser errors in several types
            raise DataError(f"Could not read '{spec}' as {LOCAL_FORMATS[suffix]}: {err}") from err
        return ds, str(path)
    if path.exists():
        raise DataError(f"'{spec}' has an unsupported extension; use one of {', '.join(LOCAL_FORMATS)}.")
    try:
        ds = datasets.load_dataset(spec, dataset_config, split=split)
    except Exception as err:
        raise DataError(
            f"Could not load dataset '{spec}' (split '{split}'): {err}. Offline runs need a local file "
            "or a dataset already in the Hugging Face cache."
        ) from err
    return ds, f"{spec}[{split}]"


def _check_value(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be used for rlvr column ``name`` (None if it can)."""
    if value is None:
        return "missing"
    if name == "prompt":
        if isinstance(value, str):
            return "empty" if not value.strip() else None
        if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
            return None
        return f"expected a non-empty string or a list of chat messages, got {type(value).__name__}"
    if name == "answer":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return f"expected a string or number, got {type(value).__name__}"
        return "empty" if isinstance(value, str) and not value.strip() else None
    if name in ("id", "skill"):
        if not isinstance(value, (str, int)):
            return f"expected a string or integer, got {type(value).__name__}"
        return "empty" if isinstance(value, str) and not value.strip() else None
    return None


def validate_rows(rows: list[dict], source: str, config: DataConfig) -> tuple[list[dict], list[BadRow]]:
    """Map columns, check required fields, normalise types, give every row a stable ``id``."""
    mapping = {name: config.columns.get(name, name) for name in RLVR_COLUMNS}
    unknown = set(config.columns) - set(RLVR_COLUMNS)
    if unknown:
        raise DataError(f"data.columns maps unknown rlvr column(s) {sorted(unknown)}; known: {', '.join(RLVR_COLUMNS)}.")
    good, bad = [], []
    seen_ids: dict[str, int] = {}
    for index, raw in enumerate(rows):
        row = dict(raw)
        for name, column in mapping.items():  # rename source columns to rlvr's names
            if column != name and column in row:
                row[name] = row.pop(column)
        problem = None
        for name in config.required:
            if name not in row or row[name] is None:
                have = ", ".join(sorted(k for k, v in raw.items() if v is not None))
                source_name = mapping.get(name, name)
                mapped = f" (read from source column '{source_name}')" if source_name != name else ""
                problem = (name, f"missing{mapped}; the row has: {have or 'nothing'}")
                break
        if problem is None:
            for name in RLVR_COLUMNS:
                if name in row and (name in config.required or row[name] is not None):
                    why = _check_value(name, row[name])
                    if why:
                        problem = (name, why)
                        break
        if problem is None and "id" in row and row["id"] is not None:
            rid = str(row["id"])
            if rid in seen_ids:
                problem = ("id", f"duplicate id '{rid}' (first seen in row {seen_ids[rid]})")
        if problem is not None:
            bad.append(BadRow(source, index, problem[0], problem[1], {k: _short(v) for k, v in raw.items()}))
            continue
        if row.get("id") is None:
            # Stable across runs of the same file: the row position plus the prompt's content.
            row["id"] = f"{index:06d}-{prompt_hash(row['prompt'])[:6]}"
        row["id"] = str(row["id"])
        seen_ids[row["id"]] = index
        if "answer" in row and row["answer"] is not None:
            row["answer"] = str(row["answer"])
        good.append(row)
    return good, bad


def _short(value: Any, limit: int = 200) -> Any:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


def _to_chat(prompt: Any, config: DataConfig) -> Any:
    if isinstance(prompt, list) or not (config.system_prompt or config.conversational):
        return prompt
    messages = [{"role": "system", "content": config.system_prompt}] if config.system_prompt else []
    return messages + [{"role": "user", "content": prompt}]


def load_prompts(spec: str, config: DataConfig, split: str = "train") -> LoadedData:
    """Load one split (``"train"`` or ``"eval"``) as validated rows with rlvr's column names."""
    if spec == "toy":
        from rlvr.toy import toy_dataset

        n_per_skill = config.toy_n_per_skill if split == "train" else config.toy_eval_n_per_skill
        ds = toy_dataset(split="train" if split == "train" else "eval", n_per_skill=n_per_skill,
                         seed=config.toy_seed, skills=config.toy_skills)
        return LoadedData(ds, [], f"toy[{split}]")
    ds, source = _read_source(spec, config.train_split if split == "train" else config.eval_split, config.dataset_config)
    rows, bad = validate_rows(ds.to_list(), source, config)
    if bad and not config.skip_bad_rows:
        shown = "\n  ".join(b.message() for b in bad[:10])
        more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise DataError(
            f"{len(bad)} malformed row(s) in {source}:\n  {shown}{more}\n"
            "Fix them, map columns with data.columns, or set data.skip_bad_rows=true to skip and record them."
        )
    if not rows:
        raise DataError(f"{source} has no usable rows ({len(bad)} malformed).")
    if config.max_rows is not None:
        rows = rows[: config.max_rows]
    for row in rows:
        row["prompt"] = _to_chat(row["prompt"], config)
    return LoadedData(Dataset.from_list(rows), bad, source)
