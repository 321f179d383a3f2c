"""Training prompts: load, map columns, validate every row before training starts.

``data.train`` is ``toy``, one file (``.jsonl``/``.json``/``.parquet``/``.csv``), a directory of
shards (every supported file inside, recursively, sorted), a glob (``data/train-*.jsonl``,
``data/**/*.parquet``) or a `datasets` name. A malformed row is reported with its file, its place
in the file and its field: JSONL by line (1-based, as an editor shows it), Parquet/CSV/Hub rows
by 0-based row index (CSV also by line when it can be told exactly), e.g.::

    data/train.jsonl line 18, field 'answer': missing; the row has: prompt, id
    data/shards/b.jsonl line 3: invalid JSON (Expecting ',' delimiter at column 17)
    data/train.parquet row 17 (0-based), field 'prompt': empty

With ``skip_bad_rows`` the bad rows are skipped instead, and each one is kept (with its
reason) so the caller can write it to ``bad_rows.jsonl``: nothing is dropped silently.
Before the model loads, `check_prompt_lengths` flags prompts that leave no room for the
completion, and `check_enough_rows` refuses data too small for one generation batch.
"""

from __future__ import annotations

import io
import json
import logging
import lzma
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from datasets import ClassLabel, Dataset, Value

from curricula.predictor import missing_group_columns, non_scalar_group_column
from curricula.records import (
    COMPRESSED,
    UTF8_BOM,
    DataError,
    json_type,
    jsonl_lines,
    open_binary,
    parse_jsonl_line,
    prompt_hash,
)
from rewards.config_types import ConfigError
from rlvr.config import DataConfig
from rlvr.procedural import is_procedural, procedural_rows
from rlvr.sources import data_source, source_rows

logger = logging.getLogger(__name__)

LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
RLVR_COLUMNS = ("prompt", "answer", "id", "skill")
GLOB_CHARS = "*?["


class RowPlace(NamedTuple):
    """Where a row came from: its file (or ``name[split]``), its 0-based row index in that file
    (JSONL: line - 1) and, for JSONL (and CSV when exact), its 1-based line."""

    source: str
    row: int
    line: int | None = None

    def describe(self) -> str:
        if self.line is not None:
            return f"{self.source} line {self.line}"
        return f"{self.source} row {self.row} (0-based)"


@dataclass
class BadRow:
    """One row that failed validation (``field`` is None when the row could not be parsed)."""

    source: str
    row: int
    field: str | None
    problem: str
    values: dict = field(default_factory=dict)
    line: int | None = None

    def message(self) -> str:
        named = f", field '{self.field}'" if self.field else ""
        return f"{RowPlace(self.source, self.row, self.line).describe()}{named}: {self.problem}"

    def to_record(self) -> dict:
        """The line written to ``bad_rows.jsonl``."""
        return {
            "source": self.source,
            "line": self.line,
            "row": self.row,
            "field": self.field,
            "problem": self.problem,
            "values": self.values,
        }


@dataclass
class LoadedData:
    """Validated rows plus the ones that were skipped (only with ``skip_bad_rows``).

    ``places[i]`` is where ``dataset[i]`` came from (file and line/row), for later checks.
    """

    dataset: Dataset
    bad_rows: list[BadRow]
    source: str
    places: list[RowPlace] = field(default_factory=list)


