"""The toy world shipped with the package, and the manifest that verifies it.

Builds of the same recipe differ across CPUs (floating-point differences move where the capped
warm-up stops), so the package ships one built world (``rlvr/toy/shipped_world/``) and loads it by
default: every machine then measures on the same weights. ``manifest.json`` in that folder names
the recipe hash the world was built from and the SHA-256 of every file, so a truncated or edited
file, or code whose recipe no longer matches the weights, is caught before anything is measured.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from pathlib import Path

from rewards.base import UserInputError

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped_world"
MANIFEST_FILE = "manifest.json"
# The files a world folder holds (model, tokenizer, pass rates, build record); all are shipped.
WORLD_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "pass_rates.json",
    "toy_world.json",
)


class ToyWorldError(UserInputError):
    """A shipped toy world that fails its manifest check (the `rlvr` commands print it in one line)."""


class RecipeMismatchError(ToyWorldError):
    """An intact world built from another recipe (or seed) than the current code's."""


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cpu_name() -> str:
    """The CPU model (builds differ across CPUs, so each build records it)."""
    try:  # platform.processor() is often empty or just "x86_64" on Linux
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_manifest(folder: str | os.PathLike, recipe_hash: str, seed: int) -> dict:
    """Write ``manifest.json`` for the world in ``folder`` (every file of ``WORLD_FILES``)."""
    folder = Path(folder)
    built = json.loads((folder / "toy_world.json").read_text())
    if built.get("recipe_hash") != recipe_hash:
        raise ToyWorldError(
            f"{folder / 'toy_world.json'}: built from recipe {built.get('recipe_hash')!r}, "
            f"not the current recipe {recipe_hash!r}; rebuild it first (rlvr toy --rebuild)"
        )
    manifest = {
        "recipe_hash": recipe_hash,
        "seed": seed,
        "files": {name: file_sha256(folder / name) for name in WORLD_FILES},
        "built_at": built.get("built_at"),
        "torch": built.get("torch"),
        "built_on_cpu": built.get("cpu"),  # recorded by builds since the world was first shipped
        "shipped_on_cpu": cpu_name(),
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def verify_world(folder: str | os.PathLike, recipe_hash: str, seed: int) -> dict:
    """The manifest of ``folder`` after checking every file's hash and the recipe hash.

    Raises ``ToyWorldError`` naming the file and both hashes on a missing or changed file, and
    naming both recipe hashes when the world was built from another recipe than the code's.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError) as err:
        raise ToyWorldError(f"{manifest_path}: unreadable toy-world manifest ({err})") from err
    missing = [name for name in WORLD_FILES if name not in files]
    if missing:
        raise ToyWorldError(f"{manifest_path}: no hash for {', '.join(missing)}")
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise ToyWorldError(f"{path}: missing (listed in {manifest_path})")
        actual = file_sha256(path)
        if actual != expected:
            raise ToyWorldError(
                f"{path}: SHA-256 {actual} does not match {expected} in {manifest_path}; the file "
                "is corrupt or was edited (reinstall the package, or build your own world with "
                "`rlvr toy --rebuild` and RLVR_TOY_WORLD=built)"
            )
    if manifest.get("seed") != seed or manifest.get("recipe_hash") != recipe_hash:
        raise RecipeMismatchError(
            f"{manifest_path}: the shipped world was built from recipe {manifest.get('recipe_hash')} "
            f"(seed {manifest.get('seed')}), but the current code's recipe is {recipe_hash} "
            f"(seed {seed}); run `rlvr toy --rebuild` to build the current recipe into the cache, "
            "and `python -m rlvr.toy --ship` to replace the shipped world with it"
        )
    return manifest


def ship_world(built: str | os.PathLike, recipe_hash: str, seed: int, dest: str | os.PathLike = SHIPPED_DIR) -> Path:
    """Copy the built world in ``built`` to ``dest`` (the package folder) with a fresh manifest."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORLD_FILES:
        shutil.copyfile(Path(built) / name, dest / name)  # copyfile: no private mode bits from the cache
    write_manifest(dest, recipe_hash, seed)
    verify_world(dest, recipe_hash, seed)
    return dest
