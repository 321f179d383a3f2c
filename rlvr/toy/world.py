"""Load the shipped toy world (or build one into the cache): model, tokenizer and pass rates."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import datasets
import torch

from .evaluate import DEFAULT_MAX_NEW_TOKENS, PassRates, measure_pass_rates
from .model import MODEL_KWARGS, build_model
from .shipped import MANIFEST_FILE, SHIPPED_DIR, RecipeMismatchError, ToyWorldError, cpu_name, verify_world
from .tasks import EVAL_PERCENT, make_examples
from .tokenizer import CHARS, SPECIAL_TOKENS, build_tokenizer
from .training import warmup
from .variants import DEFAULT_WORLD, get_world

# Bump when code changes what gets built in a way the fingerprint below does not see.
RECIPE_VERSION = 1
# How pass_rates.json is measured: held-out eval prompts, GRPO-style sampling.
EVAL_SETTINGS = {
    "split": "eval",
    "n_per_skill": 128,
    "samples_per_prompt": 8,
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "max_new_tokens": DEFAULT_MAX_NEW_TOKENS,
    "examples_seed": 1,
    "sampling_seed": 0,
}
PASS_RATES_FILE = "pass_rates.json"
WORLD_FILE = "toy_world.json"
_REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", PASS_RATES_FILE, WORLD_FILE)


def toy_dataset(
    split: str = "train", n_per_skill: int = 64, seed: int = 0, skills=None, world: str | None = None
) -> datasets.Dataset:
    """Examples of every skill of ``world`` (default: the default world; or of ``skills``),
    grouped by skill in the world's order.

    Columns: id, prompt, answer, skill. ``n_per_skill`` is capped by small prompt spaces (add1).
    """
    skills = get_world(world).skills if skills is None else skills
    rows = [ex for s in skills for ex in make_examples(s, n_per_skill, split, seed)]
    columns = {k: [r[k] for r in rows] for k in ("id", "prompt", "answer", "skill")}
    return datasets.Dataset.from_dict(columns)


def recipe_fingerprint(seed: int = 0, world: str | None = None) -> dict:
    """Everything that determines the built world (the cache folder is named by its hash).

    The default world's fingerprint has no ``world`` key: it is the one it was shipped with."""
    variant = get_world(world)
    named = {} if variant.name == DEFAULT_WORLD else {"world": variant.name}
    return {
        **named,
        "version": RECIPE_VERSION,
        "seed": seed,
        "warmup": variant.warmup,
        "model": MODEL_KWARGS,
        "vocab": list(SPECIAL_TOKENS) + list(CHARS),
        "skills": list(variant.skills),
        "eval_percent": EVAL_PERCENT,
        "eval": EVAL_SETTINGS,
        # A few generated examples, so that a change to a task generator invalidates the cache.
        "samples": {
            s: [ex["prompt"] + ex["answer"] for split in ("train", "eval") for ex in make_examples(s, 3, split, seed=0)]
            for s in variant.skills
        },
    }


def recipe_hash(seed: int = 0, world: str | None = None) -> str:
    blob = json.dumps(recipe_fingerprint(seed, world), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def default_cache_dir() -> Path:
    """``$RLVR_CACHE`` if set, else ``~/.cache/rlvr``."""
    env = os.environ.get("RLVR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rlvr"


def toy_world_dir(cache_dir: str | os.PathLike | None = None, seed: int = 0, world: str | None = None) -> Path:
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    name = get_world(world).name
    prefix = "toy-world" if name == DEFAULT_WORLD else f"toy-world-{name}"
    return root / f"{prefix}-seed{seed}-{recipe_hash(seed, world)}"


def is_built(path: str | os.PathLike) -> bool:
    path = Path(path)
    return all((path / name).is_file() for name in _REQUIRED)


def load_pass_rates(path: str | os.PathLike) -> PassRates:
    """The pass rates stored in a world directory (or in a pass_rates.json file)."""
    path = Path(path)
    data = json.loads((path / PASS_RATES_FILE if path.is_dir() else path).read_text())
    return PassRates(data["pass_rates"], data["n_prompts"], data["samples_per_prompt"])


def eval_examples(world: str | None = None) -> list[dict]:
    """The held-out prompts pass_rates.json is measured on."""
    e = EVAL_SETTINGS
    return [
        ex for s in get_world(world).skills for ex in make_examples(s, e["n_per_skill"], e["split"], e["examples_seed"])
    ]


def measure_world(model, tokenizer, world: str | None = None) -> PassRates:
    """Pass rates with the settings of pass_rates.json."""
    e = EVAL_SETTINGS
    return measure_pass_rates(
        model, tokenizer, eval_examples(world),
        samples_per_prompt=e["samples_per_prompt"], temperature=e["temperature"],
        max_new_tokens=e["max_new_tokens"], seed=e["sampling_seed"],
    )  # fmt: skip


def _build_into(out: Path, seed: int, progress: bool, world: str | None = None) -> None:
    variant = get_world(world)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed=seed)
    n_params = sum(p.numel() for p in model.parameters())
    if progress:
        print(f"Building the {variant.name} toy world in {out.parent} ({n_params:,} parameters, seed {seed})")
    log = warmup(model, tokenizer, recipe=variant.warmup, seed=seed, progress=progress)
    rates = measure_world(model, tokenizer, world)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / WORLD_FILE).write_text(json.dumps({
        "recipe_hash": recipe_hash(seed, world),
        "recipe": recipe_fingerprint(seed, world),
        "n_params": n_params,
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "warmup": log,
    }, indent=1))  # fmt: skip
    (out / PASS_RATES_FILE).write_text(json.dumps({
        "pass_rates": dict(rates),
        "n_prompts": rates.n_prompts,
        "samples_per_prompt": rates.samples_per_prompt,
        "settings": EVAL_SETTINGS,
        "recipe_hash": recipe_hash(seed, world),
    }, indent=1))  # fmt: skip


