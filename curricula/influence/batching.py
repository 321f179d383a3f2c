"""Token sequences for gradient features: prompt + response, right-padded, response masked.

An example's loss is the mean negative log-likelihood of its *response* tokens; prompt and
padding tokens carry none. Sequences are right-padded with explicit position ids, so a token
sees exactly the positions and keys it would see alone: an example's features do not depend
on which other examples share its batch, or on how much padding they bring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class TokenSequence:
    """One tokenized example: ``input_ids`` = prompt then response; ``response_start`` indexes
    the first response token; ``loss_mask`` (one flag per response token, default all) says
    which response tokens carry loss (TRL masks tool output inside a completion)."""

    input_ids: list[int]
    response_start: int
    loss_mask: list[bool] | None = None

    @property
    def response_length(self) -> int:
        return len(self.input_ids) - self.response_start


def prompt_token_ids(tokenizer, prompt: Any) -> list[int]:
    """Prompt ids exactly as TRL's GRPOTrainer tokenizes them (chat template for messages)."""
    if isinstance(prompt, str):
        return list(tokenizer(text=prompt)["input_ids"])
    encoded = tokenizer.apply_chat_template(
        conversation=[prompt], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return list(encoded["input_ids"][0])


def encode_example(tokenizer, prompt: Any, response: str) -> TokenSequence:
    """``prompt`` then ``response`` and EOS (the reference solution a target example's NLL uses)."""
    prompt_ids = prompt_token_ids(tokenizer, prompt)
    response_ids = list(tokenizer(str(response), add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
    return TokenSequence(prompt_ids + response_ids, len(prompt_ids))


def encode_rows(tokenizer, rows: list[dict], response_key: str = "answer") -> list[TokenSequence]:
    """Rows with ``prompt`` and ``answer`` (or ``response_key``) as sequences."""
    missing = [i for i, r in enumerate(rows) if r.get(response_key) is None]
    if missing:
        raise ValueError(
            f"row {missing[0]} has no '{response_key}'; gradient features need the reference "
            f"response (rows {missing[:5]} lack it)."
        )
    return [encode_example(tokenizer, row["prompt"], row[response_key]) for row in rows]


def collate(sequences: list[TokenSequence], pad_token_id: int, device=None) -> dict[str, torch.Tensor]:
    """Right-padded batch: ``input_ids``, ``attention_mask``, ``position_ids``, ``response_mask``.

    ``response_mask[n, t]`` marks the tokens whose likelihood is the loss (predicted from
    position ``t - 1``).
    """
    if not sequences:
        raise ValueError("collate needs at least one sequence.")
    width = max(len(s.input_ids) for s in sequences)
    n = len(sequences)
    input_ids = torch.full((n, width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    response_mask = torch.zeros((n, width), dtype=torch.bool)
    for i, s in enumerate(sequences):
        if s.response_start < 1 or s.response_length < 1:
            raise ValueError(
                f"sequence {i} needs at least one prompt token and one response token "
                f"(prompt {s.response_start}, response {s.response_length})."
            )
        input_ids[i, : len(s.input_ids)] = torch.tensor(s.input_ids)
        attention_mask[i, : len(s.input_ids)] = 1
        response_mask[i, s.response_start : len(s.input_ids)] = (
            True if s.loss_mask is None else torch.tensor(s.loss_mask, dtype=torch.bool)
        )
    position_ids = torch.arange(width).expand(n, width).clone()
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "position_ids": position_ids,
        "response_mask": response_mask,
    }
    return {k: v.to(device) for k, v in batch.items()} if device is not None else batch


def sequences_from_grpo_output(output: dict[str, torch.Tensor]) -> list[TokenSequence]:
    """One sequence per completion row of TRL's ``_generate_and_score_completions`` output.

    TRL left-pads prompts and right-pads completions; the rows are re-packed unpadded (the
    positions generation used), with the completion tokens its ``completion_mask`` keeps
    (tokens after EOS and masked tool output carry no loss).
    """
    prompt_ids, prompt_mask = output["prompt_ids"].cpu(), output["prompt_mask"].cpu().bool()
    completion_ids = output["completion_ids"].cpu()
    completion_mask = output["completion_mask"].cpu().bool()
    if "tool_mask" in output:  # TRL's loss skips tool output as well
        completion_mask = completion_mask & output["tool_mask"].cpu().bool()
    sequences = []
    for p_ids, p_mask, c_ids, c_mask in zip(prompt_ids, prompt_mask, completion_ids, completion_mask):
        prompt = p_ids[p_mask].tolist()
        # Keep completion tokens up to the last one carrying loss; nothing after it matters.
        kept = torch.nonzero(c_mask).flatten()
        length = int(kept[-1]) + 1 if len(kept) else 0
        sequences.append(TokenSequence(prompt + c_ids[:length].tolist(), len(prompt), c_mask[:length].tolist()))
    return sequences


def response_nll(logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of each row's response tokens: a ``[n]`` tensor.

    Rows without response tokens get 0 (and so a zero gradient).
    """
    log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    token_nll = -log_probs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    mask = response_mask[:, 1:].to(token_nll.dtype)
    return (token_nll * mask).sum(-1) / mask.sum(-1).clamp(min=1)
