"""Broken verifiers stop the run: error counts, the error budget and its exceptions.

A verifier failure (it raised, ran past its time limit, or returned something that is not a
finite number or `None`) costs one reward and is recorded (see `rewards.adapter`). One failure
is bad luck; a verifier that fails on most completions is broken (a wrong column name, a bad
keyword argument) and would silently train on nothing. Each `VerifierRewardFunc` therefore
counts its completions and failures (`ErrorCounts`), and `check_error_budget` turns the counts
into a decision: once at least ``VerifierSpec.error_rate_min_completions`` completions (default
64) have been scored, a verifier whose share of failures is above ``VerifierSpec.max_error_rate``
(default 0.5) stops the run with `VerifierBudgetExceeded`. The counts are cumulative from the
start of the run (or resume); ``max_error_rate=None`` turns the check off.

Who raises:

- one process: the reward function itself, at the end of the call that exceeded the budget (so
  a plain TRL ``GRPOTrainer`` given `make_reward_funcs`'s functions stops too);
- several processes: a reward function cannot stop alone (the other processes would wait in
  the next collective forever), so every process calls `enforce_error_budgets` with a gather
  function at the same point (`rlvr.trainer.CurriculumGRPOTrainer._calculate_rewards` does):
  the decision is taken on counts summed over all processes, identically everywhere.

`rewards.preflight` (module `rewards.probes`) catches the most broken verifiers before training
starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewards.base import UserInputError, VerifierError

# Distinct "kind exception_type" keys kept per verifier; more are counted under "other" so that
# the counts gathered across processes at every step stay small.
_MAX_ERROR_KEYS = 8
_OTHER = "other"


class BrokenVerifierError(UserInputError):
    """A verifier is broken beyond one bad reward; the message says which, why and on what row.

    A user error: the message alone is enough (no traceback needed). Subclasses say when it
    was found: `VerifierPreflightError` (before training) and `VerifierBudgetExceeded`
    (during training).
    """


class VerifierBudgetExceeded(BrokenVerifierError):
    """A verifier failed on more than ``max_error_rate`` of its completions."""


class VerifierPreflightError(BrokenVerifierError):
    """A verifier failed on every probe of `rewards.preflight` (before any model loads)."""


@dataclass(frozen=True)
class FailureSample:
    """One failure with the row it happened on, to show in a message.

    Args:
        error (`VerifierError`):
            The failure record.
        fields (`dict[str, str]`):
            The row's columns, each value as a short ``repr``.
    """

    error: VerifierError
    fields: dict[str, str]

    def describe(self) -> str:
        shown = ", ".join(f"{key}={value}" for key, value in self.fields.items())
        return f"row id={self.error.prompt_id} with fields {{{shown}}}"


@dataclass
class ErrorCounts:
    """A verifier's completions and failures so far (on one process, or summed over several).

    Args:
        completions (`int`):
            Completions scored (failed ones included).
        failures (`int`):
            Completions whose reward was lost to a failure.
        by_error (`dict[str, int]`):
            Failures per ``"<kind> <exception type>"`` (e.g. ``"raised KeyError"``).
        first_message (`dict[str, str]`):
            The first message seen for each key of ``by_error``.
        sample (`FailureSample`, *optional*):
            The first failure, with its row.
    """

    completions: int = 0
    failures: int = 0
    by_error: dict[str, int] = field(default_factory=dict)
    first_message: dict[str, str] = field(default_factory=dict)
    sample: FailureSample | None = None

    def add_failure(self, error: VerifierError, row: Mapping) -> None:
        """Count one failure (``completions`` is counted separately, per call)."""
        self.failures += 1
        key = f"{error.kind} {error.exception_type}"
        if key not in self.by_error and len(self.by_error) >= _MAX_ERROR_KEYS:
            key = _OTHER
        self.by_error[key] = self.by_error.get(key, 0) + 1
        self.first_message.setdefault(key, error.message)
        if self.sample is None:
            self.sample = FailureSample(error, row_fields(row))

    @classmethod
    def merged(cls, parts: Sequence[ErrorCounts]) -> ErrorCounts:
        """The sum of several processes' counts; the sample and messages of the first (in
        rank order) that has one, so every process builds the same result."""
        total = cls()
        for part in parts:
            total.completions += part.completions
            total.failures += part.failures
            for key, count in part.by_error.items():
                total.by_error[key] = total.by_error.get(key, 0) + count
            for key, message in part.first_message.items():
                total.first_message.setdefault(key, message)
            if total.sample is None:
                total.sample = part.sample
        return total

    def summary(self) -> str:
        """``raised KeyError x64 ('answer')``, most frequent first, ``; ``-separated."""
        ranked = sorted(self.by_error.items(), key=lambda item: (-item[1], item[0]))
        return "; ".join(f"{key} x{count} ({short(self.first_message.get(key, ''), 120)})" for key, count in ranked)


def check_error_budget(
    verifier: str, counts: ErrorCounts, max_error_rate: float | None, min_completions: int
) -> str | None:
    """Why ``verifier`` must stop the run, or `None` while it is within its error budget.

    A pure function of its arguments, so that processes holding the same (gathered) counts take
    the same decision.

    Args:
        verifier (`str`):
            The verifier's display name.
        counts (`ErrorCounts`):
            Its completions and failures so far.
        max_error_rate (`float` or `None`):
            Largest tolerated share of failed completions; `None` never stops.
        min_completions (`int`):
            Completions to score before the share is judged.

    Returns:
        `str` or `None`: the message for `VerifierBudgetExceeded`, naming the verifier, the
        errors, and the first failing row's id and fields.

    Example:

    >>> counts = ErrorCounts(completions=64, failures=40, by_error={"raised KeyError": 40},
    ...                      first_message={"raised KeyError": "'answer'"})
    >>> print(check_error_budget("math", counts, max_error_rate=0.5, min_completions=64))
    Verifier 'math' failed on 40 of 64 completions (62%), more than its error budget ...
    >>> check_error_budget("math", counts, max_error_rate=None, min_completions=64) is None
    True
    """
    if max_error_rate is None or counts.completions < max(min_completions, 1):
        return None
    rate = counts.failures / counts.completions
    if rate <= max_error_rate:
        return None
    first = f" First failure: {counts.sample.describe()}." if counts.sample is not None else ""
    return (
        f"Verifier '{verifier}' failed on {counts.failures} of {counts.completions} completions "
        f"({rate:.0%}), more than its error budget (max_error_rate={max_error_rate:g}, judged "
        f"after {min_completions} completions): {counts.summary()}.{first} Fix the verifier "
        "(every failure went to the error sink, verifier_errors.rank*.jsonl under `rlvr train`), "
        "or raise or disable the budget with the verifier's max_error_rate (null disables)."
    )


def enforce_error_budgets(reward_funcs: Sequence[Callable], gather: Callable[[list], list] | None = None) -> None:
    """Raise `VerifierBudgetExceeded` if a reward function is over its error budget.

    Call it at the same point on every process (it gathers): the decision uses the counts of all
    processes, so every process raises, or none does.

    Args:
        reward_funcs (`Sequence[Callable]`):
            The trainer's reward functions; those without ``error_counts`` (not made by
            `make_reward_funcs`) or with ``max_error_rate=None`` are ignored.
        gather (`Callable[[list], list]`, *optional*):
            ``accelerate.utils.gather_object``: one process's list in, the concatenation of every
            process's list (in rank order) out. `None`: this process's counts only.
    """
    checked = [
        func
        for func in reward_funcs
        if isinstance(getattr(func, "error_counts", None), ErrorCounts) and func.spec.max_error_rate is not None
    ]
    if not checked:  # the same on every process: it depends on the configuration only
        return
    local = [func.error_counts for func in checked]
    everyone = gather(local) if gather is not None else local
    for position, func in enumerate(checked):
        parts = everyone[position :: len(checked)]
        message = check_error_budget(
            func.__name__,
            ErrorCounts.merged(parts),
            func.spec.max_error_rate,
            func.spec.error_rate_min_completions,
        )
        if message is not None:
            raise VerifierBudgetExceeded(message)


def row_fields(row: Mapping) -> dict[str, str]:
    """A row's columns as short ``repr``\\s, for messages (long prompts are cut)."""
    return {str(key): short(repr(value), 60) for key, value in row.items()}


def short(text: Any, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
