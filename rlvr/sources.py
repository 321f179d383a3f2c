"""Named data sources and models: what a config's ``data.train``, ``--pool`` or
``model.model_name_or_path`` may name besides a file, a folder or a Hub name.

A data source is a function ``(split, n_per_skill, seed, skills) -> rows`` (dicts with ``id``,
``prompt``, ``answer``, ``skill``); a spec names it alone (``toy``: the train split, or what the
caller asks for) or with a split (``toy:eval``). A model is a function ``(seed) -> folder``.
Both are `rewards.registries.Registry` entries, lazy so that naming one imports nothing:

    DATA_SOURCES.register("my_world", lazy="my_package.world:rows")
    MODELS.register("my_world", lazy="my_package.world:model_folder")

The toy world (`rlvr.toy.source`) is the one registered here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rewards.registries import Registry

DATA_SOURCES: Registry[Callable[..., list[dict]]] = Registry(
    "data source", hint="A data spec can also be a local .jsonl/.json/.parquet/.csv file, a folder or a Hub dataset."
)
MODELS: Registry[Callable[..., str]] = Registry("model", hint="A model can also be a folder or a Hub name.")

DATA_SOURCES.register("toy", lazy="rlvr.toy.source:toy_rows")
MODELS.register("toy", lazy="rlvr.toy.source:toy_model_path")

SPLITS = ("train", "eval")


def data_source(spec: str) -> tuple[str, str | None] | None:
    """``(name, split)`` when ``spec`` names a registered data source (``"toy"`` -> ``("toy", None)``,
    ``"toy:eval"`` -> ``("toy", "eval")``); `None` for anything else (a file, a Hub dataset)."""
    if not isinstance(spec, str):
        return None
    name, colon, split = spec.partition(":")
    if name not in DATA_SOURCES or (colon and split not in SPLITS):
        return None
    return name, (split or None)


def source_rows(
    spec: str,
    split: str = "train",
    n_per_skill: int = 64,
    seed: int = 0,
    skills: Sequence[str] | None = None,
    **options,
) -> list[dict]:
    """The rows of the data source ``spec`` names; a split in the spec wins over ``split``.
    ``options`` go to the source's function as they are (the toy world's ``world``, say); a
    ``None`` option is left out, so sources without it keep working."""
    name, spec_split = data_source(spec) or (spec, None)
    extra = {k: v for k, v in options.items() if v is not None}
    return DATA_SOURCES.get(name)(split=spec_split or split, n_per_skill=n_per_skill, seed=seed, skills=skills, **extra)


def resolve_model(spec: str, seed: int = 0, **options) -> str:
    """The folder of a registered model (built or fetched by its function, with ``options`` that
    are not ``None``), else ``spec`` unchanged."""
    if isinstance(spec, str) and spec in MODELS:
        return MODELS.get(spec)(seed=seed, **{k: v for k, v in options.items() if v is not None})
    return spec
