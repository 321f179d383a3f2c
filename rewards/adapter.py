"""Verifiers as TRL reward functions.

>>> from rewards import VerifierSpec, make_reward_funcs
>>> specs = [VerifierSpec("exact"), VerifierSpec("format", weight=0.1)]
>>> reward_funcs, reward_weights = make_reward_funcs(specs)
>>> exact = reward_funcs[0]
>>> exact(prompts=["3+4="], completions=["7"], completion_ids=[[7]], answer=["7"], id=["p0"])
[1.0]
>>> reward_weights
[1.0, 0.1]

Pass both to TRL: ``GRPOTrainer(..., reward_funcs=reward_funcs, args=GRPOConfig(...,
reward_weights=reward_weights))``.

TRL calls each function as ``f(prompts=..., completions=..., completion_ids=..., **columns)``,
with every extra dataset column as a list (one value per completion) plus ``trainer_state``,
``log_extra`` and ``log_metric``. The function rebuilds one row per completion (the columns plus
``"prompt"``), calls the verifier on each and returns one reward per completion (`None` becomes
NaN in TRL).

A failing verifier costs only the rewards it was computing: when it raises, runs past
``timeout_s`` or returns something that is not a finite number or `None`, the reward is the
spec's ``error_value`` and a `VerifierError` goes to ``error_sink`` (every failure) and to the
log at DEBUG level. The log gets one WARNING per verifier per call that had failures, with the
counts (``verifier 'math': 64 of 64 completions failed (raised KeyError: 'answer' x64; first row
id=toy-3); details in the error sink``). A verifier failing on more than its
``max_error_rate`` share of completions stops the run with `rewards.VerifierBudgetExceeded`
(see `rewards.errors`). Every call also reports ``verifiers/<name>/errors`` (errors in this
batch) and ``verifiers/<name>/latency_ms`` (mean milliseconds per completion) through
``log_metric``.

Reward functions written for TRL (``def accuracy_reward(completions, answer, **kwargs)``) can be
named like verifiers; they are called with TRL's own arguments (see `rewards.trl_style`).

Where a verifier runs is its spec's ``isolation``: ``"process"`` (the default, and what ``math``
and user verifiers get) runs it in a pool of worker processes that are killed when a completion
overruns ``timeout_s``, so even a call stuck in C code costs one reward (see `rewards.isolation`);
``"inline"`` (the registration default of ``exact``, ``format``, ``choice``, ``digit_match`` and
``code``) runs it in the training process under `rewards.timeouts`.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from rewards import isolation
from rewards.base import ErrorKind, VerifierError, call_sync
from rewards.errors import ErrorCounts, VerifierBudgetExceeded, check_error_budget, short
from rewards.outcomes import as_reward, classify_batch, short_repr
from rewards.registry import ISOLATION_MODES, get_verifier, is_batched
from rewards.timeouts import VerifierTimeout, call_with_timeout
from rewards.trl_style import STYLES, as_reward_list, call_trl_style, verifier_style

logger = logging.getLogger(__name__)

# Keyword arguments TRL passes that are not dataset columns.
_TRL_EXTRAS = ("trainer_state", "log_extra", "log_metric", "environments")


@dataclass
class VerifierSpec:
    """One verifier as a reward: which one, how much it counts, and how it may fail.

    Args:
        name (`str`):
            What `get_verifier` resolves: a registered name (``"math"``),
            ``"package.module:function"`` or ``"path/to/file.py:function"``.
        weight (`float`, *optional*, defaults to `1.0`):
            The reward's weight in TRL's weighted sum (``GRPOConfig.reward_weights``).
        timeout_s (`float`, *optional*, defaults to `10.0`):
            Wall-clock limit per completion, in seconds; a batched verifier gets ``timeout_s``
            times the batch size for the whole call. `None` or 0 disables it. See
            `rewards.timeouts` for how the limit is enforced.
        error_value (`float`, *optional*):
            Reward given when the verifier fails on a completion. `None` (the default) leaves
            the completion to the other reward functions, as "not applicable" does.
        kwargs (`dict`, *optional*):
            Keyword arguments passed to the verifier on every call (e.g. ``{"pattern": ...}``
            for ``format``).
        style (`str`, *optional*):
            Calling convention: ``"verifier"`` (``(completion, example, **kwargs)``, or the
            batched form), ``"trl"`` (a TRL reward function, ``(completions, **columns) ->
            list``, called with TRL's arguments; see `rewards.trl_style`). `None` (the default)
            detects it: a first parameter named ``completions`` or ``prompts`` means ``"trl"``.
        max_error_rate (`float`, *optional*, defaults to `0.5`):
            Error budget: once ``error_rate_min_completions`` completions have been scored, a
            verifier that failed on more than this share of them stops the run with
            `rewards.VerifierBudgetExceeded` (counts are summed over processes). `None`
            disables the check; 1.0 never trips either.
        error_rate_min_completions (`int`, *optional*, defaults to `64`):
            Completions scored before the error budget is judged (a few unlucky failures at the
            start must not stop a run).
        isolation (`str`, *optional*):
            Where the verifier runs. ``"process"``: in this process's pool of worker processes
            (`rewards.isolation`); a completion that overruns ``timeout_s`` has its worker
            killed and replaced, which stops even a call stuck in C code (a regular expression,
            a huge integer power). ``"inline"``: in the training process, interrupted as
            `rewards.timeouts` allows (not inside C code); for cheap pure-Python verifiers,
            whose per-call cost is then lowest. `None` (the default) takes the verifier's
            registration default (``register_verifier(..., isolation=...)``: ``"inline"`` for
            ``exact``, ``format``, ``choice``, ``digit_match`` and ``code``), else
            ``"process"``. A verifier that a worker cannot find (defined in ``__main__`` or
            inside a function) runs inline, with one warning.
    """

    name: str
    weight: float = 1.0
    timeout_s: float | None = 10.0
    error_value: float | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    style: str | None = None
    max_error_rate: float | None = 0.5
    error_rate_min_completions: int = 64
    isolation: str | None = None

    def __post_init__(self):
        # Config files build specs from YAML: reject bad values here, naming the field.
        problems = []
        if not isinstance(self.name, str) or not self.name:
            problems.append(f"name must be a non-empty string, got {self.name!r}")
        # Finite only: a NaN weight or error value turns every reward of the batch into NaN.
        if not (_is_number(self.weight) and math.isfinite(self.weight)):
            problems.append(f"weight must be a finite number, got {self.weight!r}")
        if self.timeout_s is not None and not (_is_number(self.timeout_s) and self.timeout_s >= 0):
            problems.append(f"timeout_s must be a number >= 0 or None, got {self.timeout_s!r}")
        if self.error_value is not None and not (_is_number(self.error_value) and math.isfinite(self.error_value)):
            problems.append(f"error_value must be a finite number or None, got {self.error_value!r}")
        if not isinstance(self.kwargs, dict):
            problems.append(f"kwargs must be a mapping, got {self.kwargs!r}")
        problems += _error_handling_problems(self)
        if self.isolation is not None and self.isolation not in ISOLATION_MODES:
            problems.append(f"isolation must be 'process', 'inline' or None, got {self.isolation!r}")
        if problems:
            raise ValueError("Invalid VerifierSpec: " + "; ".join(problems) + ".")


def make_reward_funcs(
    specs: Sequence[VerifierSpec | str],
    error_sink: Callable[[VerifierError], Any] | None = None,
) -> tuple[list[Callable], list[float]]:
    """TRL ``reward_funcs`` and ``reward_weights`` for a list of verifier specs.

    Args:
        specs (`Sequence[VerifierSpec | str]`):
            The verifiers; a plain string is ``VerifierSpec(name=string)``. Every name is
            resolved now, so a typo fails before training starts.
        error_sink (`Callable[[VerifierError], Any]`, *optional*):
            Called with each `VerifierError` (the log gets one warning per call with the
            counts). An exception it raises is logged, not propagated.

    Returns:
        `tuple[list[Callable], list[float]]`: the reward functions (each with ``__name__`` set
        to a unique display name, which TRL uses in its metric names) and their weights.

    Each function keeps its verifier's error counts. In a single-process run it raises
    `rewards.VerifierBudgetExceeded` itself once the verifier is over its error budget
    (`VerifierSpec.max_error_rate`), so a plain TRL ``GRPOTrainer`` stops too. With several
    processes, call `rewards.enforce_error_budgets(reward_funcs, accelerate.utils.gather_object)`
    on every process after the rewards (``rlvr``'s `CurriculumGRPOTrainer` does), so that all
    processes stop together.
    """
    reward_funcs: list[Callable] = []
    weights: list[float] = []
    used_names: set[str] = set()
    for spec in specs:
        if isinstance(spec, str):
            spec = VerifierSpec(name=spec)
        verifier = get_verifier(spec.name)
        name = _unique(_display_name(spec.name), used_names)
        reward_funcs.append(VerifierRewardFunc(spec, verifier, name, error_sink))
        weights.append(float(spec.weight))
    return reward_funcs, weights


class VerifierRewardFunc:
    """A TRL reward function wrapping one verifier (built by `make_reward_funcs`).

    Args:
        spec (`VerifierSpec`):
            The verifier's settings.
        verifier (`Callable`):
            The resolved verifier function.
        name (`str`):
            Display name: ``__name__``, metric names and `VerifierError.verifier`.
        error_sink (`Callable[[VerifierError], Any]`, *optional*):
            Receives each `VerifierError`.
    """

    def __init__(
        self,
        spec: VerifierSpec,
        verifier: Callable,
        name: str,
        error_sink: Callable[[VerifierError], Any] | None = None,
    ):
        self.spec = spec
        self.verifier = verifier
        self.batched = is_batched(verifier)
        self.__name__ = name
        self.error_sink = error_sink
        self.error_value = None if spec.error_value is None else float(spec.error_value)
        self.style = verifier_style(verifier, spec.style)
        # Completions and failures since the start of the run, for the error budget.
        self.error_counts = ErrorCounts()
        self.log_failures = True  # rewards.preflight probes quietly
        self._call_failures: list[VerifierError] = []
        self._budget_reported = False
        # Where the verifier runs: a worker target for the process pool, or None for inline.
        # TRL-style functions take TRL's extras (log_metric, trainer_state), which cannot be
        # sent to a worker: they run inline.
        self.worker_target = (
            None if self.style == "trl" else isolation.plan_isolation(spec.name, spec.isolation, verifier, name)
        )

    def __repr__(self) -> str:
        return f"VerifierRewardFunc({self.__name__!r}, spec={self.spec!r})"

    def __call__(
        self,
        prompts: Sequence | None = None,
        completions: Sequence | None = None,
        completion_ids: Sequence | None = None,
        **kwargs,
    ) -> list[float | None]:
        """One reward per completion; see the module docstring for the calling convention.

        Raises:
            VerifierBudgetExceeded: in a single-process run, when this call took the verifier
                past its error budget (`rewards.errors`).
        """
        log_metric = kwargs.get("log_metric")
        completions = list(completions or [])
        texts = [completion_text(completion) for completion in completions]
        examples = _rows(len(texts), prompts, kwargs)
        self._call_failures = []

        started = time.perf_counter()
        if self.style == "trl":
            rewards, errors = self._score_trl_style(prompts, completions, completion_ids, kwargs, examples)
        elif self.batched or self.worker_target is not None:
            rewards, errors = self._score_batch(texts, examples)
        else:
            rewards, errors = [], 0
            for index, (text, example) in enumerate(zip(texts, examples)):
                reward, failed = self._score_one(index, text, example)
                rewards.append(reward)
                errors += failed
        elapsed_ms = (time.perf_counter() - started) * 1000

        if log_metric is not None:
            log_metric(f"verifiers/{self.__name__}/errors", float(errors))
            log_metric(f"verifiers/{self.__name__}/latency_ms", elapsed_ms / max(len(texts), 1))
        self.error_counts.completions += len(texts)
        self._log_call_failures(len(texts))
        self._enforce_budget_alone()
        return rewards

    def _score_trl_style(
        self, prompts, completions: list, completion_ids, kwargs: dict, examples: list[dict]
    ) -> tuple[list, int]:
        """Call a TRL-style reward function once for the batch; check its return like a
        batched verifier's (one finite number or `None` per completion)."""
        count = len(completions)
        failure: tuple[ErrorKind, str, str] | None = None
        try:
            values = call_trl_style(
                self.verifier,
                self.spec.timeout_s,
                prompts,
                completions,
                completion_ids,
                kwargs,
                self.spec.kwargs,
            )
        except VerifierTimeout:
            limit = self.spec.timeout_s * count
            failure = ("timeout", "TimeoutError", f"batch of {count} gave no result within {limit:g} s")
        except (Exception, SystemExit) as err:  # noqa: BLE001 - isolation is the point
            failure = ("raised", type(err).__name__, str(err))
        else:
            rewards_list = as_reward_list(values, count)
            if rewards_list is None:
                failure = ("bad_return", "TypeError", f"expected a list of {count} rewards, got {short_repr(values)}")
        if failure is not None:
            for index, example in enumerate(examples):
                self._report(index, example, *failure)
            return [self.error_value] * count, count
        return self._checked_rewards(rewards_list, examples)

    def _checked_rewards(self, values: list, examples: list[dict]) -> tuple[list, int]:
        """Each value as a reward, or ``error_value`` (reported) when it is not a finite number
        or `None`; and the number of such errors."""
        rewards, errors = [], 0
        for index, (value, example) in enumerate(zip(values, examples)):
            reward, problem = as_reward(value)
            if problem is not None:
                self._report(index, example, "bad_return", "TypeError", problem)
                reward, errors = self.error_value, errors + 1
            rewards.append(reward)
        return rewards, errors

    def _log_call_failures(self, completions: int) -> None:
        """One WARNING for this call's failures (each one is at DEBUG and in the sink)."""
        failures = self._call_failures
        if not failures or not self.log_failures:
            return
        groups = Counter((f.kind, f.exception_type, short(f.message, 100)) for f in failures).most_common()
        shown = [f"{kind} {etype}: {message} x{n}" for (kind, etype, message), n in groups[:3]]
        if len(groups) > 3:
            shown.append(f"{len(groups) - 3} other error(s) x{sum(n for _, n in groups[3:])}")
        where = (
            "details in the error sink"
            if self.error_sink is not None
            else f"details at DEBUG level (logger {logger.name})"
        )
        logger.warning(
            "verifier '%s': %d of %d completions failed (%s; first row id=%s); %s",
            self.__name__,
            len(failures),
            completions,
            ", ".join(shown),
            failures[0].prompt_id,
            where,
        )

    def _enforce_budget_alone(self) -> None:
        """Stop a single-process run that went over the error budget. With several processes
        a reward function must not raise alone (the others would wait in the next collective
        forever): the trainer calls `rewards.errors.enforce_error_budgets` on every process."""
        message = check_error_budget(
            self.__name__,
            self.error_counts,
            self.spec.max_error_rate,
            self.spec.error_rate_min_completions,
        )
        if message is None:
            return
        if _world_size() == 1:
            raise VerifierBudgetExceeded(message)
        if not self._budget_reported:
            self._budget_reported = True
            logger.error(
                "%s (On this process; with several processes the trainer decides on "
                "the counts of all, via rewards.enforce_error_budgets.)",
                message,
            )

    def _score_one(self, index: int, text: str, example: dict) -> tuple[float | None, bool]:
        call = partial(call_sync, self.verifier, text, example, **self.spec.kwargs)
        try:
            value = call_with_timeout(call, self.spec.timeout_s)
        except VerifierTimeout:
            self._report(
                index,
                example,
                "timeout",
                "TimeoutError",
                f"no result within {self.spec.timeout_s:g} s",
            )
            return self.error_value, True
        except (Exception, SystemExit) as err:  # noqa: BLE001 - isolation is the point
            self._report(index, example, "raised", type(err).__name__, str(err))
            return self.error_value, True
        reward, problem = as_reward(value)
        if problem is not None:
            self._report(index, example, "bad_return", "TypeError", problem)
            return self.error_value, True
        return reward, False

    def _score_batch(self, texts: list[str], examples: list[dict]) -> tuple[list, int]:
        """Rewards and error count for a whole batch: in the worker pool when the verifier is
        process-isolated, else one batched call (inline) or one `_score_one` per completion."""
        if self.worker_target is not None:
            try:
                return self._score_in_workers(texts, examples)
            except isolation.PoolClosed as err:  # exiting: never fall back to inline here
                return self._batch_rewards(examples, ("raised", "PoolClosed", str(err)))
            except isolation.WorkerUnavailable as err:
                isolation.warn_not_killable(self.__name__, str(err))
                self.worker_target = None
        if not self.batched:
            outcomes = [self._score_one(i, t, e) for i, (t, e) in enumerate(zip(texts, examples))]
            return [reward for reward, _ in outcomes], sum(failed for _, failed in outcomes)
        timeout = self.spec.timeout_s * len(texts) if self.spec.timeout_s else None
        call = partial(call_sync, self.verifier, texts, examples, **self.spec.kwargs)
        try:
            outcome = classify_batch(call_with_timeout(call, timeout), len(texts))
        except VerifierTimeout:
            outcome = ("timeout", "TimeoutError", f"no result within {timeout:g} s")
        except (Exception, SystemExit) as err:  # noqa: BLE001
            outcome = ("raised", type(err).__name__, str(err))
        return self._batch_rewards(examples, outcome)

    def _score_in_workers(self, texts: list[str], examples: list[dict]) -> tuple[list, int]:
        pool = isolation.get_pool()
        timeout = self.spec.timeout_s or None
        if self.batched:
            # Whole-call semantics, as inline: one call, timeout_s per completion in total.
            total = timeout * len(texts) if timeout else None
            (outcome,) = pool.run(self.worker_target, self.spec.kwargs, [(texts, examples)], total)
            return self._batch_rewards(examples, outcome)
        outcomes = pool.run(self.worker_target, self.spec.kwargs, list(zip(texts, examples)), timeout)
        rewards, errors = [], 0
        for index, (outcome, example) in enumerate(zip(outcomes, examples)):
            if outcome[0] == "ok":
                rewards.append(outcome[1])
                continue
            self._report(index, example, *outcome)
            rewards.append(self.error_value)
            errors += 1
        return rewards, errors

    def _batch_rewards(self, examples: list[dict], outcome: tuple) -> tuple[list, int]:
        """Rewards from a batched call's outcome: ``("ok", [(reward, problem), ...])``, or a
        failure ``(kind, exception_type, message)`` that costs every reward of the batch."""
        if outcome[0] != "ok":
            kind, exception_type, message = outcome
            if kind == "timeout":
                message = f"batch of {len(examples)} gave {message}"
            for index, example in enumerate(examples):
                self._report(index, example, kind, exception_type, message)
            return [self.error_value] * len(examples), len(examples)
        rewards, errors = [], 0
        for index, ((reward, problem), example) in enumerate(zip(outcome[1], examples)):
            if problem is not None:
                self._report(index, example, "bad_return", "TypeError", problem)
                reward, errors = self.error_value, errors + 1
            rewards.append(reward)
        return rewards, errors

    def _report(self, index: int, example: Mapping, kind: ErrorKind, exception_type: str, message: str):
        prompt_id = example.get("id")
        record = VerifierError(
            verifier=self.__name__,
            prompt_id=str(index if prompt_id is None else prompt_id),
            kind=kind,
            exception_type=exception_type,
            message=message,
        )
        # Per completion at DEBUG only: `__call__` logs one WARNING per call with the counts.
        logger.debug("%s", record)
        self._call_failures.append(record)
        self.error_counts.add_failure(record, example)
        if self.error_sink is not None:
            try:
                self.error_sink(record)
            except Exception:  # a broken sink must not stop scoring
                logger.exception("error_sink raised while handling %s", record)


def completion_text(completion: Any) -> str:
    """The text of a completion: a string as is; for chat format (a list of messages), the
    content of the last message (text parts joined when the content is a list of parts)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        completion = [completion]
    if isinstance(completion, Sequence) and completion:
        content = completion[-1].get("content", "") if isinstance(completion[-1], Mapping) else completion[-1]
        if isinstance(content, str):
            return content
        if isinstance(content, Sequence):
            return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
        return "" if content is None else str(content)
    return "" if completion is None else str(completion)


def _rows(count: int, prompts: Sequence | None, columns: Mapping[str, Any]) -> list[dict]:
    """One dict per completion from TRL's column lists (plus ``"prompt"``)."""
    per_row = {
        key: values
        for key, values in columns.items()
        if key not in _TRL_EXTRAS and isinstance(values, (list, tuple)) and len(values) == count
    }
    rows = [{key: values[index] for key, values in per_row.items()} for index in range(count)]
    if prompts is not None and len(prompts) == count:
        for row, prompt in zip(rows, prompts):
            row.setdefault("prompt", prompt)
    return rows


def _error_handling_problems(spec: VerifierSpec) -> list[str]:
    """`VerifierSpec.__post_init__`'s checks of ``style`` and the error budget."""
    problems = []
    if spec.style is not None and spec.style not in STYLES:
        problems.append(f"style must be one of {', '.join(map(repr, STYLES))} or None (detect), got {spec.style!r}")
    rate = spec.max_error_rate
    if rate is not None and not (_is_number(rate) and 0 <= rate <= 1):
        problems.append(f"max_error_rate must be a number in [0, 1] or None (no budget), got {rate!r}")
    least = spec.error_rate_min_completions
    if not (isinstance(least, int) and not isinstance(least, bool) and least >= 1):
        problems.append(f"error_rate_min_completions must be an integer >= 1, got {least!r}")
    return problems


def _world_size() -> int:
    """Processes in this run: torch.distributed's world when it is up, else accelerate's /
    torchrun's ``WORLD_SIZE`` (rewards does not import torch itself)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _display_name(spec_name: str) -> str:
    # "pkg.mod:func" and "dir/file.py:func" are shown as "func": TRL puts the name in metric keys.
    return spec_name.rpartition(":")[2] if ":" in spec_name else spec_name


def _unique(name: str, used: set[str]) -> str:
    candidate, suffix = name, 2
    while candidate in used:
        candidate, suffix = f"{name}_{suffix}", suffix + 1
    used.add(candidate)
    return candidate
