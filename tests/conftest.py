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
