"""``digit_match``: partial credit for numeric answers, position by position."""

from __future__ import annotations

from collections.abc import Mapping

from rewards.registry import register_verifier


@register_verifier("digit_match", isolation="inline")
def digit_match(completion: str, example: Mapping, answer_field: str = "answer") -> float | None:
    """Share of right-aligned character positions where the completion matches the gold answer.

    ``1.0`` only for an exact match (after stripping whitespace). Otherwise the count of
    positions, aligned from the right (units with units), holding the same character, over the
    longer of the two lengths, so padding or truncating an answer never pays. A shaped reward
    for arithmetic tasks: on a problem the policy never solves it still hands out rare, noisy
    partial rewards, which is what makes hopeless prompts dangerous under GRPO.

    >>> digit_match("56088", {"answer": "56088"}), digit_match("56000", {"answer": "56088"})
    (1.0, 0.6)
    >>> digit_match("88", {"answer": "56088"}), digit_match("x", {"prompt": "1+1="}) is None
    (0.4, True)

    Args:
        completion (`str`):
            The model's completion.
        example (`Mapping`):
            The dataset row; the gold answer is ``example[answer_field]``.
        answer_field (`str`, *optional*, defaults to `"answer"`):
            Column holding the gold answer; a row without one is not scored (`None`).
    """
    gold = example.get(answer_field)
    if gold is None:
        return None
    gold, text = str(gold).strip(), completion.strip()
    if text == gold:
        return 1.0
    width = max(len(gold), len(text), 1)
    matches = sum(a == b for a, b in zip(reversed(gold), reversed(text)))
    return matches / width
