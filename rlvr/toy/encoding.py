"""Turning (prompt, answer) pairs into training tensors, and scoring answers exactly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def encode_pairs(tokenizer: PreTrainedTokenizerBase, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """``<bos> prompt answer <eos>``, right-padded; labels are -100 except on answer + EOS."""
    prompt_ids = tokenizer([p for p, _ in pairs])["input_ids"]  # with <bos>
    answer_ids = tokenizer([a for _, a in pairs], add_special_tokens=False)["input_ids"]
    rows, labels = [], []
    for p, a in zip(prompt_ids, answer_ids, strict=True):
        a = a + [tokenizer.eos_token_id]
        rows.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    label_t = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, lab) in enumerate(zip(rows, labels, strict=True)):
        input_ids[i, : len(r)] = torch.tensor(r)
        label_t[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(r)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": label_t}


@torch.no_grad()
def answer_probabilities(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Mapping],
    temperature: float = 1.0,
    batch_size: int = 1024,
) -> list[float]:
    """Probability that one sample at ``temperature`` is exactly ``answer`` + EOS, per example.

    The noise-free counterpart of :func:`measure_pass_rates` (which also accepts answers padded
    with whitespace, a negligible difference for the toy model).
    """
    was_training = model.training
    model.eval()
    probs: list[float] = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        batch = encode_pairs(tokenizer, [(ex["prompt"], ex["answer"]) for ex in chunk])
        batch = {k: v.to(model.device) for k, v in batch.items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logp = torch.log_softmax(logits[:, :-1].float() / temperature, dim=-1)
        labels = batch["labels"][:, 1:]
        mask = labels != -100
        tok = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        probs += (tok * mask).sum(-1).exp().tolist()
    model.train(was_training)
    return probs
