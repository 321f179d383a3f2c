"""`rlvr audit RUN --html report.html`: one self-contained page to browse a run's audit log offline.

The page (template: ``rlvr/audit_page.html``) holds no links to anything: its script and styles
are inline, and the data is one gzip-compressed binary blob (base64) that the browser inflates
with its built-in ``DecompressionStream``. The blob holds every decision as typed arrays grouped
by prompt (step, filter, decision, reason, pass rate, predicted pass rate: 11 bytes before
compression), the prompt ids, and the messages of every decision except the formulaic, frequent
``kept`` and ``skipped`` ones (their numbers are in the arrays). The prompt table is virtualised:
only the rows on screen exist in the page, so a 100k-prompt run scrolls, sorts and searches
like a small one.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rlvr.audit_query import Selection, resolve, scan

PAGE_TEMPLATE = Path(__file__).with_name("audit_page.html")
EVENT_COLUMNS = [
    "prompt_id",
    "skill",
    "global_step",
    "filter",
    "decision",
    "reason",
    "message",
    "pass_rate",
    "predicted_pass_rate",
    "active_pool",
]
NO_RATE = 65535  # a pass rate is stored as round(rate * 10000) in a uint16; this means "none"
TERSE_DECISIONS = ("kept", "skipped")  # messages left out of the page (see the module docstring)


class _Codes:
    """Strings to small integer codes, in order of first appearance."""

    def __init__(self):
        self.index: dict[str, int] = {}

    def encode(self, values: pa.Array) -> np.ndarray:
        """Codes of an Arrow string array (nulls as ``-``)."""
        values = pc.fill_null(values, "-")
        uniques = pc.unique(values).to_pylist()
        for value in uniques:
            self.index.setdefault(value, len(self.index))
        lookup = pa.array([self.index[v] for v in uniques], pa.int32())
        return pc.take(lookup, pc.index_in(values, value_set=pa.array(uniques, pa.string()))).to_numpy()

    def names(self) -> list[str]:
        return list(self.index)


def _rates(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    rates = pc.fill_null(pc.round(pc.multiply(pc.cast(values, pa.float64()), 10000.0)), float(NO_RATE))
    return np.clip(rates.to_numpy(zero_copy_only=False), 0, NO_RATE).astype(np.uint16)


def collect(path: Path, run_id: str | None) -> dict:
    """Stream the run's records into event arrays, code books and per-step series."""
    codes = {name: _Codes() for name in ("prompt", "skill", "filter", "decision", "reason")}
    parts: dict[str, list] = {
        k: [] for k in ("prompt", "skill", "step", "filter", "decision", "reason", "pass", "pred")
    }
    messages: list[tuple[int, str]] = []  # (event number, message) for events that keep theirs
    pool: dict[int, float] = {}
    seen = 0
    for table in scan(path, Selection(run_id=run_id), columns=EVENT_COLUMNS):
        for name in ("prompt", "skill", "filter", "decision", "reason"):
            parts[name].append(codes[name].encode(table.column("prompt_id" if name == "prompt" else name)))
        parts["step"].append(table.column("global_step").to_numpy().astype(np.int32))
        parts["pass"].append(_rates(table.column("pass_rate")))
        parts["pred"].append(_rates(table.column("predicted_pass_rate")))
        wordy = pc.invert(pc.is_in(table.column("decision"), pa.array(TERSE_DECISIONS)))
        positions = np.flatnonzero(wordy.to_numpy(zero_copy_only=False))
        texts = table.column("message").take(pa.array(positions)).to_pylist() if len(positions) else []
        messages.extend((seen + int(p), (t or "").replace("\n", " ")) for p, t in zip(positions, texts))
        frontier = table.filter(
            pc.and_(pc.equal(table.column("filter"), "frontier"), pc.is_valid(table.column("active_pool")))
        )
        last = frontier.group_by("global_step", use_threads=False).aggregate([("active_pool", "last")])
        pool.update(zip(last.column("global_step").to_pylist(), last.column("active_pool_last").to_pylist()))
        seen += table.num_rows
    arrays = {k: (np.concatenate(v) if v else np.zeros(0, np.int32)) for k, v in parts.items()}
    return {"codes": codes, "arrays": arrays, "messages": messages, "pool": pool, "events": seen}


