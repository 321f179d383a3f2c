"""What a verifier is, and the record left behind when one fails.

A verifier scores one completion against the dataset row it answers. It is a plain function::

    (completion: str, example: Mapping) -> float | None

``example`` is the row (``example["answer"]``, ``example["id"]``, any other column, plus
``example["prompt"]``). The return value is the reward, usually in ``[0, 1]``; ``None`` means
"this verifier does not apply to this row" (TRL turns it into NaN and leaves the row to the
other reward functions). Keyword arguments after ``example`` are the verifier's settings, filled
from `VerifierSpec.kwargs`.

A verifier is registered under a name and then used by name:

>>> from rewards import get_verifier, register_verifier
>>> @register_verifier("doc_length_under_10")
... def short_answer(completion, example, max_chars=10):
...     return 1.0 if len(completion) < max_chars else 0.0
>>> get_verifier("doc_length_under_10")("46", {"answer": "46"})
1.0

Verifiers that are expensive per call (a subprocess per completion, a remote judge) may take the
whole batch at once and are marked at registration::

    @register_verifier("code", batched=True)
    def code(completions: list[str], examples: list[Mapping]) -> list[float | None]: ...
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

ErrorKind = Literal["raised", "timeout", "bad_return"]


class UserInputError(ValueError):
    """A mistake in what the user gave: a config key or value, a data file or row, a verifier spec,
    a command-line value.

    The `rlvr` commands report these as one line on stderr and exit with status 2 (``--debug``
    shows the traceback); any other exception is a bug and keeps its traceback. Every package
    derives its user-facing errors from this class (it lives here, in the lowest layer, so that
    `rewards`, `curricula` and `rlvr` can all use it).
    """


class Verifier(Protocol):
    """A verifier scoring one completion: ``(completion, example, **kwargs) -> float | None``."""

    def __call__(self, completion: str, example: Mapping, /, **kwargs) -> float | None: ...


class BatchedVerifier(Protocol):
    """A verifier scoring a whole batch at once.

    ``(completions, examples, **kwargs) -> list[float | None]``.

    The returned list has one entry per completion, in order.
    """

    def __call__(self, completions: Sequence[str], examples: Sequence[Mapping], /, **kwargs) -> list[float | None]: ...


@dataclass(frozen=True)
class VerifierError:
    """One reward lost to a verifier failure.

    Args:
        verifier (`str`):
            Name of the verifier, as written in its `VerifierSpec`.
        prompt_id (`str`):
            The row's ``id`` column, or its index in the batch (as a string) when the dataset has
            no ``id`` column.
        kind (`str`):
            ``"raised"`` (the verifier raised), ``"timeout"`` (it ran past its time limit) or
            ``"bad_return"`` (it returned something that is not a finite number or ``None``).
        exception_type (`str`):
            Class name of the exception (``"TimeoutError"`` for timeouts, ``"TypeError"`` for bad
            returns).
        message (`str`):
            The exception's message, or a description of the bad return value.
    """

    verifier: str
    prompt_id: str
    kind: ErrorKind
    exception_type: str
    message: str

    def __str__(self) -> str:
        return (
            f"verifier '{self.verifier}' on prompt {self.prompt_id}: {self.kind} "
            f"({self.exception_type}: {self.message})"
        )


def call_sync(func, /, *args, **kwargs):
    """``func(*args, **kwargs)``, awaited when it returns an awaitable: TRL accepts ``async def``
    reward functions (it runs them in its own event loop), so a verifier or TRL-style function
    written as a coroutine must give its value, not a coroutine object scored as a bad return."""
    value = func(*args, **kwargs)
    if not inspect.isawaitable(value):
        return value

    async def wait():
        return await value

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no loop in this thread
        return asyncio.run(wait())
    # Called from inside a running loop (a notebook): asyncio.run would refuse; use a thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, wait()).result()
