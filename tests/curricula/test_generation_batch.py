"""Edits of TRL's generation batch: masking flagged groups on each process, overwriting groups
with re-padding, the loss-token count."""

import pytest
import torch

from curricula.generation_batch import loss_tokens, mask_groups, replace_groups


def batch(rows=4, width=3, start=1):
    ids = torch.arange(start, start + rows * width).view(rows, width)
    return {
        "prompt_ids": ids.clone(),
        "prompt_mask": torch.ones(rows, width, dtype=torch.long),
        "completion_ids": ids.clone(),
        "completion_mask": torch.ones(rows, width, dtype=torch.long),
        "advantages": torch.arange(rows, dtype=torch.float),
    }


def test_each_process_masks_only_its_own_rows_of_flagged_groups():
    # Global batch: 4 groups of 2 rows over 2 processes (4 rows each); groups 1 and 2 are flagged.
    zero = [False, True, True, False]
    first = mask_groups(batch(), zero, group_size=2, process_index=0)["completion_mask"]
    second = mask_groups(batch(), zero, group_size=2, process_index=1)["completion_mask"]
    assert first.sum(dim=1).tolist() == [3, 3, 0, 0]  # its group 1 is global group 1
    assert second.sum(dim=1).tolist() == [0, 0, 3, 3]  # its group 0 is global group 2


def test_loss_tokens_count_the_tool_mask_too():
    out = batch()
    assert int(loss_tokens(out)) == 12
    out["tool_mask"] = torch.tensor([[1, 0, 0]] * 4)
    assert int(loss_tokens(out)) == 4


def test_replacing_a_group_re_pads_to_the_wider_batch():
    out, more = batch(width=2), batch(width=3, start=100)
    merged = replace_groups(out, more, pairs=[(1, 0)], size=2, pad_id=0)
    assert merged["completion_ids"].shape == (4, 3)
    assert merged["completion_ids"][0].tolist() == [1, 2, 0]  # kept, right-padded
    assert merged["completion_ids"][2].tolist() == [100, 101, 102]  # group 1 <- more's group 0
    assert merged["prompt_ids"][0].tolist() == [0, 1, 2]  # prompts pad on the left
    assert merged["advantages"].tolist() == [0.0, 1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="text-only"):
        replace_groups({**out, "pixel_values": torch.zeros(1)}, more, [(0, 0)], 2, 0)
