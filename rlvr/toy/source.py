"""The toy world as a registered data source and model (`rlvr.sources`): ``data.train: toy``,
``--pool toy:train`` and ``model_name_or_path: toy`` resolve here."""

from __future__ import annotations

from collections.abc import Sequence


def toy_rows(split: str = "train", n_per_skill: int = 64, seed: int = 0,
             skills: Sequence[str] | None = None) -> list[dict]:
    """Rows (``id``, ``prompt``, ``answer``, ``skill``) of every skill or of ``skills``, skill by
    skill in ``SKILLS`` order; an unknown skill is a `ValueError`."""
    from rlvr.toy import SKILLS, make_examples

    return [row for skill in (SKILLS if skills is None else skills) for row in make_examples(skill, n_per_skill, split, seed)]


def toy_model_path(seed: int = 0) -> str:
    """The folder of the warmed-up toy world (the shipped one, or built once into the cache)."""
    from rlvr.toy import build_toy_world

    return str(build_toy_world(seed=seed))
