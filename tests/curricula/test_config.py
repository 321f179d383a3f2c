"""`curricula.config`: settings refused when they cannot act as written."""

import pytest


def test_frontier_options_set_while_the_filter_is_off_are_refused():
    from curricula.config import CurriculaConfig

    with pytest.raises(
        ValueError, match=r"curricula\.frontier\.mask_zero_variance is true but curricula\.frontier\.enabled is false"
    ):
        CurriculaConfig(frontier={"mask_zero_variance": True}, predictor={"enabled": True})
    kept = CurriculaConfig(
        frontier={"enabled": True, "mask_zero_variance": True, "low": 0.0}, predictor={"enabled": True}
    )
    assert kept.frontier.mask_zero_variance
