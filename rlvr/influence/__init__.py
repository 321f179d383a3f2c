"""Gradient influence, offline: `rlvr influence` (`rlvr.cli.influence`) over the pipeline in
`rlvr.influence.pipeline` (load rows, extract features to stores, score, select).

The gradient-influence library and the in-training check live in `curricula.influence`; its
public names are re-exported here (one list, `curricula.influence.__all__`), so
``from rlvr.influence import InfluenceCheck, FeatureConfig`` keeps working.
"""

from curricula import influence as _library
from curricula.influence import *  # noqa: F403 (the names of `_library.__all__`, listed once there)

__all__ = list(_library.__all__)
