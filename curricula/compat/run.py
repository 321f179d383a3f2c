"""Run the compatibility filter over a dataset of any size, resumably.

Three stages, each reading the previous one's file. Rows are held one chunk at a time; what grows
with the data is only a set of row ids (resume, duplicate detection) and one float per profile row.

1. **Score** (`score_dataset`): read ``chunk_size`` rows, validate them, sample the student's own
   answers for the profile, score every view in batches, append one record per row to
   ``OUT/scores.jsonl`` and flush it to disk. A killed run resumes after the rows already in
   that file: it reads only their row numbers and ids, rescoring nothing and writing nothing twice.
2. **Profile**: the q-th percentile of the student's per-token NLL on its own answers.
3. **Decide**: one `Decision` per row into ``OUT/audit.jsonl`` (the same `AuditLog` the frontier
   filter writes), kept rows into ``OUT/filtered.jsonl``, bad rows into ``OUT/bad_rows.jsonl``, and
   counts into ``OUT/summary.json``. Decisions are cheap and a pure function of the scores, so
   this stage is redone on every run: the audit log is first rewound to where this directory's
   decisions began, so a rerun (say with another ``quantile``) replaces them instead of doubling.

``OUT/compat_state.json`` remembers the run id and the settings the scores depend on; resuming
with different ones is an error, not a silent mix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curricula.audit import AuditLog, drop_torn_tail, new_run_id
from curricula.base import KEPT
from curricula.compat.data import (
    EMPTY_AFTER_TOKENIZATION,
    TOO_LONG,
    audit_columns,
    bad_record,
    open_source,
    row_id,
    validate_row,
)
from curricula.compat.rules import (
    FRONTIER,
    CompatConfig,
    Profile,
    build_profile,
    decide,
    encode_views,
    output_row,
    score_encoded,
)
from curricula.likelihood import StudentLikelihood
from curricula.records import DataError

SCORES_FILE = "scores.jsonl"
FILTERED_FILE = "filtered.jsonl"
BAD_ROWS_FILE = "bad_rows.jsonl"
STATE_FILE = "compat_state.json"
SUMMARY_FILE = "summary.json"
# The fields of a bad row's line in the bad-rows file.
BAD_ROW_FIELDS = ("id", "row", "source", "field", "problem", "message", "values")

# Settings the scores depend on: resuming with other values would mix incomparable scores.
SCORING_SETTINGS = (
    "columns",
    "prompt_template",
    "reverse_template",
    "response_eos",
    "on_too_long",
    "profile",
    "profile_fraction",
    "profile_temperature",
    "profile_max_new_tokens",
    "seed",
)


@dataclass
class CompatResult:
    """What a run did. ``reasons`` counts ``"decision/reason"``; paths are in ``out_dir``."""

    out_dir: Path
    rows: int
    scored_now: int
    kept: int
    dropped: int
    reasons: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)  # the first message of each reason
    profile: Profile | None = None

    @property
    def filtered_path(self) -> Path:
        return self.out_dir / FILTERED_FILE


# ------------------------------------------------------------------------------------------------
# Student


def load_student(spec: str, device: str | None = None, path: str | None = None):
    """``(model, tokenizer, name)``; ``spec`` is a folder or a Hub name, loaded from ``path`` when
    given (``rlvr.cli.compat.load_student`` resolves ``"toy"`` to the toy world's folder this way:
    the toy world belongs to rlvr, which curricula does not import)."""
    import torch

    from curricula.models import load_causal_lm

    path = path or spec
    try:
        model, tokenizer = load_causal_lm(path, pad_to_eos=False)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"Could not load the student '{spec}': {err}. Pass a model folder, a cached Hub name, or 'toy'."
        ) from err
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer, spec


def check_templates(tokenizer, config: CompatConfig) -> None:
    """Fail early when a template has characters the student's tokenizer cannot represent."""
    unk = tokenizer.unk_token_id
    if unk is None:
        return
    for name in ("prompt_template", "reverse_template"):
        text = getattr(config, name).replace("{prompt}", "").replace("{response}", "")
        unknown = sorted({ch for ch in text if unk in tokenizer(ch, add_special_tokens=False)["input_ids"]})
        if unknown:
            raise ValueError(
                f"compat.{name} {getattr(config, name)!r} has characters the student's "
                f"tokenizer maps to {tokenizer.unk_token}: {unknown}. Rewrite it in the "
                "student's vocabulary."
            )