def _display(path: str) -> str:
    """A resolved path as the user would write it: relative to the working directory if inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _data_format(path: str) -> str | None:
    """The reader a file needs (``json``, ``parquet``, ``csv``), by its extension, a compression
    suffix allowed (``train.jsonl.gz``, as `datasets` reads them); None if unsupported."""
    suffixes = [suffix.lower() for suffix in Path(path).suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in COMPRESSED and suffixes[-2] != ".parquet":
        return LOCAL_FORMATS.get(suffixes[-2])
    return LOCAL_FORMATS.get(suffixes[-1]) if suffixes else None


def resolve_local_files(spec: str) -> list[str] | None:
    """The local files ``spec`` names (a file, a directory or a glob), sorted; None for a Hub name.

    Directories and globs are resolved by `datasets` (``resolve_pattern``), so ``**``, hidden
    files and ``__pycache__``-style folders behave as in ``datasets.load_dataset``.
    """
    from datasets.data_files import resolve_pattern

    path = Path(spec)
    if any(c in spec for c in GLOB_CHARS):
        try:
            files = resolve_pattern(spec, base_path=".")
        except FileNotFoundError:
            files = []
        if not files:
            raise DataError(f"The pattern '{spec}' matches no file.")
        odd = [f for f in files if _data_format(f) is None]
        if odd:
            raise DataError(
                f"The pattern '{spec}' matches {_display(odd[0])}, whose extension is unsupported; "
                f"use one of {', '.join(LOCAL_FORMATS)}."
            )
    elif path.is_dir():
        try:
            found = resolve_pattern(str(path / "**"), base_path=".")
        except FileNotFoundError:
            found = []
        files = [f for f in found if _data_format(f) is not None]
        if not files:
            raise DataError(f"The directory '{spec}' holds no {'/'.join(LOCAL_FORMATS)} file.")
    elif _data_format(spec) is not None:
        if not path.is_file():
            raise DataError(f"Data file '{spec}' does not exist.")
        return [str(path)]
    elif path.exists():
        raise DataError(f"'{spec}' has an unsupported extension; use one of {', '.join(LOCAL_FORMATS)}.")
    else:
        return None
    formats = {_data_format(f) for f in files}
    if len(formats) > 1:
        by_format = {fmt: next(_display(f) for f in files if _data_format(f) == fmt) for fmt in sorted(formats)}
        raise DataError(
            f"'{spec}' mixes data formats ({', '.join(f'{k}: {v}' for k, v in by_format.items())}); "
            "point data.train at files of one format."
        )
    return sorted(_display(f) for f in files)


def _parse_line(raw: bytes) -> tuple[dict | None, str | None]:
    """One JSONL line as a row, or why it is not one."""
    value, problem = parse_jsonl_line(raw)
    if problem is None and not isinstance(value, dict):
        return None, f"expected a JSON object, got {json_type(value)}"
    return value, problem


def read_jsonl(path: str) -> tuple[list[dict], list[RowPlace], list[BadRow]]:
    """Rows of a JSON Lines file, each with its 1-based line; a line that is not a JSON object
    (broken JSON, bad UTF-8, an array...) is one bad row, not a failed file.

    Why not `datasets`: its json loader (pyarrow) fails the whole file on one bad line and names
    no line. Blank (whitespace-only) lines are not rows and are skipped silently, as JSON Lines
    readers do; a UTF-8 BOM, CRLF line ends and a last line without newline are accepted.
    """
    rows, places, bad = [], [], []
    for number, raw in jsonl_lines(path):
        row, problem = _parse_line(raw)
        index = number - 1  # as in curricula.compat.data: row numbers are line numbers - 1
        if problem is not None:
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            bad.append(BadRow(path, index, None, problem, {"text": _short(text)}, line=number))
            continue
        rows.append(row)
        places.append(RowPlace(path, index, number))
    return rows, places, bad


def _read_json_array(path: str) -> tuple[list[dict], list[RowPlace], list[BadRow]]:
    """A ``.json`` file holding one JSON array of row objects."""
    try:
        with open_binary(path) as f:
            items = json.loads(f.read().removeprefix(UTF8_BOM).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        raise DataError(f"Could not read '{path}' as a JSON array{where}: {err}") from err
    rows, places, bad = [], [], []
    for index, item in enumerate(items):
        if isinstance(item, dict):
            rows.append(item)
            places.append(RowPlace(path, index))
        else:
            bad.append(
                BadRow(path, index, None, f"expected a JSON object, got {json_type(item)}", {"text": _short(item)})
            )
    return rows, places, bad


def _starts_with_array(path: str) -> bool:
    with open_binary(path) as f:
        return f.read(4096).removeprefix(UTF8_BOM).lstrip()[:1] == b"["


def _read_with_datasets(path: str, fmt: str) -> tuple[list[dict], list[RowPlace], list[BadRow]]:
    import datasets

    try:
        rows = datasets.load_dataset(fmt, data_files=path, split="train").to_list()
    except Exception as err:  # datasets wraps parser errors in several types
        raise DataError(f"Could not read '{path}' as {fmt}: {_root_cause(err)}") from err
    lines = _csv_record_lines(path, len(rows)) if fmt == "csv" else None
    return rows, [RowPlace(path, i, lines[i] if lines else None) for i in range(len(rows))], []


def _root_cause(err: BaseException) -> str:
    """The innermost error of a chain, which says what is wrong: `datasets` wraps the parser's
    ("EOF inside string starting at row 10") in "An error occurred while generating the dataset"."""
    while (err.__cause__ or err.__context__) is not None:
        err = err.__cause__ or err.__context__
    return f"{type(err).__name__}: {err}"


def _csv_record_lines(path: str, n_rows: int) -> list[int] | None:
    """The 1-based line (header included) where each CSV record starts, or None when that cannot
    be told for sure: the count is checked against the rows pandas read (it skips blank lines)."""
    import csv

    starts, previous_end = [], 0
    try:
        with io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            for record in reader:
                if record and any(cell.strip() for cell in record):
                    starts.append(previous_end + 1)
                previous_end = reader.line_num
    except (UnicodeDecodeError, csv.Error):
        return None
    starts = starts[1:]  # the header
    return starts if len(starts) == n_rows else None


def read_local_files(files: list[str]) -> tuple[list[dict], list[RowPlace], list[BadRow]]:
    """All rows of the files (one format, in order), each with its file and place in it."""
    rows, places, bad = [], [], []
    for path in files:
        fmt = _data_format(path)
        if fmt == "json":
            is_array = ".json" in [x.lower() for x in Path(path).suffixes[-2:]] and _starts_with_array(path)
            try:
                part = _read_json_array(path) if is_array else read_jsonl(path)
            except (OSError, EOFError, lzma.LZMAError) as err:  # a truncated or corrupt .gz/.bz2/.xz
                raise DataError(f"Could not read '{path}': {type(err).__name__}: {err}") from err
        else:
            part = _read_with_datasets(path, fmt)
        rows += part[0]
        places += part[1]
        bad += part[2]
    return rows, places, bad


def _read_hub(spec: str, split: str, dataset_config: str | None) -> tuple[list[dict], list[RowPlace], str]:
    import datasets

    try:
        ds = datasets.load_dataset(spec, dataset_config, split=split)
    except Exception as err:
        raise DataError(
            f"Could not load dataset '{spec}' (split '{split}'): {err}. Offline runs need a local file "
            "or a dataset already in the Hugging Face cache."
        ) from err
    source = f"{spec}[{split}]"
    return ds.to_list(), [RowPlace(source, i) for i in range(len(ds))], source


def _check_value(name: str, value: Any) -> str | None:
    """Why ``value`` cannot be used for rlvr column ``name`` (None if it can)."""
    if value is None:
        return "missing"
    if name == "prompt":
        if isinstance(value, str):
            return "empty" if not value.strip() else None
        if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
            return _chat_problem(value)
        return f"expected a non-empty string or a list of chat messages, got {type(value).__name__}"
    if name == "answer":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return f"expected a string or number, got {type(value).__name__}"
        if isinstance(value, float) and not math.isfinite(value):
            # JSON's NaN/Infinity (Python's json reads them) would become the gold text "nan".
            return f"expected a finite number, got {value}"
        return "empty" if isinstance(value, str) and not value.strip() else None
    if name in ("id", "skill"):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return f"expected a string or integer, got {type(value).__name__}"
        return "empty" if isinstance(value, str) and not value.strip() else None
    return None


# Roles that chat templates know; a typo ("usr") is silently dropped or breaks the template.
CHAT_ROLES = ("system", "user", "assistant", "tool", "developer")


def _chat_problem(messages: list) -> str | None:
    """Why a list of chat messages is not one TRL can template (None if it is): each message a
    mapping with a known ``role`` and a string ``content`` (text only: one Arrow column cannot
    hold both strings and lists of content parts)."""
    for i, message in enumerate(messages):
        missing = [key for key in ("role", "content") if key not in message]
        if missing:
            have = ", ".join(map(str, message)) or "nothing"
            return f"chat message {i}: missing key {missing[0]!r} (it has: {have})"
        if message["role"] not in CHAT_ROLES:
            return f"chat message {i}: role {message['role']!r} is not one of {', '.join(CHAT_ROLES)}"
        if not isinstance(message["content"], str):
            return f"chat message {i}: content must be a string, got {type(message['content']).__name__}"
    return None


def _answer_text(value: Any) -> str:
    """A gold answer as the text verifiers compare against. An integral float is written as an
    integer: pandas reads an integer column with one empty cell as floats, and JSON may write
    ``1e3``; "5.0" would then be the gold of a question whose answer is 5, and ``exact`` would
    score the right answer 0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def _missing_or_wrong(row: dict, raw: dict, config: DataConfig, mapping: dict) -> tuple[str, str] | None:
    """The first required field that is missing, or the first field of the wrong type: (field, why)."""
    for name in config.required:
        if name not in row or row[name] is None:
            have = ", ".join(sorted(k for k, v in raw.items() if v is not None))
            source_name = mapping.get(name, name)
            mapped = f" (read from source column '{source_name}')" if source_name != name else ""
            return name, f"missing{mapped}; the row has: {have or 'nothing'}"
    for name in RLVR_COLUMNS:
        if name in row and (name in config.required or row[name] is not None):
            why = _check_value(name, row[name])
            if why:
                return name, why
    return None


