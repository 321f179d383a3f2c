"""Gradient features on disk: memory-mapped fp16 arrays plus the metadata that makes them comparable.

A store is a directory::

    meta.json      what the features are (model fingerprint, projection, dims, checkpoint,
                   normalisation) and how far extraction got (``rows_done``)
    rows.jsonl     id and skill of every row, in store order
    features.f16   [rows, dim] float16, each row L2-normalised (unit rows keep fp16 precise;
                   raw gradients would underflow it)
    norms.f32      [rows] float32, each row's L2 norm before normalisation
    losses.f32     [rows] float32, each row's mean response NLL

Rows are extracted in shards of the input order; after each shard the arrays are flushed and
then ``rows_done`` advances, so a killed extraction resumes at the first unfinished shard.
Only one shard's features are ever in memory, and the arrays are mapped one slice at a time,
so memory stays flat whatever the dataset size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "rlvr.influence.features/1"  # a stored format id, not a module path: kept so existing stores load
FEATURES, NORMS, LOSSES, META, ROWS = "features.f16", "norms.f32", "losses.f32", "meta.json", "rows.jsonl"
# Metadata that must match for a resumed extraction (or a comparison) to be valid.
IDENTITY_KEYS = (
    "format",
    "rows",
    "dim",
    "fingerprint",
    "projection",
    "checkpoint",
    "kind",
    "normalisation",
    "ids_hash",
)


class StoreMismatch(ValueError):
    """An existing store holds features of something else (another model, seed, dims...)."""


def ids_hash(ids: Sequence[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()[:16]


def l2_normalise(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit rows and their norms; a zero row stays zero (its cosine with anything is 0)."""
    norms = features.norm(dim=1)
    return features / norms.clamp(min=torch.finfo(features.dtype).tiny).unsqueeze(1), norms


