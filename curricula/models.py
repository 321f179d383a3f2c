"""Loading a causal LM and its tokenizer from a folder or a Hub name: the one loader of the offline
commands (`rlvr influence`, `rlvr compare`, `rlvr compat`). The trainer's own loading, with its
revision, remote-code and Hub-error handling, is `rlvr.train.load_model`."""

from __future__ import annotations

import os


def load_causal_lm(path: str, dtype=None, pad_to_eos: bool = True):
    """``(model, tokenizer)`` from ``path``. A folder with ``adapter_config.json`` loads a peft
    adapter over its base, LoRA weights trainable. ``dtype``: the weights' dtype (`None`: the
    checkpoint's). ``pad_to_eos``: give a tokenizer without a pad token the eos token as pad."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options = {} if dtype is None else {"dtype": dtype}
    if os.path.exists(os.path.join(path, "adapter_config.json")):
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, is_trainable=True, **options)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, **options)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if pad_to_eos and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


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