def validate_rows(
    rows: list[dict], places: list[RowPlace], config: DataConfig
) -> tuple[list[dict], list[RowPlace], list[BadRow]]:
    """Map columns, check required fields, normalise types, give every row a stable ``id``.

    Returns the good rows with their places, and the bad rows.
    """
    mapping = {name: config.columns.get(name, name) for name in RLVR_COLUMNS}
    unknown = set(config.columns) - set(RLVR_COLUMNS)
    if unknown:
        raise DataError(
            f"data.columns maps unknown rlvr column(s) {sorted(unknown)}; known: {', '.join(RLVR_COLUMNS)}."
        )
    good, good_places, bad = [], [], []
    seen_ids: dict[str, RowPlace] = {}
    for index, (raw, place) in enumerate(zip(rows, places, strict=True)):
        row = dict(raw)
        for name, column in mapping.items():  # rename source columns to rlvr's names
            if column != name:
                # The mapped column alone is the field: a same-named column must not stand in
                # for a missing mapped one (the prompt would silently come from another column).
                row.pop(name, None)
                if column in row:
                    row[name] = row.pop(column)
        problem = _missing_or_wrong(row, raw, config, mapping)
        if problem is None and "id" in row and row["id"] is not None:
            rid = str(row["id"])
            if rid in seen_ids:
                first = seen_ids[rid]
                at = first.describe() if first.source != place.source else first.describe()[len(place.source) + 1 :]
                problem = ("id", f"duplicate id '{rid}' (first seen at {at})")
        if problem is not None:
            bad.append(
                BadRow(
                    place.source,
                    place.row,
                    problem[0],
                    problem[1],
                    {k: _short(v) for k, v in raw.items()},
                    line=place.line,
                )
            )
            continue
        if row.get("id") is None:
            # Stable across runs of the same file: the row position plus the prompt's content.
            row["id"] = f"{index:06d}-{prompt_hash(row['prompt'])[:6]}"
        row["id"] = str(row["id"])
        seen_ids[row["id"]] = place
        if "answer" in row and row["answer"] is not None:
            row["answer"] = _answer_text(row["answer"])
        good.append(row)
        good_places.append(place)
    return good, good_places, bad


