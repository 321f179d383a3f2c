"""Loading a causal LM and its tokenizer from a folder or a Hub name: the one loader of every
command (`rlvr train`, `rlvr influence`, `rlvr compare`, `rlvr compat`, `rlvr toy`) and script.
Callers add what is theirs: the trainer its revision, remote-code and Hub-error handling
(`rlvr.train.load_model`), compat its device."""

from __future__ import annotations

import os


def load_tokenizer(path: str, pad_to_eos: bool = True, **options):
    """The tokenizer at ``path``. ``pad_to_eos``: give a tokenizer without a pad token the eos
    token as pad. ``options``: `AutoTokenizer.from_pretrained`'s (revision, local_files_only, ...)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, **options)
    if pad_to_eos and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(path: str, dtype=None, peft_adapter: bool = True, **options):
    """The causal LM at ``path``. ``dtype``: the weights' dtype (`None`: the checkpoint's).
    ``peft_adapter``: a folder with ``adapter_config.json`` loads a peft adapter over its base,
    LoRA weights trainable (False: transformers loads it as it would any folder).
    ``options``: `AutoModelForCausalLM.from_pretrained`'s (revision, attn_implementation, ...)."""
    from transformers import AutoModelForCausalLM

    if dtype is not None:
        options = {"dtype": dtype, **options}
    if peft_adapter and os.path.exists(os.path.join(path, "adapter_config.json")):
        from peft import AutoPeftModelForCausalLM

        return AutoPeftModelForCausalLM.from_pretrained(path, is_trainable=True, **options)
    return AutoModelForCausalLM.from_pretrained(path, **options)


def load_causal_lm(path: str, dtype=None, pad_to_eos: bool = True):
    """``(model, tokenizer)`` from ``path`` (see `load_model` and `load_tokenizer`)."""
    model = load_model(path, dtype)
    return model, load_tokenizer(path, pad_to_eos)


def last_prompt_hidden_states(model, tokenizer, prompts: list[str], batch_size: int = 64):
    """The last layer's hidden state at each prompt's last token: a (prompts, hidden) float32
    numpy matrix, the representation the predictor's feature model learns from.

    One forward pass per ``batch_size`` prompts, no gradient, dropout off (so no random numbers
    are drawn and training's random stream is left as it was); the model's mode is restored.
    """
    import numpy as np
    import torch

    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(prompts), batch_size):
                enc = tokenizer(
                    prompts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
                )
                enc = {k: v.to(model.device) for k, v in enc.items()}
                hidden = model(**enc, output_hidden_states=True).hidden_states[-1]
                last = enc["attention_mask"].sum(dim=1) - 1  # right padding: the last real token
                if tokenizer.padding_side == "left":
                    last = torch.full_like(last, hidden.shape[1] - 1)
                out.append(hidden[torch.arange(len(hidden), device=hidden.device), last].float().cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.empty((0, 0), dtype=np.float32)
