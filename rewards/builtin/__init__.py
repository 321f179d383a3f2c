"""The built-in verifiers, registered when `rewards` is imported.

===========  ===============================================================================
Name         Reward
===========  ===============================================================================
exact        1.0 when the whole completion equals ``example["answer"]`` after normalisation.
math         1.0 when the completion's final answer is mathematically equal to the gold answer
             (math-verify: LaTeX, ``\\boxed{}``, fractions, decimals...).
format       1.0 when the completion matches a regular expression (default: think/answer tags).
choice       1.0 when the multiple-choice letter found in the completion is the gold letter.
code         Fraction of ``example["tests"]`` the completion's program passes, run in the sandbox.
digit_match  Partial credit: share of right-aligned positions that match the gold answer (1.0
             only when exact); a shaped reward for arithmetic.
reasoning_gym  The reasoning-gym task's own ``score_answer`` (rows from ``reasoning_gym:<task>``;
             the package is imported on first use).
===========  ===============================================================================
"""

from rewards.builtin import choice, code, digits, exact, format, math_answer, reasoning_gym_score

__all__ = ["choice", "code", "digits", "exact", "format", "math_answer", "reasoning_gym_score"]