def _short(value: Any, limit: int = 200) -> Any:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


def _to_chat(prompt: Any, config: DataConfig) -> Any:
    if isinstance(prompt, list) or not (config.system_prompt or config.conversational):
        return prompt
    messages = [{"role": "system", "content": config.system_prompt}] if config.system_prompt else []
    return messages + [{"role": "user", "content": prompt}]


def bad_rows_error(bad: list[BadRow], source: str, hint: str, what: str = "malformed row(s)") -> DataError:
    """One error listing the first bad rows (file, line or row, field, reason)."""
    shown = "\n  ".join(b.message() for b in bad[:10])
    more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
    return DataError(f"{len(bad)} {what} in {source}:\n  {shown}{more}\n{hint}")


def _rows_to_dataset(rows: list[dict], places: list[RowPlace]) -> Dataset:
    """Rows whose keys may differ (JSONL) as one table: every column, None where a row lacks it."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = {name: [row.get(name) for row in rows] for name in columns}
    try:
        return Dataset.from_dict(table)
    except Exception as err:  # pyarrow's conversion errors (ArrowInvalid, ArrowTypeError)
        import pyarrow as pa

        for name in columns:  # find the column whose values no single type holds
            try:
                pa.array(table[name])
            except Exception:
                kinds = {}
                for value, place in zip(table[name], places):
                    if value is not None:
                        kinds.setdefault(type(value).__name__, place)
                shown = ", ".join(f"{kind} at {place.describe()}" for kind, place in kinds.items())
                raise DataError(f"Column '{name}' mixes value types ({shown}); one column needs one type.") from err
        raise DataError(f"Could not build a table from the rows: {err}") from err


def _load_source(spec: str, config: DataConfig, split: str) -> LoadedData:
    """A registered data source's rows (`rlvr.sources`, e.g. the toy world), sized by ``data.toy_*``."""
    n_per_skill = config.toy_n_per_skill if split == "train" else config.toy_eval_n_per_skill
    split = "train" if split == "train" else "eval"
    try:
        rows = source_rows(spec, split=split, n_per_skill=n_per_skill, seed=config.toy_seed, skills=config.toy_skills)
    except ValueError as err:  # an unknown name in data.toy_skills
        raise DataError(f"data.toy_skills: {err}") from err
    ds = Dataset.from_dict({k: [r[k] for r in rows] for k in ("id", "prompt", "answer", "skill")})
    label = f"{data_source(spec)[0]}[{split}]"
    return LoadedData(ds, [], label, [RowPlace(label, i) for i in range(len(ds))])


