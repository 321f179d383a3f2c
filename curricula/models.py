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
