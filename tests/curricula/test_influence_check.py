"""`curricula.influence.check` on its own: which prompts it acts on, and its config's validation.
In rlvr's trainer, on real GRPO batches: tests/rlvr/test_influence_check.py."""

import pytest
import torch

from curricula.influence import InfluenceCheck, InfluenceCheckConfig
from curricula.influence.check import prompts_to_act_on
from rlvr.toy.tasks import make_examples

TARGETS = make_examples("add2", 3, "eval", seed=4) + make_examples("copy", 3, "eval", seed=4)


def test_prompts_to_act_on_and_config_validation():
    per_prompt = torch.tensor([[0.2, -0.3], [0.0, 0.0], [-0.05, 0.1]])
    informative = torch.tensor([True, False, True])
    assert prompts_to_act_on(per_prompt, informative, ["add2", "copy"], -0.1) == [(0, "copy", pytest.approx(-0.3))]
    assert [a[:2] for a in prompts_to_act_on(per_prompt, informative, ["add2", "copy"], 0.0)] == [
        (0, "copy"),
        (2, "add2"),
    ]
    with pytest.raises(ValueError, match="action"):
        InfluenceCheckConfig(action="delete")
    with pytest.raises(ValueError, match="downweight"):
        InfluenceCheckConfig(downweight=1.5)
    check = InfluenceCheck(InfluenceCheckConfig(protected_skills=["add2"]), targets=TARGETS)
    assert check.skills == ["add2"] and len(check.target_rows) == 3
