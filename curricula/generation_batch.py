"""Edits of TRL's generation batch (the dict `GRPOTrainer._generate_and_score_completions`
returns), shapes unchanged: take groups out of the loss, overwrite groups with others, recount
the loss normaliser. Pure functions over tensors; the trainer decides which groups."""

from __future__ import annotations

import torch

# Per-row tensors of TRL's generation output and how each is padded when widths differ.
_LEFT_PADDED = {"prompt_ids": "pad", "prompt_mask": 0}
_RIGHT_PADDED = {
    "completion_ids": "pad",
    "completion_mask": 0,
    "old_per_token_logps": 0.0,
    "ref_per_token_logps": 0.0,
    "sampling_per_token_logps": 0.0,
    "tool_mask": 1,
    "importance_sampling_ratio": 1.0,
}


def group_rows(flags: list[bool], group_size: int, process_index: int, local_rows: int) -> torch.Tensor:
    """This process's rows of the flagged groups, as a bool per local row. ``flags`` has one entry
    per group of the global batch; each process holds the next ``local_rows`` rows in process
    order (TRL's layout)."""
    rows = torch.tensor(flags, dtype=torch.bool).repeat_interleave(group_size)
    return rows[process_index * local_rows : (process_index + 1) * local_rows]


def mask_groups(output: dict, flags: list[bool], group_size: int, process_index: int) -> dict:
    """``output`` with this process's rows of the flagged groups out of the loss (completion mask 0)."""
    mask = output["completion_mask"]
    rows = group_rows(flags, group_size, process_index, mask.shape[0]).to(mask.device)
    output["completion_mask"] = mask * (~rows).unsqueeze(1).to(mask.dtype)
    return output


def loss_tokens(output: dict) -> torch.Tensor:
    """This process's count of tokens that carry loss (completion mask, times the tool mask)."""
    mask = output["completion_mask"]
    return (mask if "tool_mask" not in output else mask * output["tool_mask"]).sum()


def _pad_to(t: torch.Tensor, width: int, value, left: bool) -> torch.Tensor:
    if t.dim() < 2 or t.shape[1] >= width:
        return t
    fill = torch.full((t.shape[0], width - t.shape[1]), value, dtype=t.dtype, device=t.device)
    return torch.cat([fill, t], dim=1) if left else torch.cat([t, fill], dim=1)


def replace_groups(output: dict, more: dict, pairs: list[tuple[int, int]], size: int, pad_id: int) -> dict:
    """Overwrite local group ``t`` of ``output`` with local group ``s`` of ``more`` for each pair
    (``size`` rows per group), re-padding widths; text-only batches."""
    if not pairs:
        return output
    unknown = set(output) - set(_LEFT_PADDED) - set(_RIGHT_PADDED) - {"advantages", "num_items_in_batch"}
    if unknown:
        raise ValueError(
            f"curricula.frontier.oversample supports text-only batches; got extra fields {sorted(unknown)}"
        )
    merged = dict(output)
    for key, value in list(output.items()):
        if key == "num_items_in_batch" or key not in more:
            continue
        a, b = value, more[key]
        if key in _LEFT_PADDED or key in _RIGHT_PADDED:
            left = key in _LEFT_PADDED
            fill = (_LEFT_PADDED if left else _RIGHT_PADDED)[key]
            fill = pad_id if fill == "pad" else fill
            width = max(a.shape[1], b.shape[1]) if a.dim() > 1 else None
            if width is not None:
                a, b = _pad_to(a, width, fill, left), _pad_to(b, width, fill, left)
        a = a.clone()
        for t, s in pairs:
            a[t * size : (t + 1) * size] = b[s * size : (s + 1) * size]
        merged[key] = a
    return merged
