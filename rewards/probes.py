"""Try every verifier on a few dataset rows before any model loads.

A verifier with a wrong column name, a bad keyword argument or the wrong return shape fails on
every completion. Training would find out only after the model loaded and the first batch was
generated, then train on nothing; `preflight` finds out in seconds. For each of the first
``n`` rows it calls each reward function twice, the way TRL does: with the row's gold answer as
the completion, and with an empty completion (a model that stops at once produces one).

- A verifier that fails (raises, times out, returns something that is not a finite number or
  `None`) on the gold answer of every probed row, or on every probe, raises
  `VerifierPreflightError`, naming the verifier, the error and the first failing row.
- A verifier that fails only on the empty completion of every row gets a warning: training will
  show it wrong completions most of the time, and the error budget (`rewards.errors`) will stop
  the run if it keeps failing on them.

Returning 0 or `None` is never a failure (``format`` gives 0 to a bare gold answer; a verifier
may not apply to a row), so legitimate verifiers pass.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

from rewards.adapter import VerifierRewardFunc, VerifierSpec
from rewards.base import VerifierError
from rewards.errors import VerifierPreflightError, row_fields, short

logger = logging.getLogger(__name__)

# Columns holding the gold answer, in order of preference ("solution" is TRL's examples' name).
GOLD_COLUMNS = ("answer", "solution")


def preflight(reward_funcs: Sequence[Callable], rows: Iterable[Mapping], n: int = 8) -> dict[str, dict[str, int]]:
    """Call each reward function on the first ``n`` rows; raise if one is plainly broken.

    Args:
        reward_funcs (`Sequence[Callable]`):
            What `make_reward_funcs` returned, or plain TRL-style reward functions. Reward models
            (``torch.nn.Module``) and coroutine functions are skipped.
        rows (`Iterable[Mapping]`):
            Training rows (a `datasets.Dataset` or a list of dicts) with a ``prompt`` column and
            the columns the verifiers read.
        n (`int`, *optional*, defaults to `8`):
            Rows to probe.

    Returns:
        `dict[str, dict[str, int]]`: per verifier name, ``probes`` and ``failures`` counts.

    Raises:
        VerifierPreflightError: naming the verifier, its error and the first failing row.
    """
    sample = [dict(row) for row in itertools.islice(iter(rows), n)]
    results = {}
    rewarded = False  # did any function give any probe a number?
    for func in reward_funcs:
        probe = _probe_copy(func)
        if probe is None or not sample:
            continue
        gold, empty, rewards = _run_probes(probe, sample)
        failures = sum(failure is not None for _, failure in gold + empty)
        results[probe.__name__] = {"probes": len(gold) + len(empty), "failures": failures}
        _judge(probe.__name__, sample, gold, empty)
        rewarded = rewarded or any(reward is not None for reward in rewards)
    if results and len(results) == len(reward_funcs) and not rewarded:
        # None is "not applicable"; if every function says so for every probe, TRL sums nothing:
        # every reward is 0, the loss is 0 and the run trains on nothing (it exited 0).
        raise VerifierPreflightError(
            f"No reward function gave a reward to any probe of the first {len(sample)} rows before "
            f"training: {', '.join(results)} returned None ('not applicable') for the gold answer "
            "and the empty completion of every row. Training would have no reward signal; check "
            "the verifier's column names and the rows' gold answers."
        )
    return results


def _probe_copy(func: Callable) -> VerifierRewardFunc | None:
    """A quiet copy of ``func`` that collects its failures, leaving ``func``'s error counts,
    error sink and log alone; `None` for what cannot be probed."""
    if isinstance(func, VerifierRewardFunc):
        spec = dataclasses.replace(func.spec, max_error_rate=None)
        copy = VerifierRewardFunc(spec, func.verifier, func.__name__)
    elif inspect.iscoroutinefunction(func) or hasattr(func, "parameters") or not callable(func):
        return None  # reward models and async functions: TRL's business
    else:
        name = getattr(func, "__name__", type(func).__name__)
        copy = VerifierRewardFunc(VerifierSpec(name, style="trl", max_error_rate=None), func, name)
    copy.log_failures = False
    return copy


def _run_probes(probe: VerifierRewardFunc, sample: list[dict]) -> tuple[list, list, list]:
    """``(row, failure or None)`` for each gold-answer probe (rows with a gold answer only) and
    for each empty-completion probe, in row order; and every reward the probes got."""
    gold_rows = [row for row in sample if _gold(row) is not None]
    rewards: list = []
    gold = _probe(probe, gold_rows, [_gold(row) for row in gold_rows], rewards)
    empty = _probe(probe, sample, [""] * len(sample), rewards)
    return list(zip(gold_rows, gold)), list(zip(sample, empty)), rewards


def _probe(probe: VerifierRewardFunc, rows: list[dict], texts: list[str], rewards: list) -> list:
    """Score ``texts`` against ``rows`` in one TRL-style call; each row's failure or `None`
    (the rewards are appended to ``rewards``)."""
    if not rows:
        return []
    records: list[VerifierError] = []
    probe.error_sink = records.append
    columns = {key: [row.get(key) for row in rows] for key in rows[0] if key != "prompt"}
    prompts = [row.get("prompt", "") for row in rows]
    # Conversational data gets chat completions, as TRL would pass them.
    completions = [
        [{"role": "assistant", "content": text}] if isinstance(prompt, list) else text
        for prompt, text in zip(prompts, texts)
    ]
    rewards += probe(
        prompts=prompts,
        completions=completions,
        completion_ids=[[] for _ in rows],
        trainer_state=None,
        log_extra=lambda *args, **kwargs: None,
        log_metric=lambda *args, **kwargs: None,
        **columns,
    )
    by_id: dict[str, VerifierError] = {}
    for record in records:
        by_id.setdefault(record.prompt_id, record)
    return [by_id.get(_row_key(row, index)) for index, row in enumerate(rows)]


def _row_key(row: Mapping, index: int) -> str:
    # How the adapter names a row in a VerifierError: its id, else its index in the call.
    return str(index if row.get("id") is None else row["id"])


def _judge(name: str, sample: list[dict], gold: list, empty: list) -> None:
    """Raise if every gold probe, or every probe, failed; warn if every empty one did."""
    every_gold = bool(gold) and all(failure is not None for _, failure in gold)
    every_probe = all(failure is not None for _, failure in gold + empty)
    if every_gold or every_probe:
        row, first = next((row, failure) for row, failure in gold + empty if failure is not None)
        what = "the gold answer of every probed row" if every_gold else "every probe"
        raise VerifierPreflightError(
            f"Verifier '{name}' failed on {what} (first {len(sample)} rows) before training: "
            f"{first.kind} {first.exception_type}: {short(first.message, 300)}. First failing "
            f"row id={first.prompt_id} with fields {_fields(row)}. Fix the verifier or its "
            "settings (a column name, a keyword argument, the return type: one number or None "
            "per completion)."
        )
    if empty and all(failure is not None for _, failure in empty):
        first = empty[0][1]
        logger.warning(
            "Preflight: verifier '%s' failed on the empty completion of every probed row "
            "(%s %s: %s); training will show it many wrong completions: return 0.0 for them "
            "instead of failing, or the error budget may stop the run.",
            name,
            first.kind,
            first.exception_type,
            short(first.message, 200),
        )


def _gold(row: Mapping) -> str | None:
    for column in GOLD_COLUMNS:
        if row.get(column) is not None:
            return str(row[column])
    return None


def _fields(row: Mapping) -> str:
    return "{" + ", ".join(f"{key}={value}" for key, value in row_fields(row).items()) + "}"