def load_prompts(spec: str, config: DataConfig, split: str = "train") -> LoadedData:
    """Load one split (``"train"`` or ``"eval"``) as validated rows with rlvr's column names."""
    if data_source(spec) is not None:
        return _load_source(spec, config, split)
    files = None if is_procedural(spec) else resolve_local_files(spec)
    if is_procedural(spec):
        raw_rows, source = procedural_rows(spec, split)
        places, unreadable = [RowPlace(source, i) for i in range(len(raw_rows))], []
    elif files is None:
        hub_split = config.train_split if split == "train" else config.eval_split
        raw_rows, places, source = _read_hub(spec, hub_split, config.dataset_config)
        unreadable = []
    else:
        raw_rows, places, unreadable = read_local_files(files)
        source = files[0] if len(files) == 1 else f"{spec} ({len(files)} files)"
    rows, places, bad = validate_rows(raw_rows, places, config)
    bad = sorted(unreadable + bad, key=lambda b: (files.index(b.source) if files else 0, b.row))
    if bad and not config.skip_bad_rows:
        raise bad_rows_error(
            bad,
            source,
            "Fix them, map columns with data.columns, or set data.skip_bad_rows=true to skip and record them.",
        )
    if not rows:
        raise DataError(f"{source} has no usable rows ({len(bad)} malformed).")
    if config.max_rows is not None:
        rows, places = rows[: config.max_rows], places[: config.max_rows]
    chat_rows = [place for row, place in zip(rows, places) if isinstance(row["prompt"], list)]
    if config.system_prompt and chat_rows:
        # Rows that already are chats keep their own messages; say so rather than drop it silently.
        logger.warning(
            "data.system_prompt is not added to the %d row(s) of %s whose prompt already is a list of "
            "chat messages (the first at %s); put a system message in those rows instead.",
            len(chat_rows),
            source,
            chat_rows[0].describe(),
        )
    for row in rows:
        row["prompt"] = _to_chat(row["prompt"], config)
    return LoadedData(_rows_to_dataset(rows, places), bad, source, places)


# ----------------------------------------------------------------------------------------------
# Checks against the model and the GRPO batch, run before the model's weights load.

CONTEXT_ATTRIBUTES = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


