"""One run per output directory: what a new run, ``--overwrite``, ``--resume`` and ``--force`` do.

Checked by `prepare_run_dir` before the model loads (decided by the main process, for all):

- **A new run** (no ``--resume``) refuses a directory that holds a previous run's files
  (`run_files`: rlvr's ``rlvr_run.json``, ``rlvr_config.yaml``, ``audit.jsonl``,
  ``summary.json``, ``bad_rows.jsonl``, ``verifier_errors.rank*.jsonl``, ``excluded.rank*.json``,
  ``final/``; TRL's ``checkpoint-*/`` folders, ``runs/`` (TensorBoard logs) and the model card
  ``README.md`` it writes). ``--overwrite`` deletes exactly those files and folders first; any
  other file in the directory is left alone (and does not count as a previous run).
- **A resume** refuses a checkpoint written by another config or another run: every checkpoint
  carries the run's id and *fingerprint* (a hash of the resolved config without the fields that
  do not change what is trained, `UNFINGERPRINTED`), compared with this config and with the run
  that owns the directory (``rlvr_run.json``). ``--force`` resumes anyway, with a warning.
  ``max_steps`` is outside the fingerprint, so a run can be resumed to go further (a linear
  learning-rate schedule then stretches to the new length).
- On resume the per-rank verifier error logs are rewound to the checkpoint, as the audit log is
  (`curricula.audit.rewind_verifier_errors`); ``--resume`` without a checkpoint starts the run over
  (its partial logs are cleared, its id kept).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from curricula.audit import new_run_id as mint_run_id
from rewards.base import UserInputError
from rlvr.checkpoint import STATE_FILE

logger = logging.getLogger(__name__)

RUN_FILE = "rlvr_run.json"
CONFIG_FILE = "rlvr_config.yaml"
# A previous run's files: what makes a directory "taken" and what --overwrite deletes.
RUN_FILE_PATTERNS = (
    RUN_FILE,
    CONFIG_FILE,
    "audit.jsonl",
    "audit.segments",
    "summary.json",
    "bad_rows.jsonl",
    "verifier_errors.rank*.jsonl",
    "excluded.rank*.json",
    "final",
    "checkpoint-*",
    "runs",
)
# Config fields that do not change what is trained: how long, where, and what is logged or saved.
UNFINGERPRINTED = {
    "eval": "*",  # rlvr's held-out evaluation only feeds the summary
    "grpo": {
        "output_dir",
        "max_steps",
        "num_train_epochs",
        "logging_dir",
        "logging_steps",
        "logging_strategy",
        "logging_first_step",
        "logging_nan_inf_filter",
        "save_steps",
        "save_strategy",
        "save_total_limit",
        "save_only_model",
        "save_on_each_node",
        "report_to",
        "run_name",
        "project",
        "disable_tqdm",
        "log_level",
        "log_level_replica",
        "log_on_each_node",
        "log_completions",
        "num_completions_to_print",
        "log_unique_prompts",
        "log_multimodal",
        "log_completions_hub_repo",
        "push_to_hub",
        "hub_always_push",
        "hub_model_id",
        "hub_private_repo",
        "hub_revision",
        "hub_strategy",
        "hub_token",
        "trackio_bucket_id",
        "trackio_space_id",
        "trackio_static_space_id",
        "resume_from_checkpoint",
        "local_rank",
        "skip_memory_metrics",
        "dataloader_num_workers",
        "dataloader_persistent_workers",
        "dataloader_pin_memory",
        "dataloader_prefetch_factor",
    },
}


class RunDirError(UserInputError):
    """The output directory or checkpoint does not fit this run (a user's mistake, not a bug)."""


@dataclass
class RunDir:
    """What `prepare_run_dir` decided.

    Args:
        path: The output directory.
        run_id: The run's id (a resumed run keeps the id of the run that wrote its checkpoint).
        fingerprint: Hash of `fingerprint_config`.
        fingerprint_config: The resolved config without `UNFINGERPRINTED` fields.
        checkpoint: The checkpoint to resume from, or ``None`` for a fresh start.
        checkpoint_step: Its global step (0 without one).
    """

    path: Path
    run_id: str
    fingerprint: str
    fingerprint_config: dict
    checkpoint: str | None = None
    checkpoint_step: int = 0

    @property
    def resumed(self) -> bool:
        return self.checkpoint is not None

    def checkpoint_identity(self) -> dict:
        """What every checkpoint stores (`rlvr.trainer` writes it into its state file)."""
        return {"run_id": self.run_id, "fingerprint": self.fingerprint, "config": self.fingerprint_config}


def fingerprint_config(config_dict: dict) -> dict:
    """The resolved config (``rlvr.config.config_to_dict``) without `UNFINGERPRINTED` fields."""
    out = {}
    for section, value in config_dict.items():
        skip = UNFINGERPRINTED.get(section, ())
        if skip == "*":
            continue
        out[section] = {k: v for k, v in value.items() if k not in skip} if isinstance(value, dict) else value
    return out


def fingerprint(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_files(path: Path) -> list[Path]:
    """The previous run's files in ``path`` (see the module docstring), sorted."""
    if not path.is_dir():
        return []
    found = {p for pattern in RUN_FILE_PATTERNS for p in path.glob(pattern)}
    card = path / "README.md"
    if card.is_file() and "generated_from_trainer" in card.read_text(errors="replace")[:2000]:
        found.add(card)  # TRL's model card; a README.md of the user's own is not a run file
    return sorted(found)


# What a run writes before training starts (config, checks, the held-out evaluation before).
# A directory holding only these is an attempt that stopped before training (a data or verifier
# mistake): a retry replaces them, so fixing the mistake never needs --overwrite.
PRE_TRAINING_PATTERNS = (RUN_FILE, CONFIG_FILE, "bad_rows.jsonl", "verifier_errors.rank*.jsonl")


def stopped_before_training(files: list[Path]) -> bool:
    """Whether ``files`` (`run_files`) are only what a run writes before it trains."""
    return all(any(fnmatch.fnmatch(p.name, pattern) for pattern in PRE_TRAINING_PATTERNS) for p in files)


def new_run_id() -> str:
    return mint_run_id()


@dataclass
class _Plan:
    run: RunDir
    delete: list[Path]
    write_run_file: bool


def plan_run_dir(
    output_dir: str | Path, config_dict: dict, resume: str | None = None, overwrite: bool = False, force: bool = False
) -> _Plan:
    """Decide (reading only) what this run does with ``output_dir``; raises `RunDirError` to refuse.

    ``resume`` is ``None`` (a new run), ``"auto"`` (the latest checkpoint in ``output_dir``) or a
    checkpoint directory.
    """
    path = Path(output_dir)
    fields = fingerprint_config(config_dict)
    current = fingerprint(fields)
    if resume is not None and overwrite:
        raise RunDirError(
            "--resume continues the run in the output directory and --overwrite deletes it: pass one of them."
        )
    owner = _read_run_file(path)
    if resume is None:
        previous = run_files(path)
        if previous and not overwrite and stopped_before_training(previous):
            logger.info(
                "Replacing the files of an earlier attempt in %s that stopped before training: %s",
                path,
                ", ".join(p.name for p in previous),
            )
        elif previous and not overwrite:
            shown = ", ".join(p.name + ("/" if p.is_dir() else "") for p in previous[:6])
            more = f" and {len(previous) - 6} more" if len(previous) > 6 else ""
            whose = f" of run {owner['run_id']}" if owner else ""
            raise RunDirError(
                f"Output directory {path} holds a previous run's files{whose} ({shown}{more}). Pass "
                "--resume to continue that run, --overwrite to delete those files and start anew, "
                "or choose another grpo.output_dir."
            )
        return _Plan(RunDir(path, new_run_id(), current, fields), previous, write_run_file=True)
    checkpoint = _find_checkpoint(path, resume)
    if checkpoint is None:  # nothing to resume from: this run starts over, under its id
        if owner is not None and owner.get("fingerprint") != current:
            _refuse_or_warn(
                f"Output directory {path} holds run {owner.get('run_id')} of another config "
                f"({_config_difference(owner.get('config'), fields)}) and no checkpoint to resume.",
                force,
            )
        logger.warning("--resume: no checkpoint in %s; starting the run over.", path)
        run_id = owner["run_id"] if owner else new_run_id()
        return _Plan(RunDir(path, run_id, current, fields), run_files(path), write_run_file=True)
    identity = _read_checkpoint_identity(checkpoint)
    problems = _identity_problems(Path(checkpoint), identity, current, fields, owner, path)
    if problems:
        _refuse_or_warn(" ".join(problems), force)
    step, max_steps = _step_of(checkpoint), int(config_dict.get("grpo", {}).get("max_steps") or -1)
    if 0 < max_steps <= step:  # transformers would train one step past max_steps (measured on 5.24)
        raise RunDirError(
            f"Checkpoint {checkpoint} is at step {step} and grpo.max_steps={max_steps}: the run is "
            "already trained that far. Raise grpo.max_steps to continue it."
        )
    run_id = identity.get("run_id") or (owner or {}).get("run_id") or new_run_id()
    run = RunDir(path, run_id, current, fields, checkpoint=str(checkpoint), checkpoint_step=step)
    return _Plan(run, [], write_run_file=owner is None)


def prepare_run_dir(
    output_dir, config_dict: dict, resume: str | None = None, overwrite: bool = False, force: bool = False, state=None
) -> RunDir:
    """`plan_run_dir`, then delete (``--overwrite``), rewind the verifier error logs (resume) and
    write ``rlvr_run.json`` and ``rlvr_config.yaml``.

    ``state`` is accelerate's ``PartialState`` (``None``: one process). The main process decides
    and changes the files alone, then sends its decision (or its refusal, raised on every process)
    to the others: processes never disagree, nor see the directory half-changed.
    """
    outcome: tuple[str, object] | None = None
    failure: Exception | None = None
    if state is None or state.is_main_process:
        try:
            outcome = ("run", _apply(plan_run_dir(output_dir, config_dict, resume, overwrite, force), config_dict))
        except Exception as err:  # sent to the other processes too, or they would wait for ever
            failure, outcome = err, ("failed", f"{type(err).__name__}: {err}")
    if state is not None and state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        outcome = broadcast_object_list([outcome], from_process=0)[0]
    kind, value = outcome
    if failure is not None:
        raise failure
    if kind == "failed":
        raise RunDirError(f"The main process could not prepare the output directory: {value}")
    return value


def _apply(plan: _Plan, config_dict: dict) -> RunDir:
    import yaml

    from curricula.audit import rewind_verifier_errors

    run = plan.run
    for old in plan.delete:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    if plan.delete:
        logger.warning(
            "Deleted %d file(s)/folder(s) of the previous run in %s: %s",
            len(plan.delete),
            run.path,
            ", ".join(p.name for p in plan.delete),
        )
    run.path.mkdir(parents=True, exist_ok=True)
    if run.resumed:
        removed = rewind_verifier_errors(run.path, run.checkpoint_step)
        if removed:
            logger.info("Verifier error logs rewound to step %d: %d record(s) removed.", run.checkpoint_step, removed)
    if plan.write_run_file:
        record = {
            "run_id": run.run_id,
            "fingerprint": run.fingerprint,
            "config": run.fingerprint_config,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (run.path / RUN_FILE).write_text(json.dumps(record, indent=1, default=str))
    (run.path / CONFIG_FILE).write_text(yaml.safe_dump(config_dict, sort_keys=False))
    return run


def _refuse_or_warn(message: str, force: bool) -> None:
    if not force:
        raise RunDirError(message + " Pass --force to resume anyway, or start a new run in another grpo.output_dir.")
    logger.warning("%s Resuming anyway (--force).", message)


def _identity_problems(
    checkpoint: Path, identity: dict, current: str, fields: dict, owner: dict | None, path: Path
) -> list[str]:
    """Why this checkpoint is not this run's (empty when it is)."""
    if not identity.get("fingerprint"):
        return [
            f"Checkpoint {checkpoint} records no run fingerprint (written by an older rlvr, or not by "
            "rlvr train), so it cannot be checked against this config."
        ]
    problems = []
    if identity["fingerprint"] != current:
        problems.append(
            f"Checkpoint {checkpoint} was written with another config (fingerprint "
            f"{identity['fingerprint']}, this config {current}: "
            f"{_config_difference(identity.get('config'), fields)})."
        )
    if owner is not None and owner.get("run_id") != identity.get("run_id"):
        problems.append(
            f"Checkpoint {checkpoint} belongs to run {identity.get('run_id')}, but {path} holds run "
            f"{owner.get('run_id')} ({RUN_FILE})."
        )
    return problems


def _config_difference(theirs: dict | None, ours: dict, limit: int = 4) -> str:
    """The first differing keys, as ``key: theirs -> ours``."""
    if not isinstance(theirs, dict):
        return "its config was not recorded"
    flat_theirs, flat_ours = _flatten(theirs), _flatten(ours)
    keys = sorted(k for k in flat_theirs.keys() | flat_ours.keys() if flat_theirs.get(k) != flat_ours.get(k))
    shown = [f"{k}: {flat_theirs.get(k, '<absent>')!r} -> {flat_ours.get(k, '<absent>')!r}" for k in keys[:limit]]
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return "; ".join(shown) + more if keys else "same fields, different values"


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = json.dumps(v, sort_keys=True, default=str) if isinstance(v, list) else v
    return out


def _find_checkpoint(path: Path, resume: str) -> Path | None:
    if resume != "auto":
        checkpoint = Path(resume)
        if not checkpoint.is_dir():
            raise RunDirError(f"--resume {resume}: no such checkpoint directory.")
        return checkpoint
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(path)) if path.is_dir() else None
    return Path(last) if last else None


def _read_run_file(path: Path) -> dict | None:
    file = path / RUN_FILE
    if not file.exists():
        return None
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise RunDirError(f"{file} is not valid JSON ({err}); delete it or pass --overwrite.") from err


def _read_checkpoint_identity(checkpoint: Path) -> dict:
    file = Path(checkpoint) / STATE_FILE
    if not file.exists():
        return {}
    state = json.loads(file.read_text())
    return {"run_id": state.get("run_id"), **state.get("run", {})}


def _step_of(checkpoint: Path) -> int:
    """The checkpoint's global step: from TRL's trainer_state.json, else from its folder name."""
    trainer_state = Path(checkpoint) / "trainer_state.json"
    if trainer_state.exists():
        return int(json.loads(trainer_state.read_text())["global_step"])
    suffix = Path(checkpoint).name.rpartition("-")[2]
    if suffix.isdigit():
        return int(suffix)
    raise RunDirError(
        f"Cannot tell the step of checkpoint {checkpoint}: no trainer_state.json and no checkpoint-N name."
    )