class FeatureStore:
    """One set of features (one model checkpoint, one dataset) on disk."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        meta_path = self.path / META
        if not meta_path.exists():
            raise FileNotFoundError(f"No feature store at {self.path} ({META} missing).")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != FORMAT:
            raise StoreMismatch(f"{self.path} has format {self.meta.get('format')!r}, expected {FORMAT!r}.")

    # -- creation ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, rows: list[dict], dim: int, meta: dict[str, Any]) -> FeatureStore:
        """Allocate a store for ``rows`` (each with ``id``, optionally ``skill``) of ``dim`` features."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        ids = [str(r["id"]) for r in rows]
        full = {
            "format": FORMAT,
            "rows": len(rows),
            "dim": int(dim),
            "normalisation": "l2",
            "dtype": "float16",
            "ids_hash": ids_hash(ids),
            "rows_done": 0,
            **meta,
        }
        with open(path / ROWS, "w") as f:
            for row in rows:
                f.write(json.dumps({"id": str(row["id"]), "skill": row.get("skill")}) + "\n")
        for name, dtype, shape in (
            (FEATURES, np.float16, (len(rows), dim)),
            (NORMS, np.float32, (len(rows),)),
            (LOSSES, np.float32, (len(rows),)),
        ):
            with open(path / name, "wb") as f:
                f.truncate(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        _write_json(path / META, full)
        return cls(path)

    @classmethod
    def open_or_create(
        cls, path: str | os.PathLike, rows: list[dict], dim: int, meta: dict[str, Any], overwrite: bool = False
    ) -> FeatureStore:
        """Resume a store of the same features, or create one; refuse to mix different features."""
        path = Path(path)
        if (path / META).exists() and not overwrite:
            store = cls(path)
            expected = {
                "format": FORMAT,
                "rows": len(rows),
                "dim": int(dim),
                "normalisation": "l2",
                "ids_hash": ids_hash([str(r["id"]) for r in rows]),
                **meta,
            }
            differ = [k for k in IDENTITY_KEYS if k in expected and store.meta.get(k) != expected[k]]
            if differ:
                detail = "; ".join(f"{k}: stored {store.meta.get(k)!r}, now {expected[k]!r}" for k in differ)
                raise StoreMismatch(f"{path} holds other features ({detail}). Use another directory or overwrite.")
            return store
        return cls.create(path, rows, dim, meta)

    # -- properties ----------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return int(self.meta["rows"])

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def rows_done(self) -> int:
        return int(self.meta["rows_done"])

    @property
    def complete(self) -> bool:
        return self.rows_done >= self.rows

    def row_info(self) -> list[dict]:
        with open(self.path / ROWS) as f:
            return [json.loads(line) for line in f]

    def bytes_per_row(self) -> int:
        return self.dim * 2 + 4 + 4

    # -- writing -------------------------------------------------------------------------------
    def write(self, start: int, features: torch.Tensor, losses: torch.Tensor) -> None:
        """Write raw (unnormalised) features of rows ``start ..`` and flush them to disk."""
        unit, norms = l2_normalise(features.float().cpu())
        stop = start + unit.shape[0]
        self._slice(FEATURES, np.float16, start, stop, "r+")[:] = unit.numpy().astype(np.float16)
        self._slice(NORMS, np.float32, start, stop, "r+")[:] = norms.numpy()
        self._slice(LOSSES, np.float32, start, stop, "r+")[:] = losses.float().cpu().numpy()

    def mark_done(self, rows_done: int) -> None:
        """Record progress; called only after the rows before ``rows_done`` are on disk."""
        self.meta["rows_done"] = int(rows_done)
        _write_json(self.path / META, self.meta)

    # -- reading -------------------------------------------------------------------------------
    def _slice(self, name: str, dtype, start: int, stop: int, mode: str = "r") -> np.memmap:
        width = self.dim if name == FEATURES else 1
        shape = (stop - start, self.dim) if name == FEATURES else (stop - start,)
        offset = start * width * np.dtype(dtype).itemsize
        return np.memmap(self.path / name, dtype=dtype, mode=mode, offset=offset, shape=shape)

    def features(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Unit-norm features of rows ``start:stop`` as float32 (a copy; the map is released)."""
        stop = self.rows if stop is None else stop
        self._check_done(stop)
        return torch.from_numpy(np.array(self._slice(FEATURES, np.float16, start, stop), dtype=np.float32))

    def norms(self) -> torch.Tensor:
        self._check_done(self.rows)
        return torch.from_numpy(np.array(self._slice(NORMS, np.float32, 0, self.rows)))

    def losses(self) -> torch.Tensor:
        self._check_done(self.rows)
        return torch.from_numpy(np.array(self._slice(LOSSES, np.float32, 0, self.rows)))

    def iter_chunks(self, chunk_rows: int = 4096) -> Iterator[tuple[int, torch.Tensor]]:
        """``(start, features)`` chunk by chunk: bounded memory for any number of rows."""
        for start in range(0, self.rows, chunk_rows):
            yield start, self.features(start, min(start + chunk_rows, self.rows))

    def _check_done(self, stop: int) -> None:
        if stop > self.rows_done:
            raise RuntimeError(
                f"{self.path}: rows up to {stop} requested but only {self.rows_done} of {self.rows} "
                "are extracted; run the extraction again to resume it."
            )


def _write_json(path: Path, data: dict) -> None:
    """Write-then-rename, so a kill never leaves half a metadata file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def extract_to_store(
    path: str | os.PathLike,
    rows: Sequence[dict],
    dim: int,
    meta: dict[str, Any],
    compute: Callable[[list[dict]], tuple[torch.Tensor, torch.Tensor]],
    shard_rows: int = 512,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureStore:
    """Fill a store shard by shard, resuming where a previous run stopped.

    Args:
        rows: The rows (a list or a `datasets.Dataset`; only one shard is materialised at a time).
        meta: Identity of the features (fingerprint, projection, checkpoint, kind...).
        compute: ``rows -> (features [n, dim], losses [n])`` for one shard.
        shard_rows: Rows per shard: the unit of progress and of memory.
    """
    info = [{"id": r["id"], "skill": r.get("skill")} for r in _iter_id_skill(rows)]
    store = FeatureStore.open_or_create(path, info, dim, meta, overwrite=overwrite)
    for start in range(store.rows_done, len(info), shard_rows):
        stop = min(start + shard_rows, len(info))
        shard = [rows[i] for i in range(start, stop)]
        features, losses = compute(shard)
        if features.shape != (stop - start, store.dim):
            raise RuntimeError(
                f"compute returned features of shape {tuple(features.shape)}, expected {(stop - start, store.dim)}."
            )
        store.write(start, features, losses)
        store.mark_done(stop)
        if progress is not None:
            progress(stop, len(info))
    return store


def _iter_id_skill(rows) -> Iterator[dict]:
    if hasattr(rows, "select_columns"):  # a datasets.Dataset: read two columns, not the whole rows
        columns = [c for c in ("id", "skill") if c in rows.column_names]
        yield from rows.select_columns(columns)
    else:
        yield from rows