def model_context_length(model_path: str, revision: str | None = None, trust_remote_code: bool = False) -> int | None:
    """The model's context window in tokens, read from its config (no weights load); None if the
    config names none."""
    from transformers import AutoConfig

    model_config = AutoConfig.from_pretrained(model_path, revision=revision, trust_remote_code=trust_remote_code)
    text_config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    for name in CONTEXT_ATTRIBUTES:
        value = getattr(text_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def prompt_token_counts(
    prompts: list, tokenizer, chat_template_kwargs: dict | None = None, batch_size: int = 1024
) -> list[int]:
    """Tokens of each prompt as TRL's GRPOTrainer counts them (``_tokenize_prompts``): plain
    strings through the tokenizer, chat messages through its chat template with the generation
    prompt. Batched, so a fast tokenizer counts ~1M short prompts in seconds."""
    counts = [0] * len(prompts)
    chat = [i for i, p in enumerate(prompts) if isinstance(p, list)]
    text = [i for i, p in enumerate(prompts) if not isinstance(p, list)]
    for indices, is_chat in ((text, False), (chat, True)):
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            if is_chat:
                ids = tokenizer.apply_chat_template(
                    conversation=[prompts[i] for i in chunk],
                    add_generation_prompt=True,
                    tokenize=True,
                    return_dict=True,
                    **(chat_template_kwargs or {}),
                )["input_ids"]
            else:
                ids = tokenizer(text=[prompts[i] for i in chunk], return_attention_mask=False)["input_ids"]
            for i, row_ids in zip(chunk, ids, strict=True):
                counts[i] = len(row_ids)
    return counts


def check_prompt_lengths(
    dataset: Dataset, tokenizer, max_prompt_tokens: int, chat_template_kwargs: dict | None = None
) -> dict[int, int]:
    """Rows whose prompt has more than ``max_prompt_tokens`` tokens: {row index: token count}."""
    counts = prompt_token_counts(dataset["prompt"], tokenizer, chat_template_kwargs)
    return {i: n for i, n in enumerate(counts) if n > max_prompt_tokens}


def enforce_prompt_limit(
    data: LoadedData,
    tokenizer,
    context: int,
    completion_tokens: int,
    skip_bad_rows: bool,
    chat_template_kwargs: dict | None = None,
) -> LoadedData:
    """Make each prompt that leaves fewer than ``completion_tokens`` of the model's ``context``
    one bad row (its token count and the limit): an error listing them, or skipped and recorded
    with ``skip_bad_rows``.

    Prompts are never truncated: cutting a prompt changes the problem its reference answer
    belongs to (the givens of a question or the system prompt of a chat would go), so the policy
    would be rewarded against the wrong answer. Without this check, generation tried to allocate
    memory for the whole over-long sequence (25 GB in one run) and crashed mid-training.
    """
    limit = context - completion_tokens
    if limit <= 0:
        raise DataError(
            f"grpo.max_completion_length ({completion_tokens}) leaves no room for a prompt in the "
            f"model's context of {context} tokens."
        )
    too_long = check_prompt_lengths(data.dataset, tokenizer, limit, chat_template_kwargs)
    if not too_long:
        return data
    places = data.places or [RowPlace(data.source, i) for i in range(len(data.dataset))]
    bad = [
        BadRow(
            places[i].source,
            places[i].row,
            "prompt",
            f"{n} tokens, over the limit of {limit} (context {context} - {completion_tokens} completion tokens)",
            {"prompt": _short(data.dataset[i]["prompt"])},
            line=places[i].line,
        )
        for i, n in too_long.items()
    ]
    if not skip_bad_rows:
        raise bad_rows_error(
            bad,
            data.source,
            "Shorten these prompts, lower grpo.max_completion_length, or set "
            "data.skip_bad_rows=true to skip and record them.",
            what="prompt(s) too long",
        )
    keep = [i for i in range(len(data.dataset)) if i not in too_long]
    return LoadedData(data.dataset.select(keep), data.bad_rows + bad, data.source, [places[i] for i in keep])


def check_chat_template(data: LoadedData, tokenizer, model_path: str) -> None:
    """Refuse chat prompts for a tokenizer without a chat template: TRL (and the prompt-length
    check) would fail in ``apply_chat_template`` with a transformers traceback."""
    if getattr(tokenizer, "chat_template", None):
        return
    first_chat = next((i for i, prompt in enumerate(data.dataset["prompt"]) if isinstance(prompt, list)), None)
    if first_chat is None:
        return
    place = data.places[first_chat].describe() if data.places else f"{data.source} row {first_chat}"
    raise DataError(
        f"{data.source} has chat prompts (lists of messages; the first at {place}), but the tokenizer of "
        f"'{model_path}' has no chat template. Use plain string prompts (and no data.system_prompt / "
        "data.conversational), or a model whose tokenizer has a chat template."
    )


def check_enough_rows(data: LoadedData, grpo_args) -> None:
    """Refuse training data smaller than one generation batch: TRL's sampler would yield no
    batch at all, the run would report 0 steps and fail later on a missing audit log."""
    needed = grpo_args.generation_batch_size // grpo_args.num_generations
    if len(data.dataset) >= needed:
        return
    skipped = f", {len(data.bad_rows)} bad row(s) skipped" if data.bad_rows else ""
    raise DataError(
        f"{data.source} has {len(data.dataset)} usable row(s){skipped}, but one generation step needs {needed} "
        f"distinct prompts: generation_batch_size {grpo_args.generation_batch_size} (per_device_train_batch_size "
        f"{grpo_args.per_device_train_batch_size} x {grpo_args.world_size} process(es) x steps_per_generation "
        f"{grpo_args.steps_per_generation}) / num_generations {grpo_args.num_generations}. Add rows or lower "
        "grpo.per_device_train_batch_size."
    )


def _one_value_per_row(feature) -> bool:
    """A `datasets` feature holding one scalar per row (not a list, a mapping, an image...)."""
    return isinstance(feature, (Value, ClassLabel))


def non_category_columns(features) -> list[str]:
    """Columns of a dataset's ``features`` that cannot be a category: floats (a score) and lists
    or mappings (no single value per row); an unset ``group_columns`` leaves them out."""
    return [
        name
        for name, feature in features.items()
        if not _one_value_per_row(feature) or str(getattr(feature, "dtype", "")).startswith("float")
    ]


def check_group_columns(data: LoadedData, predictor) -> None:
    """Refuse ``curricula.predictor.group_columns`` the training data lacks, before the model
    loads (the predictor pools its priors by those columns when the trainer starts)."""
    if not predictor.enabled or predictor.group_columns is None:  # None: what the data has
        return
    message = missing_group_columns(predictor.group_columns, data.dataset.column_names, data.source)
    if message:
        raise ConfigError(message)
    features = data.dataset.features
    for name in predictor.group_columns:
        if not _one_value_per_row(features[name]):
            raise ConfigError(non_scalar_group_column(name, f"of {data.source} holds {features[name]}"))


def load_run_data(config) -> tuple[LoadedData, LoadedData | None]:
    """The train (and eval) prompts of a run, each row validated; needs nothing of the model."""
    train = load_prompts(config.data.train, config.data, split="train")
    check_group_columns(train, config.curricula.predictor)
    held_out = None
    if config.data.eval and config.eval.enabled:
        held_out = load_prompts(config.data.eval, config.data, split="eval")
    return train, held_out


def fit_run_data(
    config, train: LoadedData, held_out: LoadedData | None, tokenizer, model_path: str
) -> tuple[LoadedData, LoadedData | None]:
    """`load_run_data`'s rows checked against the model's context and the GRPO batch; needs only
    the tokenizer and the model's config, not its weights."""
    for data in (train, held_out):
        if data is not None:
            check_chat_template(data, tokenizer, model_path)
    trust_remote_code = bool(getattr(config.grpo, "trust_remote_code", False))
    context = model_context_length(model_path, config.model.model_revision, trust_remote_code)
    if context is None:
        logger.warning("The config of %s names no context length; prompt lengths are not checked.", model_path)
    else:
        chat_kwargs = config.grpo.chat_template_kwargs
        completion = config.grpo.max_completion_length
        train = enforce_prompt_limit(train, tokenizer, context, completion, config.data.skip_bad_rows, chat_kwargs)
        if held_out is not None:
            eval_completion = config.eval.max_new_tokens or completion
            held_out = enforce_prompt_limit(
                held_out, tokenizer, context, eval_completion, config.data.skip_bad_rows, chat_kwargs
            )
    check_enough_rows(train, config.grpo)
    return train, held_out
