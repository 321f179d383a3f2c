"""The student's likelihood of a target text after a context text: batched, no gradients.

Everything the compatibility filter (`curricula.compat`) measures is a mean negative
log-likelihood (NLL) of some *target* tokens after some *context* tokens, as the student sees
them: the response after the prompt (PPL(A|Q)), the response alone (PPL(A)), the prompt after the
response in a reverse template (PPL(Q|A)), the prompt alone (PPL(Q)). This module turns
``(context, target)`` text pairs into token ids once, then scores many of them in padded batches.

Two choices keep the numbers independent of batching:

* Sequences are padded on the **right**. A causal model's output at a real token depends only on
  the tokens before it, so trailing pads change nothing; left padding would shift the position
  ids of the real tokens (Llama's forward does not derive them from the attention mask).
* Only target tokens are scored: the loss is gathered at target positions before the softmax,
  so padding and context tokens cost no cross-entropy work and cannot leak into the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

IGNORE = -100  # label of a position that is not scored (context, padding)


@dataclass(frozen=True)
class EncodedPair:
    """Token ids of ``context + target``; the NLL is taken over the target tokens only.

    Args:
        input_ids: Context ids followed by target ids.
        n_context: How many leading ids are context (at least 1: the first target token needs
            something to be predicted from).
        truncated: Whether ids were cut to fit ``max_length``.
    """

    input_ids: tuple[int, ...]
    n_context: int
    truncated: bool = False

    @property
    def n_target(self) -> int:
        return len(self.input_ids) - self.n_context


@dataclass(frozen=True)
class TargetNLL:
    """Summed NLL of one pair's target tokens and how many tokens that sum covers."""

    nll_sum: float
    n_tokens: int

    @property
    def mean(self) -> float:
        """Mean per-token NLL (= log perplexity)."""
        return self.nll_sum / self.n_tokens


# ------------------------------------------------------------------------------------------------
# Pure tensor functions


