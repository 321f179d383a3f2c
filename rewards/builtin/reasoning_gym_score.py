"""``reasoning_gym``: the reward a reasoning-gym task's own ``score_answer`` gives the completion.

Rows come from ``data.train: reasoning_gym:<task>`` (`rlvr.procedural`), whose
``reasoning_gym_entry`` column holds the generator's entry (question, answer, metadata) as JSON.
reasoning-gym is imported on first use, so `rewards` does not need it installed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping

from rewards.base import UserInputError
from rewards.registry import register_verifier

ENTRY_COLUMN = "reasoning_gym_entry"
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@functools.cache
def _scorer(task: str):
    try:
        import reasoning_gym
    except ImportError as err:
        raise UserInputError(
            "The 'reasoning_gym' verifier needs the reasoning-gym package: pip install 'rlvr[reasoning-gym]'."
        ) from err
    return reasoning_gym.get_score_answer_fn(task)


def extract_answer(completion: str, tag: bool = True) -> str:
    """The last ``<answer>...</answer>`` of the completion (stripped) when there is one, else the
    whole completion: reasoning-gym scores the bare answer."""
    if tag:
        found = _ANSWER_TAG.findall(completion)
        if found:
            return found[-1].strip()
    return completion.strip()


@register_verifier("reasoning_gym", isolation="inline")
def reasoning_gym_score(completion: str, example: Mapping, answer_tag: bool = True) -> float:
    """The task's ``score_answer(answer, entry)`` (a float in [0, 1]; 1.0 for a right answer).

    Args:
        completion (`str`): The model's completion.
        example (`Mapping`): The row; needs ``reasoning_gym_entry``.
        answer_tag (`bool`, *optional*, defaults to `True`): Score the last ``<answer>...</answer>``
            of the completion when it has one (reasoning-gym's convention), else the whole completion.

    Example:
        >>> import reasoning_gym, json  # doctest: +SKIP
        >>> entry = reasoning_gym.create_dataset("chain_sum", size=1, seed=1)[0]  # doctest: +SKIP
        >>> reasoning_gym_score(f"<answer>{entry['answer']}</answer>", {ENTRY_COLUMN: json.dumps(entry)})  # doctest: +SKIP
        1.0
    """
    raw = example.get(ENTRY_COLUMN)
    if raw is None:
        raise UserInputError(
            f"The 'reasoning_gym' verifier needs the '{ENTRY_COLUMN}' column; "
            "load the data with data.train: reasoning_gym:<task>."
        )
    entry = json.loads(raw) if isinstance(raw, str) else dict(raw)
    task = entry["metadata"]["source_dataset"]
    return float(_scorer(task)(extract_answer(completion, answer_tag), entry))