def _layout(collected: dict) -> tuple[bytes, dict]:
    """The blob (events grouped by prompt, in record order within a prompt) and its table of contents."""
    arrays, codes = collected["arrays"], collected["codes"]
    n_prompts = len(codes["prompt"].index)
    order = np.argsort(arrays["prompt"], kind="stable")
    offsets = np.zeros(n_prompts + 1, np.int32)
    np.cumsum(np.bincount(arrays["prompt"], minlength=n_prompts), out=offsets[1:])
    skill_of = np.full(n_prompts, -1, np.int32)
    skill_of[arrays["prompt"]] = arrays["skill"]  # the prompt's last skill (later events overwrite)
    where = np.empty(len(order), np.int32)
    where[order] = np.arange(len(order), dtype=np.int32)  # event number -> its place in the blob
    messages = sorted((int(where[event]), text) for event, text in collected["messages"])
    chunks = {
        "prompt_offsets": offsets,
        "prompt_skill": skill_of,
        "step": arrays["step"][order].astype(np.int32),
        "message_event": np.array([e for e, _ in messages], np.int32),
        "pass": arrays["pass"][order],
        "pred": arrays["pred"][order],
        "reason": arrays["reason"][order].astype(np.uint16),
        "filter": arrays["filter"][order].astype(np.uint8),
        "decision": arrays["decision"][order].astype(np.uint8),
        "prompt_ids": "\n".join(p.replace("\n", " ") for p in codes["prompt"].names()).encode(),
        "messages": "\n".join(t for _, t in messages).encode(),
    }
    blob, toc = bytearray(), {}
    for name, chunk in chunks.items():
        blob.extend(b"\0" * (-len(blob) % 4))  # typed arrays need aligned offsets
        data = chunk if isinstance(chunk, bytes) else chunk.astype(chunk.dtype.newbyteorder("<")).tobytes()
        toc[name] = [len(blob), len(data)]
        blob.extend(data)
    return bytes(blob), toc


def page_data(path: Path, run_id: str | None) -> tuple[dict, bytes]:
    """The page's metadata (JSON) and its binary blob."""
    collected = collect(path, run_id)
    blob, toc = _layout(collected)
    arrays, codes = collected["arrays"], collected["codes"]
    decisions = codes["decision"].names()
    dropped = decisions.index("dropped") if "dropped" in decisions else -1
    drops = Counter(arrays["step"][arrays["decision"] == dropped].tolist())
    steps = sorted(set(collected["pool"]) | set(drops))
    meta = {
        "run_id": run_id,
        "events": collected["events"],
        "prompts": len(codes["prompt"].index),
        "skills": codes["skill"].names(),
        "filters": codes["filter"].names(),
        "decisions": decisions,
        "reasons": codes["reason"].names(),
        "toc": toc,
        "no_rate": NO_RATE,
        "series": {
            "step": steps,
            "pool": [collected["pool"].get(s) for s in steps],
            "drops": [drops.get(s, 0) for s in steps],
        },
        "has_predictions": bool((arrays["pred"] != NO_RATE).any()) if len(arrays["pred"]) else False,
    }
    return meta, blob


def render_page(meta: dict, blob: bytes) -> str:
    """The page: the template with the metadata and the compressed blob inlined."""
    packed = base64.b64encode(gzip.compress(blob, compresslevel=9, mtime=0)).decode()
    # "<" only occurs inside JSON strings, where \u003c means the same: the text cannot close the
    # script element or open a comment in it, whatever reasons or skills a log holds.
    text = json.dumps(meta, separators=(",", ":")).replace("<", "\\u003c")
    page = PAGE_TEMPLATE.read_text(encoding="utf-8")
    return page.replace("/*AUDIT_META*/null", text).replace("AUDIT_BLOB", packed)


def write_html(path: str | Path, out: str | Path, run_id: str | None = "latest") -> Path:
    """Write the page for ``run_id`` (``"latest"``, an id, or ``None`` for all runs) to ``out``."""
    selection = resolve(Path(path), Selection(run_id=run_id))
    meta, blob = page_data(Path(path), selection.run_id)
    out = Path(out)
    out.write_text(render_page(meta, blob), encoding="utf-8")
    return out
