"""rlvr: reinforcement learning with verifiable rewards on TRL, with curriculum filtering.

The public API, imported lazily (``import rlvr`` does not import torch or TRL)::

    from rlvr import CurriculumGRPOTrainer, CurriculaConfig, FrontierConfig

    trainer = CurriculumGRPOTrainer(
        model=model, reward_funcs=reward_funcs, args=grpo_config, train_dataset=dataset,
        processing_class=tokenizer,
        curricula={"frontier": {"enabled": True, "low": 0.15}},  # or CurriculaConfig(...)
    )

Verifiers and their TRL reward functions live in the `rewards` package
(``from rewards import make_reward_funcs``); the run recipe behind ``rlvr train`` is
`rlvr.train`.
"""

from __future__ import annotations

import importlib

# name -> module that defines it
_EXPORTS = {
    "CurriculumGRPOTrainer": "rlvr.trainer",
    "CurriculaConfig": "curricula.config",
    "FrontierConfig": "curricula.config",
    "load_config": "rlvr.config",
    "ConfigError": "rlvr.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rlvr' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
