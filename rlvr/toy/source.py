"""The toy world as a registered data source and model (`rlvr.sources`): ``data.train: toy``,
``--pool toy:train`` and ``model_name_or_path: toy`` resolve here."""

from __future__ import annotations

from collections.abc import Sequence


def toy_rows(
    split: str = "train",
    n_per_skill: int = 64,
    seed: int = 0,
    skills: Sequence[str] | None = None,
    world: str | None = None,
) -> list[dict]:
    """Rows (``id``, ``prompt``, ``answer``, ``skill``) of every skill of toy world ``world``
    (`rlvr.toy.variants`; default: the default world) or of ``skills``, skill by skill in the
    world's order; an unknown skill is a `ValueError`."""
    from rlvr.toy import make_examples
    from rlvr.toy.variants import get_world

    chosen = get_world(world).skills if skills is None else skills
    return [row for skill in chosen for row in make_examples(skill, n_per_skill, split, seed)]


def toy_model_path(seed: int = 0, world: str | None = None) -> str:
    """The folder of the warmed-up toy world ``world`` (the shipped one, or built once into the cache)."""
    from rlvr.toy import build_toy_world

    return str(build_toy_world(seed=seed, world=world))