SOURCES = ("auto", "shipped", "built")
SOURCE_ENV = "RLVR_TOY_WORLD"


def toy_world_source(source: str | None = None) -> str:
    """``source``, else ``$RLVR_TOY_WORLD``, else ``"auto"``; checked against ``SOURCES``."""
    value = source or os.environ.get(SOURCE_ENV) or "auto"
    if value not in SOURCES:
        where = f"source={source!r}" if source else f"{SOURCE_ENV}={value!r}"
        raise ToyWorldError(f"{where}: the toy world source must be one of {', '.join(SOURCES)}")
    return value


def shipped_dir(world: str | None = None) -> Path:
    """Where ``world`` ships in the package (the default world: ``SHIPPED_DIR``)."""
    variant = get_world(world)
    return SHIPPED_DIR if variant.name == DEFAULT_WORLD else variant.shipped_dir


def shipped_seed(world: str | None = None) -> int | None:
    """The seed of the world shipped with the package (None: the package ships none)."""
    try:
        return json.loads((shipped_dir(world) / MANIFEST_FILE).read_text()).get("seed")
    except (OSError, ValueError):
        return None


def shipped_toy_world(seed: int = 0, world: str | None = None) -> Path:
    """The shipped world's folder, after checking every file's SHA-256 and the recipe hash."""
    folder = shipped_dir(world)
    if shipped_seed(world) is None:
        raise ToyWorldError(f"{folder / MANIFEST_FILE}: no shipped toy world in this install")
    verify_world(folder, recipe_hash(seed, world), seed)
    return folder


def build_toy_world(
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    force: bool = False,
    progress: bool = True,
    source: str | None = None,
    world: str | None = None,
) -> Path:
    """The directory of the warmed-up toy world: the shipped one, or one built into the cache.

    The directory holds the model and tokenizer (load both with ``Auto*.from_pretrained``),
    ``pass_rates.json`` and ``toy_world.json`` (recipe and warm-up log).

    ``source`` (default ``$RLVR_TOY_WORLD``, else ``"auto"``):
      - ``"auto"``: the world shipped with the package (``rlvr/toy/shipped_world/``, verified against
        its manifest) when it was built for this seed from the current recipe. For another seed,
        or with a warning when the code's recipe changed since it was shipped, a world built into
        the cache. A shipped file whose hash does not match is an error, never a silent rebuild.
      - ``"shipped"``: the shipped world or a ``ToyWorldError`` (another seed or recipe).
      - ``"built"``: built from the recipe on this machine into ``cache_dir`` on first use, then
        cached. Builds differ across CPUs, so figures from them hold on this machine only.
    ``force`` rebuilds into the cache even if cached (``rlvr toy --rebuild``).
    ``world`` names the variant (`rlvr.toy.variants.WORLDS`; None: the default world).
    """
    source = toy_world_source(source)
    if not force and source != "built":
        if source == "shipped" or shipped_seed(world) == seed:
            try:
                return shipped_toy_world(seed, world)
            except RecipeMismatchError as err:
                if source == "shipped":
                    raise
                warnings.warn(f"{err}. Using a world built on this machine instead.", RuntimeWarning, stacklevel=2)
    return _build_cached(cache_dir, seed, force, progress, world)


def _build_cached(cache_dir, seed: int, force: bool, progress: bool, world: str | None = None) -> Path:
    """Build into the cache unless already there. The build is written to a temporary directory
    and moved into place with one ``os.replace``, so an interrupted build never leaves a directory
    that looks complete."""
    path = toy_world_dir(cache_dir, seed, world)
    if not force and is_built(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private
        _build_into(tmp, seed, progress, world)
        if path.exists():  # force, or a half-built leftover: set it aside first
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, old / "world")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, path)
        except OSError:
            if not is_built(path):  # not a concurrent builder that won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        print(f"Toy world saved to {path}")
    return path
