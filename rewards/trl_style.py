"""TRL-style reward functions as verifiers.

TRL documents reward functions written against its own calling convention::

    def accuracy_reward(completions, answer, **kwargs) -> list[float | None]:
        ...

called as ``f(prompts=..., completions=..., completion_ids=..., **columns)`` with every dataset
column as a list (one value per completion) plus ``trainer_state``, ``log_extra`` and
``log_metric``; ``completions`` are strings, or lists of chat messages for conversational data.
Such a function can be named in a `VerifierSpec` like any verifier (``"my_rewards.py:accuracy_reward"``,
``"trl.rewards:accuracy_reward"``): `verifier_style` recognises it and the adapter calls it with
TRL's arguments, unchanged, then checks what it returns (one finite number or `None` per
completion) as it checks a verifier's return.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

from rewards.base import call_sync
from rewards.registry import is_batched
from rewards.timeouts import call_with_timeout

Style = Literal["verifier", "trl"]
STYLES = ("verifier", "trl")

# First parameters that mark TRL's convention; a verifier's first parameter is the completion.
_TRL_FIRST_PARAMETERS = ("prompts", "completions")


def verifier_style(func: Callable, declared: str | None = None) -> Style:
    """Which calling convention ``func`` follows.

    Args:
        func (`Callable`):
            The resolved verifier function.
        declared (`str`, *optional*):
            `VerifierSpec.style`: ``"verifier"`` or ``"trl"`` is taken as is; `None` detects.

    Returns:
        ``"trl"`` when the function's first parameter is named ``prompts`` or ``completions``, or
        when it takes keyword arguments only (``def reward(**kwargs)``); ``"verifier"``
        otherwise (a function registered with ``batched=True`` included).

    Example:

    >>> def accuracy_reward(completions, answer, **kwargs):
    ...     return [float(c == a) for c, a in zip(completions, answer)]
    >>> verifier_style(accuracy_reward)
    'trl'
    >>> verifier_style(lambda completion, example: 1.0)
    'verifier'
    """
    if declared is not None:
        return declared  # type: ignore[return-value]
    if is_batched(func):
        return "verifier"
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return "verifier"
    named = [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if named:
        return "trl" if named[0].name in _TRL_FIRST_PARAMETERS else "verifier"
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in parameters)
    takes_args = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    return "trl" if takes_kwargs and not takes_args else "verifier"


def call_trl_style(
    func: Callable,
    timeout_s: float | None,
    prompts: Sequence | None,
    completions: Sequence,
    completion_ids: Sequence | None,
    trl_kwargs: dict[str, Any],
    spec_kwargs: dict[str, Any],
) -> Any:
    """``func``'s raw return for one TRL call, within ``timeout_s`` per completion.

    The arguments are passed on exactly as TRL gave them (completions in chat format stay in chat
    format); ``spec_kwargs`` (`VerifierSpec.kwargs`) are added. Raises what ``func`` raises, or
    `rewards.timeouts.VerifierTimeout`.
    """
    timeout = timeout_s * max(len(completions), 1) if timeout_s else None
    call = partial(
        call_sync,
        func,
        prompts=prompts,
        completions=completions,
        completion_ids=completion_ids,
        **trl_kwargs,
        **spec_kwargs,
    )
    return call_with_timeout(call, timeout)


def as_reward_list(values: Any, count: int) -> list | None:
    """``values`` as a list when it holds one entry per completion, else `None`.

    Any sized iterable that is not a string or a mapping is accepted (TRL itself accepts a
    NumPy array); its entries are checked one by one afterwards.
    """
    if isinstance(values, (str, bytes, Mapping)) or values is None:
        return None
    try:
        values = list(values)
    except TypeError:
        return None
    return values if len(values) == count else None