def pad_pairs(pairs: Sequence[EncodedPair], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (target ids, else -100)."""
    width = max(len(p.input_ids) for p in pairs)
    input_ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(pairs), width), IGNORE, dtype=torch.long)
    attention_mask = torch.zeros((len(pairs), width), dtype=torch.long)
    for i, pair in enumerate(pairs):
        ids = torch.tensor(pair.input_ids, dtype=torch.long)
        input_ids[i, : len(ids)] = ids
        attention_mask[i, : len(ids)] = 1
        labels[i, pair.n_context : len(ids)] = ids[pair.n_context :]
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def target_token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token NLL ``[batch, seq-1]``: the NLL of ``labels[:, t+1]`` under ``logits[:, t]``.

    Positions whose label is -100 are 0. The softmax runs only at scored positions (cast to
    float32, so bf16 models give the same numbers as a float32 reference within rounding).
    """
    shifted_labels = labels[:, 1:]
    scored = shifted_labels != IGNORE
    nll = torch.zeros(shifted_labels.shape, dtype=torch.float32, device=logits.device)
    picked_logits = logits[:, :-1][scored].float()
    nll[scored] = F.cross_entropy(picked_logits, shifted_labels[scored], reduction="none")
    return nll


def sum_target_nll(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed NLL, number of scored tokens) per sequence."""
    nll = target_token_nll(logits, labels)
    counts = (labels[:, 1:] != IGNORE).sum(dim=1)
    return nll.sum(dim=1), counts


# ------------------------------------------------------------------------------------------------
# The scorer


class StudentLikelihood:
    """Encodes text pairs with the student's tokenizer and scores them with the student.

    Args:
        model: The student, a causal LM; put in eval mode, never updated.
        tokenizer: Its tokenizer.
        max_length: Longest sequence (context + target) fed to the model; longer pairs are
            truncated by `encode` (context from the left, then target from the right) and
            flagged ``truncated``.
        batch_size: Sequences per forward pass.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int | None = None,
        batch_size: int = 32,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length or default_max_length(model, tokenizer)
        self.batch_size = batch_size
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        # What the tokenizer puts before any text (Llama-style BOS). A tokenizer without one
        # (GPT-2, Qwen) gets EOS, the usual document separator, so that the first target token of
        # an unconditional score (PPL(A), PPL(Q)) is still predicted from something.
        prefix = tokenizer("", add_special_tokens=True)["input_ids"]
        self.start_ids: list[int] = list(prefix) or [tokenizer.bos_token_id or tokenizer.eos_token_id]
        self.prefix_is_special = bool(prefix)

    # -- encoding ---------------------------------------------------------------------------
    def encode(self, context: str | None, target: str, append_eos: bool = False) -> EncodedPair:
        """Ids of ``context`` (with the tokenizer's special prefix) then ``target``.

        ``context=None`` scores the target unconditionally (after the special prefix only).
        Context and target are tokenised separately, as SFT trainers do for prompt-completion
        data, so the target's tokens are the same whatever the context.
        """
        if context is None:
            context_ids = list(self.start_ids)
        elif self.prefix_is_special:
            context_ids = self.tokenizer(context, add_special_tokens=True)["input_ids"]
        else:
            context_ids = self.start_ids + self.tokenizer(context, add_special_tokens=False)["input_ids"]
        target_ids = self.tokenizer(target, add_special_tokens=False)["input_ids"]
        if append_eos:
            target_ids = target_ids + [self.tokenizer.eos_token_id]
        return self.fit(context_ids, target_ids)

    def fit(self, context_ids: list[int], target_ids: list[int]) -> EncodedPair:
        """Cut a pair to ``max_length``: drop context tokens after the prefix, oldest first
        (what is nearest the target matters most), then the target's tail."""
        room = self.max_length
        if len(context_ids) + len(target_ids) <= room:
            return EncodedPair(tuple(context_ids + target_ids), len(context_ids))
        keep_prefix = context_ids[: len(self.start_ids)]
        target_ids = target_ids[: room - len(keep_prefix)]
        context_room = room - len(target_ids) - len(keep_prefix)
        body = context_ids[len(keep_prefix) :]
        body = body[len(body) - context_room :] if context_room > 0 else []
        context_ids = keep_prefix + body
        return EncodedPair(tuple(context_ids + target_ids), len(context_ids), truncated=True)

    def untruncated_length(self, context: str | None, target: str, append_eos: bool = False) -> int:
        """Length the pair would have without truncation (for 'too long' messages)."""
        context_len = (
            len(self.start_ids)
            if context is None
            else len(self.tokenizer(context, add_special_tokens=self.prefix_is_special)["input_ids"])
            + (0 if self.prefix_is_special else len(self.start_ids))
        )
        return context_len + len(self.tokenizer(target, add_special_tokens=False)["input_ids"]) + int(append_eos)

    # -- scoring ----------------------------------------------------------------------------
    @torch.inference_mode()
    def score(self, pairs: Sequence[EncodedPair]) -> list[TargetNLL]:
        """Target-token NLL of every pair, in input order.

        Pairs are sorted by length and batched, so a batch holds sequences of similar length
        and padding stays small; the result does not depend on that order or on batch size.
        """
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].input_ids), reverse=True)
        results: list[TargetNLL | None] = [None] * len(pairs)
        device = self.model.device
        for start in range(0, len(order), self.batch_size):
            batch_index = order[start : start + self.batch_size]
            batch = pad_pairs([pairs[i] for i in batch_index], self.pad_id)
            logits = self.model(
                input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
            ).logits
            sums, counts = sum_target_nll(logits, batch["labels"].to(device))
            for i, nll_sum, count in zip(batch_index, sums.tolist(), counts.tolist(), strict=True):
                results[i] = TargetNLL(nll_sum, count)
        return results  # type: ignore[return-value]

    # -- the student's own responses --------------------------------------------------------
    def sample(self, prompts: Sequence[str], max_new_tokens: int, temperature: float = 1.0, seed: int = 0) -> list[str]:
        """One sampled response per prompt (plain multinomial sampling: top_k=0, top_p=1), through
        `curricula.rollouts.sample_prompts`.

        Prompts are left-padded there (generation needs it), cut to leave room for a response in
        ``max_length``; the samples are re-scored through `encode`/`score` like any other response,
        so their scores stay padding-free.
        """
        from curricula.rollouts import SamplingSetup, sample_prompts

        setup = SamplingSetup(
            batch_size=self.batch_size,
            # At least one new token, and never past max_length.
            max_new_tokens=lambda width: max(1, min(max_new_tokens, self.max_length - width)),
            encode=lambda chunk: [self._prompt_ids_for_generation(p) for p in chunk],
            generate_options={"eos_token_id": self.tokenizer.eos_token_id},
        )
        samples = sample_prompts(self.model, self.tokenizer, list(prompts), 1, temperature, seed, setup=setup)
        return [s.completions[0] for s in samples]

    def _prompt_ids_for_generation(self, prompt: str) -> list[int]:
        """The prompt's ids, cut (after the special prefix, oldest first) to leave room for one
        new token within ``max_length``."""
        ids = list(self.encode(prompt, "").input_ids)
        if len(ids) < self.max_length:
            return ids
        prefix = len(self.start_ids)
        return ids[:prefix] + ids[len(ids) - (self.max_length - 1 - prefix) :]


def default_max_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """The model's context size, or the tokenizer's limit when that is smaller."""
    limits = [getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
    limits = [int(v) for v in limits if isinstance(v, int) and 0 < v < 1_000_000]
    return min(limits) if limits else 2048
