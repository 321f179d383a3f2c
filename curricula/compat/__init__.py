"""The student-compatibility filter (``rlvr compat``): keep a teacher's refinement only where the
student can learn it.

`curricula.compat.rules` holds the configuration, the scores and the decision rule;
`curricula.compat.data` reads and validates the input rows; `curricula.compat.run` streams a
dataset through them (scores, audit, filtered file, resume). The toy teacher that makes
refinements for the toy world is `rlvr.toy.compat`.
"""

from curricula.compat.rules import (
    COMPATIBLE,
    FILTER_NAME,
    FRONTIER,
    IFD_GE_1,
    IFD_LT_1,
    INPUT_COLUMNS,
    ORIGINAL_PREFERRED,
    PAST_FRONTIER,
    RIFD_GE_1,
    RIFD_LT_1,
    RULES,
    SELECT_BY_RIFD,
    CompatConfig,
    PairViews,
    Profile,
    ResponseScores,
    build_profile,
    decide,
    encode_views,
    output_row,
    quantile,
    response_scores,
    score_encoded,
    score_pairs,
)

__all__ = [
    "COMPATIBLE",
    "FILTER_NAME",
    "FRONTIER",
    "IFD_GE_1",
    "IFD_LT_1",
    "INPUT_COLUMNS",
    "ORIGINAL_PREFERRED",
    "PAST_FRONTIER",
    "RIFD_GE_1",
    "RIFD_LT_1",
    "RULES",
    "SELECT_BY_RIFD",
    "CompatConfig",
    "PairViews",
    "Profile",
    "ResponseScores",
    "build_profile",
    "decide",
    "encode_views",
    "output_row",
    "quantile",
    "response_scores",
    "score_encoded",
    "score_pairs",
]