# ------------------------------------------------------------------------------------------------
# Stage 1: scoring


def _in_profile(rid: str, config: CompatConfig) -> bool:
    """Whether the student samples its own answer for this row (a stable hash of the id)."""
    if config.profile != "generations":
        return False
    if config.profile_fraction >= 1.0:
        return True
    digest = hashlib.sha1(f"{config.seed}/{rid}".encode()).hexdigest()[:8]
    return int(digest, 16) / 16**8 < config.profile_fraction


def iter_records(path: Path) -> Iterator[dict]:
    """Records of a ``scores.jsonl``, one at a time (a torn last line is ignored)."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                yield json.loads(line)


def read_done(path: Path) -> tuple[dict[int, str], set[str]]:
    """``({row: id} of every recorded row, ids of scored rows)`` from an earlier run."""
    drop_torn_tail(path)
    done: dict[int, str] = {}
    seen_ids: set[str] = set()
    for record in iter_records(path):
        done[record["row"]] = record["id"]
        if record["status"] == "scored":
            seen_ids.add(record["id"])
    return done, seen_ids


def score_chunk(
    chunk: list[tuple[int, Any]], source: str, likelihood: StudentLikelihood, config: CompatConfig, seen_ids: set[str]
) -> list[dict]:
    """Validate and score one chunk of ``(row index, raw row)``; one record per row, in order."""
    records = _validate_chunk(chunk, source, config, seen_ids)
    jobs = _answer_jobs(records, chunk, source, likelihood, config)
    jobs += _profile_jobs(records, likelihood, config)
    _score_jobs(jobs, likelihood, config)
    for record in records:
        if record["status"] == "ok":
            record["status"] = "scored"
            record.setdefault("original", None)
            record.setdefault("generation", None)
    return records


def _validate_chunk(chunk: list[tuple[int, Any]], source: str, config: CompatConfig, seen_ids: set[str]) -> list[dict]:
    """One record per row, ``ok`` or ``bad``; a bad row stops the run unless ``skip_bad_rows``. The
    ids of ok rows are added to ``seen_ids`` (later duplicates are bad)."""
    records = []
    for index, raw in chunk:
        record = validate_row(index, raw, source, config, seen_ids)
        if record["status"] == "bad" and not config.skip_bad_rows:
            raise DataError(
                f"{record['message']}\nFix the row, map columns with compat.columns, or set "
                "compat.skip_bad_rows=true to drop and record bad rows."
            )
        if record["status"] == "ok":
            seen_ids.add(record["id"])
        records.append(record)
    return records


def _answer_jobs(
    records: list[dict], chunk: list[tuple[int, Any]], source: str, likelihood: StudentLikelihood, config: CompatConfig
) -> list[tuple[dict, str, str, str]]:
    """The refined and original answers of every ok row, as ``(record, kind, prompt, response)``
    jobs; a row the student cannot score is replaced, in ``records``, by a bad record."""
    jobs: list[tuple[dict, str, str, str]] = []
    for i, record in enumerate(records):
        if record["status"] != "ok":
            continue
        row_jobs = [(record, "refined", record["prompt"], record["response"])]
        if record["original_response"] is not None:
            row_jobs.append((record, "original", record["original_prompt"], record["original_response"]))
        problem = _unscorable(row_jobs, likelihood, config)
        if problem is not None:
            code, why = problem
            records[i] = bad_record(
                record["row"],
                record["id"],
                source,
                "response",
                code,
                f"{source} row {record['row']}: {why}",
                raw=chunk[i][1],
            )
            continue
        jobs += row_jobs
    return jobs


def _profile_jobs(
    records: list[dict], likelihood: StudentLikelihood, config: CompatConfig
) -> list[tuple[dict, str, str, str]]:
    """The student's own answers to the profile rows' prompts (its profile), sampled now, as
    ``generation`` jobs; an empty sample without EOS is noted on its record instead."""
    jobs: list[tuple[dict, str, str, str]] = []
    profiled = [r for r in records if r["status"] == "ok" and _in_profile(r["id"], config)]
    if profiled:
        samples = likelihood.sample(
            [config.prompt_template.format(prompt=r["prompt"]) for r in profiled],
            max_new_tokens=config.profile_max_new_tokens,
            temperature=config.profile_temperature,
            seed=config.seed * 1_000_003 + profiled[0]["row"],
        )
        for record, text in zip(profiled, samples, strict=True):
            if text or config.response_eos:  # an empty sample without EOS has no token to score
                jobs.append((record, "generation", record["prompt"], text))
            else:
                record["notes"].append("the student's own sample was empty: not in the profile")
    return jobs


def _score_jobs(jobs: list[tuple[dict, str, str, str]], likelihood: StudentLikelihood, config: CompatConfig) -> None:
    """Score every job's views in batches; each score goes to ``record[kind]`` (a generation's with
    its text)."""
    views = [encode_views(likelihood, config, prompt, response) for _, _, prompt, response in jobs]
    scores = score_encoded(likelihood, [(p, r) for _, _, p, r in jobs], views)
    for (record, kind, _, response), score in zip(jobs, scores, strict=True):
        entry = dataclasses.asdict(score)
        if kind == "generation":
            entry = {"text": response, **entry}
        record[kind] = entry


def _unscorable(row_jobs, likelihood: StudentLikelihood, config: CompatConfig) -> tuple[str, str] | None:
    """``(problem code, why)`` when a row cannot be scored as configured, else None."""
    for _, kind, prompt, response in row_jobs:
        views = encode_views(likelihood, config, prompt, response)
        if views.a_alone.n_target == 0:
            return EMPTY_AFTER_TOKENIZATION, f"{kind} response {response!r} has no tokens after tokenisation"
        if config.on_too_long == "skip" and (views.truncated or likelihood.encode(None, prompt).truncated):
            lengths = {
                "prompt + response": likelihood.untruncated_length(
                    config.prompt_template.format(prompt=prompt), response, config.response_eos
                ),
                "reverse template + prompt": likelihood.untruncated_length(
                    config.reverse_template.format(response=response), prompt
                ),
            }
            what, n = max(lengths.items(), key=lambda kv: kv[1])
            return TOO_LONG, (
                f"{kind} {what} is {n} tokens, over max_length {likelihood.max_length} (on_too_long=skip)"
            )
    return None


def score_dataset(
    data: Any,
    likelihood: StudentLikelihood,
    config: CompatConfig,
    scores_path: Path,
    progress: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> int:
    """Score every row not yet in ``scores_path``, a chunk at a time; returns rows scored now.

    ``on_chunk(chunk_number, rows_in_chunk)`` is called after each chunk is on disk.
    """
    from tqdm.auto import tqdm

    rows, source, total = open_source(data, config)
    done, seen_ids = read_done(scores_path)
    written = chunks = 0
    chunk: list[tuple[int, Any]] = []
    with (
        open(scores_path, "a", encoding="utf-8") as out,
        tqdm(total=total, initial=len(done), unit="row", desc="compat: scoring", disable=not progress) as bar,
    ):

        def flush_chunk():
            nonlocal written, chunks
            records = score_chunk(chunk, source, likelihood, config, seen_ids)
            out.write("".join(json.dumps(r, default=str) + "\n" for r in records))
            out.flush()
            os.fsync(out.fileno())  # the chunk is on disk before the next one starts
            written += len(records)
            chunks += 1
            bar.update(len(records))
            chunk.clear()
            if on_chunk is not None:
                on_chunk(chunks, len(records))

        for index, raw in rows:
            if index in done:
                if done[index] != row_id(index, raw, config):
                    raise DataError(
                        f"{source} row {index} has id '{row_id(index, raw, config)}' but "
                        f"{scores_path} scored id '{done[index]}' there: the data changed "
                        "since it was scored. Use a new output folder."
                    )
                continue
            chunk.append((index, raw))
            if len(chunk) == config.chunk_size:
                flush_chunk()
        if chunk:
            flush_chunk()
    return written


# ------------------------------------------------------------------------------------------------
# Stages 2 and 3: profile and decisions


def profile_values(scores_path: Path, config: CompatConfig) -> list[tuple[str | None, float]]:
    """``(group value, per-token NLL)`` of every profile row in the scores."""
    key = "generation" if config.profile == "generations" else "original"
    values = []
    for record in iter_records(scores_path):
        if record["status"] == "scored" and record.get(key) is not None:
            group = record["columns"].get(config.profile_by) if config.profile_by else None
            values.append((group, record[key]["nll"]))
    return values


def decide_all(out_dir: Path, config: CompatConfig, run_id: str, progress: bool = True) -> CompatResult:
    """Decide every scored row; write the audit log, filtered rows, bad rows and a summary."""
    scores_path = out_dir / SCORES_FILE
    profile = build_profile(profile_values(scores_path, config), config) if FRONTIER in config.rules else None
    audit = _decisions_audit_log(out_dir, run_id)
    result = _write_decisions(scores_path, out_dir, config, profile, audit, progress)
    summary = {
        "run_id": run_id,
        "rows": result.rows,
        "kept": result.kept,
        "dropped": result.dropped,
        "reasons": result.reasons,
        "examples": result.examples,
        "rules": config.rules,
        "quantile": config.quantile,
        "profile": None if profile is None else dataclasses.asdict(profile),
    }
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    return result


def _decisions_audit_log(out_dir: Path, run_id: str) -> AuditLog:
    """The audit log, rewound to where this directory's decisions began (an earlier run's are
    replaced); on the first run, that position is remembered in the state file."""
    audit = AuditLog(out_dir, run_id)
    state = _read_state(out_dir)
    if "audit_start" in state:  # an earlier run decided already: replace its records
        audit.rewind(state["audit_start"])
    else:
        state["audit_start"] = audit.position()
        _write_state(out_dir, state)
    return audit


def _write_decisions(
    scores_path: Path, out_dir: Path, config: CompatConfig, profile: Profile | None, audit: AuditLog, progress: bool
) -> CompatResult:
    """One decision per scored record into ``audit``, the kept rows into the filtered file and the
    bad ones into the bad-rows file (each replaced at once when complete); returns the counts."""
    from tqdm.auto import tqdm

    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    kept = dropped = rows = 0
    filtered_tmp, bad_tmp = out_dir / (FILTERED_FILE + ".tmp"), out_dir / (BAD_ROWS_FILE + ".tmp")
    with open(filtered_tmp, "w", encoding="utf-8") as filtered, open(bad_tmp, "w", encoding="utf-8") as bad:
        for record in tqdm(iter_records(scores_path), desc="compat: deciding", unit="row", disable=not progress):
            decision = decide(record, config, profile)
            decision.columns = audit_columns(decision.columns)
            audit.add(decision, global_step=0, epoch=0.0)
            rows += 1
            key = f"{decision.decision}/{decision.reason}"
            counts[key] += 1
            examples.setdefault(key, f"{decision.prompt_id}: {decision.message}")
            if decision.decision == KEPT:
                kept += 1
                filtered.write(json.dumps(output_row(record, decision), default=str) + "\n")
            else:
                dropped += 1
            if record["status"] == "bad":
                bad.write(json.dumps({k: record[k] for k in BAD_ROW_FIELDS}, default=str) + "\n")
            if rows % config.chunk_size == 0:
                audit.flush()
    audit.flush()
    os.replace(filtered_tmp, out_dir / FILTERED_FILE)
    os.replace(bad_tmp, out_dir / BAD_ROWS_FILE)
    return CompatResult(
        out_dir, rows, 0, kept, dropped, dict(sorted(counts.items())), dict(sorted(examples.items())), profile
    )


def _read_state(out_dir: Path) -> dict:
    path = out_dir / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _write_state(out_dir: Path, state: dict) -> None:
    tmp = out_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str))
    os.replace(tmp, out_dir / STATE_FILE)


def _fingerprint(config: CompatConfig, likelihood: StudentLikelihood, student: str, data: Any) -> dict:
    settings = {name: getattr(config, name) for name in SCORING_SETTINGS}
    data_name = str(data) if isinstance(data, (str, os.PathLike)) else "<dataset>"
    return {"student": student, "data": data_name, "max_length": likelihood.max_length, **settings}


def run_compat(
    data: Any,
    out_dir: str | os.PathLike,
    config: CompatConfig | None = None,
    student: str | tuple | None = None,
    progress: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> CompatResult:
    """Score ``data`` with the student, decide, and write the filtered dataset to ``out_dir``.

    Args:
        data: A ``.jsonl``/``.parquet``/``.csv`` file, a ``save_to_disk`` folder, a `datasets`
            name, or an iterable of dicts.
        out_dir: Where ``scores.jsonl``, ``audit.jsonl``, ``filtered.jsonl``,
            ``bad_rows.jsonl`` and ``summary.json`` go. Rerunning into it resumes.
        config: The `CompatConfig` (defaults if None).
        student: A model folder or Hub name, or a loaded ``(model, tokenizer)`` or
            ``(model, tokenizer, name)`` (the name is remembered to check resumes); for the toy
            world pass ``rlvr.cli.compat.load_student("toy")``.
        progress: Show tqdm progress bars.
        on_chunk: Called as ``on_chunk(chunk_number, rows)`` after each scored chunk is on disk.
    """
    config = config or CompatConfig()
    if student is None:
        raise ValueError(
            "run_compat needs a student: a model folder, a Hub name or a loaded (model, tokenizer); "
            "for the toy world pass rlvr.cli.compat.load_student('toy')."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(student, (str, os.PathLike)):
        model, tokenizer, student_name = load_student(str(student))
    else:
        model, tokenizer, *name = student
        student_name = name[0] if name else getattr(model, "name_or_path", "") or type(model).__name__
    check_templates(tokenizer, config)
    likelihood = StudentLikelihood(model, tokenizer, config.max_length, config.batch_size)

    fingerprint = _fingerprint(config, likelihood, student_name, data)
    state = _read_state(out)
    if state and (out / SCORES_FILE).exists():
        changed = {
            k: (state["fingerprint"].get(k), v) for k, v in fingerprint.items() if state["fingerprint"].get(k) != v
        }
        if changed:
            listing = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise ValueError(
                f"{out / SCORES_FILE} was scored with other settings ({listing}). Use a new "
                "output folder, or delete scores.jsonl to rescore."
            )
    else:
        # A fresh scoring run; an earlier run's decisions (if any) are still replaced, not doubled.
        kept_start = {"audit_start": state["audit_start"]} if "audit_start" in state else {}
        state = {"run_id": new_run_id("compat"), "fingerprint": fingerprint, **kept_start}
        _write_state(out, state)

    scored_now = score_dataset(data, likelihood, config, out / SCORES_FILE, progress, on_chunk)
    result = decide_all(out, config, state["run_id"], progress)
    result.scored_now = scored_now
    return result
