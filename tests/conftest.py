import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def toy_world_path():
    """The warmed-up toy world: the one shipped with the package (rlvr/toy/shipped_world/, verified by
    SHA-256), or with RLVR_TOY_WORLD=built one built on this machine into the cache."""
    from rlvr.toy import build_toy_world

    return build_toy_world(progress=False)


def build_tiny_llama(
    tokenizer,
    seed: int = 0,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 4,
    max_positions: int = 64,
    special_ids: bool = True,
):
    """A freshly initialised (``torch.manual_seed(seed)``) tiny Llama over ``tokenizer``'s vocabulary,
    in training mode; ``special_ids`` also sets its bos/eos ids (the pad id always)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id} if special_ids else {}
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id,
        **ids,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


@pytest.fixture(scope="session")
def tiny_llama():
    """`build_tiny_llama`: the one tiny test model (tests vary its size, seed and heads)."""
    return build_tiny_llama


@pytest.fixture
def free_port():
    """A TCP port free right now on 127.0.0.1, for `accelerate launch --main_process_port`."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def one_torch_thread():
    """Intra-op threads only slow a tiny model down on a busy 2-core machine (one forward went
    from 6 ms to 360 ms with two threads while other processes ran)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
