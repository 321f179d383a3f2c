"""A toy teacher for the toy world: refines answers compatibly or past the student's frontier.

The toy student was warmed up on ``prompt -> answer`` (``"37+45="`` -> ``"82"``). The teacher
here is always right, but writes its refinement in one of two styles:

* ``compatible``: the correct answer in the student's own notation (``"82"``), often fixing a
  wrong original.
* ``past_frontier``: the correct answer at the end of a worked chain the student has never
  seen (``"30+40=70,7+5=12,70+12=82"``). Correct, and arguably better reasoning, but improbable
  under the student's likelihood and far harder for a tiny model to learn to produce.

All text stays in the toy character tokenizer's charset (digits, letters, ``+-*=,``). Answers are
checked with `final_answer`: the text after the last ``=`` (or the whole completion), so a
chain ending in the right number counts as correct.
"""

from __future__ import annotations

import random
import string

import torch

COMPATIBLE, PAST_FRONTIER = "compatible", "past_frontier"
STYLES = (COMPATIBLE, PAST_FRONTIER)


def final_answer(completion: str) -> str:
    """The answer a completion commits to: what follows its last ``=``, stripped."""
    return completion.rsplit("=", 1)[-1].strip()


def worked_chain(prompt: str, answer: str) -> str:
    """The answer as a worked chain of steps ending in ``=answer``.

    >>> worked_chain("37+45=", "82")
    '30+40=70,7+5=12,70+12=82'
    >>> worked_chain("copy:abc=", "abc")
    'a,b,c=abc'
    """
    body = prompt[:-1]  # drop the trailing "="
    if body.startswith("copy:"):
        return ",".join(body[len("copy:") :]) + f"={answer}"
    for op in "+-*":
        if op in body:
            a_text, b_text = body.split(op)
            break
    else:
        raise ValueError(f"not a toy prompt: {prompt!r}")
    a, b = int(a_text), int(b_text)
    if op == "+" and a < 10 and b < 10:  # one-digit addition: count up
        return f"{a}" + "+1" * b + f"={answer}"
    if op == "+":
        tens, ones = (a // 10) * 10 + (b // 10) * 10, a % 10 + b % 10
        return f"{(a // 10) * 10}+{(b // 10) * 10}={tens},{a % 10}+{b % 10}={ones},{tens}+{ones}={answer}"
    if op == "-":
        first = a - (b // 10) * 10
        return f"{a}-{(b // 10) * 10}={first},{first}-{b % 10}={answer}"
    # Multiplication: split the second factor into its leading digit's part and the rest.
    head = (b // 10 ** (len(b_text) - 1)) * 10 ** (len(b_text) - 1)
    rest = b - head
    return f"{a}*{head}={a * head},{a}*{rest}={a * rest},{a * head}+{a * rest}={answer}"


def corrupt(answer: str, rng: random.Random) -> str:
    """A plausible wrong answer in the same notation: one character changed."""
    position = rng.randrange(len(answer))
    pool = string.digits if answer[position].isdigit() else string.ascii_lowercase
    replacement = rng.choice([c for c in pool if c != answer[position]])
    return answer[:position] + replacement + answer[position + 1 :]


def refine_examples(
    examples: list[dict], past_frontier_share: float = 0.5, original_noise: float = 0.3, seed: int = 0
) -> list[dict]:
    """Teacher-refined rows for toy examples (dicts with id, prompt, answer, skill).

    Each row gets an ``original_response`` (the original data: the answer, corrupted with
    probability ``original_noise``), a refined ``response`` in one ``style`` (past-frontier with
    probability ``past_frontier_share``), and the reference ``answer``.
    """
    rng = random.Random(f"compat_toy/{seed}")  # the old module name: kept so refinements stay identical
    rows = []
    for ex in examples:
        original = corrupt(ex["answer"], rng) if rng.random() < original_noise else ex["answer"]
        style = PAST_FRONTIER if rng.random() < past_frontier_share else COMPATIBLE
        response = worked_chain(ex["prompt"], ex["answer"]) if style == PAST_FRONTIER else ex["answer"]
        rows.append(
            {
                "id": ex["id"],
                "prompt": ex["prompt"],
                "response": response,
                "original_response": original,
                "answer": ex["answer"],
                "skill": ex["skill"],
                "style": style,
                "original_correct": original == ex["answer"],
            }
        )
    return rows


def sft_batch(tokenizer, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """``<bos> prompt completion <eos>``, right-padded, loss on completion + EOS only (the toy
    warm-up's own encoding, so refinements are trained exactly as the student was)."""
    from rlvr.toy.encoding import encode_pairs

    return encode_pairs(tokenizer, pairs)
