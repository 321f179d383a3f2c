"""rlvr's part of a checkpoint: what a resumed run needs beyond transformers' own files.

Written into every ``checkpoint-N`` folder by `rlvr.trainer.CurriculumGRPOTrainer` before
transformers writes ``trainer_state.json``, so a checkpoint that looks complete has it too:

- `STATE_FILE` (JSON): the run id and identity (config fingerprint, read by `rlvr.run_dir` before
  a resume), the controller's counters (generated tokens survive a resume even with filters
  off), the audit log's position, and the state of any other online filter the trainer was
  given (by name);
- `FRONTIER_FILE` (``np.savez``): the frontier filter's arrays, ~32 bytes per prompt (a checkpoint
  written before it keeps that state as JSON, under ``"frontier"`` in `STATE_FILE`: still read);
- `PREDICTOR_FILE` (``np.savez``): the predictive frontier's arrays, ~25 bytes per prompt.

`CALIBRATION_FILE` is not a checkpoint file: the trainer rewrites it in the output directory at
each log, and `rlvr audit --plot` draws the predictor's reliability plot from it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from curricula.controller import CurriculumController
from curricula.frontier import FrontierFilter

STATE_FILE = "rlvr_curriculum_state.json"
PREDICTOR_FILE = "rlvr_predictor_state.npz"
FRONTIER_FILE = "rlvr_frontier_state.npz"
CALIBRATION_FILE = "predictor_calibration.npz"


def save_curriculum_state(
    folder: str | os.PathLike,
    controller: CurriculumController,
    run_id: str,
    run_identity: dict | None = None,
    audit_position: dict | None = None,
) -> None:
    """Write the controller's counters and filter state (and the audit position) into ``folder``."""
    state = {"run_id": run_id, **controller.state_dict()}
    if run_identity is not None:
        state["run"] = run_identity
    if audit_position is not None:  # any run with an audit log (filters or the influence check)
        state["audit"] = audit_position
    if controller.extra:
        state["filters"] = {f.name: f.state_dict() for f in controller.extra}
    # Binary arrays, not JSON; written before STATE_FILE, so a checkpoint that has it has them too.
    if controller.frontier is not None:
        np.savez(os.path.join(folder, FRONTIER_FILE), **controller.frontier.state_dict())
    if controller.predictive is not None:
        np.savez(os.path.join(folder, PREDICTOR_FILE), **controller.predictive.state_dict())
    with open(os.path.join(folder, STATE_FILE), "w") as f:
        json.dump(state, f)


def load_curriculum_state(checkpoint: str | os.PathLike, controller: CurriculumController) -> dict:
    """Restore the controller's counters and filter state from ``checkpoint``; returns the saved
    state (``run_id``, ``audit`` position). A checkpoint without the filter state its filters
    need (one written by another kind of run) is a `FileNotFoundError` that says so."""
    path = os.path.join(checkpoint, STATE_FILE)
    state = json.loads(Path(path).read_text()) if os.path.exists(path) else {}
    controller.load_state_dict(state)
    if controller.frontier is not None:
        load_frontier_state(checkpoint, state, controller.frontier)
    for extra in controller.extra:
        if extra.name not in state.get("filters", {}):
            raise FileNotFoundError(
                f"{path} holds no state for the online filter {extra.name!r}: this checkpoint was "
                "written without it, so its state cannot be restored."
            )
        extra.load_state_dict(state["filters"][extra.name])
    if controller.predictive is not None:
        arrays = os.path.join(checkpoint, PREDICTOR_FILE)
        if not os.path.exists(arrays):
            raise FileNotFoundError(
                f"{arrays} is missing: this checkpoint was not written with "
                "curricula.predictor on, so the predictor's state cannot be restored."
            )
        with np.load(arrays) as saved:
            controller.predictive.load_state_dict({k: saved[k] for k in saved.files})
    return state


def load_frontier_state(checkpoint: str | os.PathLike, state: dict, frontier: FrontierFilter) -> None:
    """The frontier filter's arrays from `FRONTIER_FILE`, or an older checkpoint's JSON state."""
    arrays = os.path.join(checkpoint, FRONTIER_FILE)
    if os.path.exists(arrays):
        with np.load(arrays) as saved:
            frontier.load_state_dict({k: saved[k] for k in saved.files})
    elif "frontier" in state:  # written before the arrays: the JSON table
        frontier.load_state_dict(state["frontier"])
    else:
        raise FileNotFoundError(
            f"{arrays} is missing (and {os.path.join(checkpoint, STATE_FILE)} holds no frontier state): "
            "this checkpoint was not written by a run with curricula.frontier on, so the frontier "
            "filter's state cannot be restored."
        )


def save_calibration(output_dir: str | os.PathLike, controller: CurriculumController) -> None:
    """The predictor's running calibration, for `rlvr audit --plot` (nothing without a predictor)."""
    if controller.predictive is not None:
        np.savez(os.path.join(output_dir, CALIBRATION_FILE), **controller.predictive.predictor.calibration.state_dict())
