"""Small torch context managers shared by the toy world."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def num_threads(n: int | None):
    """Run with ``n`` intra-op threads (None: leave as is).

    The toy model is so small that extra threads barely help, and on a busy machine two threads
    on two shared cores can run 10x slower than one.
    """
    was = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(was)


@contextlib.contextmanager
def deterministic():
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)
