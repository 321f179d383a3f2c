"""The frontier filter: spend rollouts only on prompts the policy can sometimes solve.

Pass rates are estimated from the GRPO groups the trainer generates anyway. A prompt is
dropped as *too hard* once the upper confidence bound of its pass rate falls below ``low``
(GRPO would otherwise turn its rare accidental successes into huge advantages), and
optionally as *too easy* once the lower bound rises above ``high`` (its groups carry no
advantage). Dropped prompts are re-probed on a schedule, because the policy moves: a
too-hard prompt that starts succeeding comes back.

Optionally (``skip_zero_variance``) prompts are also skipped *before* rollout from their recent
history, as GRESO (arXiv 2506.02177) does: a prompt whose last groups all had equal rewards is
likely to have them again, so it is rolled out only with a probability that shrinks with the
length of that streak. A skip is not a drop: no bound is involved and the prompt stays active.

All per-prompt state lives in one place, ``FrontierFilter.columns``: one numpy array per field of
`PromptStats`, indexed by the prompt's row (32 bytes a prompt; ``stats(prompt_id)`` builds one
prompt's `PromptStats` on demand). With the two skip probabilities ``FrontierFilter.explore`` it is
saved with checkpoints through ``state_dict()``, as numpy arrays (``np.savez``, no JSON).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from curricula.base import (  # count_successes: re-exported, its old home
    DROPPED,
    KEPT,
    PROBED,
    READMITTED,
    SKIPPED,
    Decision,
    GroupResult,
    count_successes,
    zero_variance,
)
from curricula.config import FrontierConfig
from curricula.stats import pass_rate_bounds

logger = logging.getLogger(__name__)

ACTIVE, TOO_HARD, TOO_EASY = "active", "too_hard", "too_easy"
EASY, HARD = "easy", "hard"  # kinds of zero-variance group: all correct / all wrong

# The per-prompt arrays: name -> dtype, 32 bytes a prompt in all. Counters saturate at their
# dtype's maximum instead of wrapping round (visits and unscored at 65,535, probes at 255, the
# streak at 32,767, the others at ~4.3e9), far beyond any run: a saturated count stays put.
# ``status`` holds an index into `STATUSES`; the two steps hold -1 for None; ``zero_variance_run``
# is the streak signed by its kind (+n: n visits all correct, -n: all wrong, 0: no streak),
# since a streak has a kind exactly when it is not 0.
COLUMNS = {
    "trials": np.uint32,
    "successes": np.uint32,
    "unscored": np.uint16,
    "visits": np.uint16,
    "total_trials": np.uint32,
    "total_successes": np.uint32,
    "status": np.uint8,
    "dropped_step": np.int32,
    "last_probe_step": np.int32,
    "probes": np.uint8,
    "zero_variance_run": np.int16,
}
COUNTERS = ("trials", "successes", "unscored", "visits", "total_trials", "total_successes", "probes")
STEPS = ("dropped_step", "last_probe_step")
STATUSES = (ACTIVE, TOO_HARD, TOO_EASY)  # the ``status`` array's codes, in order
STATUS_CODE = {status: code for code, status in enumerate(STATUSES)}
STATE_VERSION = 1  # of `FrontierFilter.state_dict`'s arrays (an old checkpoint's JSON has none)
_CAP = {name: int(np.iinfo(dtype).max) for name, dtype in COLUMNS.items()}


@dataclass
class PromptStats:
    """What the filter knows about one prompt.

    ``trials``/``successes`` count scored rollouts since the prompt was (re)admitted; the
    ``total_*`` counters never reset and feed the audit's pass-rate history.
    ``zero_variance_streak`` counts its latest consecutive visits whose groups had equal rewards
    (of kind ``streak_kind``: all correct or all wrong); it drives pre-rollout skipping.
    """

    trials: int = 0
    successes: int = 0
    unscored: int = 0
    visits: int = 0
    total_trials: int = 0
    total_successes: int = 0
    status: str = ACTIVE
    dropped_step: int | None = None
    last_probe_step: int | None = None
    probes: int = 0
    zero_variance_streak: int = 0
    streak_kind: str | None = None

    @property
    def pass_rate(self) -> float:
        return self.successes / self.trials if self.trials else math.nan


def rollout_probability(streak: int, explore: float, floor: float) -> float:
    """Probability that a prompt with ``streak`` consecutive zero-variance visits is rolled out:
    ``explore ** streak``, never below ``floor`` (1 for a prompt without a streak)."""
    return max(explore**streak, floor) if streak > 0 else 1.0


def skip_coin(seed: int, step: int, prompt_id: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, step, prompt id): every process, and a resumed
    run, draws the same coin for the same prompt at the same step."""
    digest = hashlib.blake2b(f"{seed}:{step}:{prompt_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def _digits_for(value: float, threshold: float) -> str:
    """``value`` with 2 decimals, or as many more as it takes to print it on its side of
    ``threshold``: an upper bound of 0.1455 against low 0.15 prints as 0.145, not 0.15."""
    for digits in range(2, 12):
        text = f"{value:.{digits}f}"
        if (float(text) < threshold) == (value < threshold) and float(text) != threshold:
            return text
    return repr(value)


class FrontierFilter:
    """Drops prompts whose pass rate is confidently below ``low`` (or above ``high``).

    Args:
        config: The `FrontierConfig`.
        prompt_ids: Every prompt id of the training pool (fixes the pool size for the floor);
            prompt ``prompt_ids[i]`` has row ``i`` of the arrays. Kept, not copied.
        index_of: ``prompt_ids``' id -> row, when the caller has one already (the trainer's
            ``index_of``: a second dict of a million ids would cost ~100 B a prompt); kept, never
            changed. Built when not given.
    """

    name = "frontier"

    def __init__(self, config: FrontierConfig, prompt_ids: Sequence[str], index_of: Mapping[str, int] | None = None):
        self.config = config
        self.prompt_ids = prompt_ids
        self.index_of = index_of if index_of is not None else {pid: i for i, pid in enumerate(prompt_ids)}
        if len(self.index_of) != len(prompt_ids):
            raise ValueError(f"index_of has {len(self.index_of)} ids for a pool of {len(prompt_ids)}.")
        # Prompts observed outside the pool it was built with: tracked too, in rows after the pool's.
        self.extra_ids: list[str] = []
        self.extra_rows: dict[str, int] = {}
        self.columns = {name: self._default_column(name, len(prompt_ids)) for name in COLUMNS}
        self.pool_size = len(prompt_ids)
        self._active = self.pool_size
        self._status_counts = Counter({ACTIVE: self.pool_size})  # kept per change: counts() is per step
        self.floor_warned = False
        # Base rollout probability of prompts on a zero-variance streak, per kind (adapted per step).
        self.explore = {EASY: config.skip_explore, HARD: config.skip_explore}

    # -- the per-prompt arrays ---------------------------------------------------------------
    @staticmethod
    def _default_column(name: str, rows: int) -> np.ndarray:
        return np.full(rows, -1 if name in STEPS else 0, dtype=COLUMNS[name])

    @property
    def num_rows(self) -> int:
        return len(self.prompt_ids) + len(self.extra_ids)

    def _row(self, prompt_id: str) -> int | None:
        row = self.index_of.get(prompt_id)
        return self.extra_rows.get(prompt_id) if row is None else row

    def _add_row(self, prompt_id: str) -> int:
        """A row for a prompt outside the pool. Copies every array: rare (the trainer's pool holds
        every prompt it trains on), so kept simple rather than amortised."""
        row = self.num_rows
        self.extra_rows[prompt_id] = row
        self.extra_ids.append(prompt_id)
        for name, column in self.columns.items():
            self.columns[name] = np.concatenate([column, self._default_column(name, 1)])
        return row

    def _load(self, row: int) -> PromptStats:
        """Row ``row`` as a `PromptStats` of Python values (audit records need plain ints)."""
        columns = self.columns
        run = int(columns["zero_variance_run"][row])
        steps = [int(columns[name][row]) for name in STEPS]
        return PromptStats(
            **{name: int(columns[name][row]) for name in COUNTERS},
            status=STATUSES[columns["status"][row]],
            dropped_step=None if steps[0] < 0 else steps[0],
            last_probe_step=None if steps[1] < 0 else steps[1],
            zero_variance_streak=abs(run),
            streak_kind=EASY if run > 0 else HARD if run < 0 else None,
        )

    def _store(self, row: int, stats: PromptStats) -> None:
        """Write ``stats`` back into row ``row``, counters saturated (see `COLUMNS`)."""
        columns = self.columns
        for name in COUNTERS:
            columns[name][row] = min(getattr(stats, name), _CAP[name])
        columns["status"][row] = STATUS_CODE[stats.status]
        columns["dropped_step"][row] = -1 if stats.dropped_step is None else stats.dropped_step
        columns["last_probe_step"][row] = -1 if stats.last_probe_step is None else stats.last_probe_step
        streak = min(stats.zero_variance_streak, _CAP["zero_variance_run"])
        columns["zero_variance_run"][row] = -streak if stats.streak_kind == HARD else streak

    def stats(self, prompt_id: str) -> PromptStats:
        """What the filter knows about one prompt, built on demand (a copy: changing it changes nothing)."""
        row = self._row(prompt_id)
        if row is None:
            raise KeyError(f"the frontier filter has no prompt {prompt_id!r}")
        return self._load(row)

    def all_stats(self) -> dict[str, PromptStats]:
        """Every prompt's `PromptStats`, by id (pool order, then prompts seen outside it). One
        object per prompt: for reports and tests, not for every step of a large pool."""
        return {self._id_at(row): self._load(row) for row in range(self.num_rows)}

    def excluded_ids(self) -> list[str]:
        """The ids of the prompts dropped now (too hard or too easy), in row order."""
        return [self._id_at(row) for row in np.flatnonzero(self.columns["status"] != STATUS_CODE[ACTIVE]).tolist()]

    def _id_at(self, row: int) -> str:
        pool = len(self.prompt_ids)
        return self.prompt_ids[row] if row < pool else self.extra_ids[row - pool]

    def nbytes_per_prompt(self) -> float:
        """Bytes of state per prompt, everything included (like `PassRatePredictor.nbytes_per_prompt`)."""
        return sum(v.nbytes for v in self.state_dict().values()) / max(self.num_rows, 1)

    # -- queries the trainer makes before generation --------------------------------------
    def is_excluded(self, prompt_id: str) -> bool:
        row = self._row(prompt_id)
        return row is not None and not self._is_active(row)

    def _is_active(self, row: int) -> bool:
        return self.columns["status"][row] == STATUS_CODE[ACTIVE]

    def wants_probe(self, prompt_id: str, step: int) -> bool:
        """True when an excluded prompt is due for a re-probe at ``step``."""
        row = self._row(prompt_id)
        if row is None or self._is_active(row) or self.config.reprobe_interval is None:
            return False
        # An excluded prompt always has its dropped step; a missing probe step is -1, below it.
        since = max(int(self.columns["dropped_step"][row]), int(self.columns["last_probe_step"][row]))
        return step - since >= self.config.reprobe_interval

    def skip_chance(self, prompt_id: str) -> float:
        """This prompt's current rollout probability under pre-rollout skipping (1 = never skipped)."""
        row = self._row(prompt_id)
        if not self.config.skip_zero_variance or row is None or not self._is_active(row):
            return 1.0
        run = int(self.columns["zero_variance_run"][row])
        if not run:
            return 1.0
        return rollout_probability(abs(run), self.explore[EASY if run > 0 else HARD], self.config.skip_explore_min)

    def skips(self, prompt_id: str, step: int, seed: int) -> bool:
        """True when an active prompt is skipped before rollout at ``step`` (same answer on every call)."""
        chance = self.skip_chance(prompt_id)
        return chance < 1.0 and skip_coin(seed, step, prompt_id) >= chance

    def skip_decision(
        self, prompt_id: str, step: int, seed: int, columns: dict | None = None, prompt_hash: str = ""
    ) -> Decision | None:
        """The audit record of skipping ``prompt_id`` at ``step``, or ``None`` if it is rolled out."""
        chance, coin = self.skip_chance(prompt_id), skip_coin(seed, step, prompt_id)
        if chance >= 1.0 or coin < chance:
            return None
        stats = self.stats(prompt_id)
        kind, streak = stats.streak_kind, stats.zero_variance_streak
        what = "all correct" if kind == EASY else "all wrong"
        visits = "visit" if streak == 1 else f"{streak} visits"
        message = (
            f"skipped before rollout: its last {visits} gave zero-variance groups ({what}); rolled out "
            f"with probability {chance:.2f} (explore {self.explore[kind]:.2f}^{streak}, floor "
            f"{self.config.skip_explore_min:g})"
        )
        numbers = {
            "streak": streak,
            "kind": kind,
            "explore": round(self.explore[kind], 4),
            "rollout_probability": round(chance, 4),
            "coin": round(coin, 4),
            "successes": stats.successes,
            "trials": stats.trials,
            "visits": stats.visits,
            "active_pool": self.active_count,
            "pool_size": self.pool_size,
        }
        return Decision(
            filter=self.name,
            prompt_id=prompt_id,
            decision=SKIPPED,
            reason="zero_variance_streak",
            message=message,
            stats=numbers,
            columns=dict(columns or {}),
            prompt_hash=prompt_hash,
        )

    @property
    def active_count(self) -> int:
        # Kept as a count, not recounted: it is read for every decision, and pools run to 100k prompts.
        return self._active

    def counts(self) -> dict[str, int]:
        # Maintained at each status change, not recounted: the trainer asks every step, and a
        # scan of a million-prompt table took ~0.1 s.
        return {ACTIVE: 0, TOO_HARD: 0, TOO_EASY: 0, **self._status_counts}

    def metrics(self) -> dict[str, float]:
        """The pool's levels to log after a step: prompts active and dropped so far, per reason."""
        counts = self.counts()
        return {
            "curriculum/active_pool": counts[ACTIVE],
            "curriculum/dropped_too_hard": counts[TOO_HARD],
            "curriculum/dropped_too_easy": counts[TOO_EASY],
        }

    def _set_status(self, stats: PromptStats, status: str) -> None:
        self._status_counts[stats.status] -= 1
        self._status_counts[status] += 1
        stats.status = status

    # -- the decision step ------------------------------------------------------------------
    def observe(self, groups: list[GroupResult], step: int, epoch: float) -> list[Decision]:
        """Update the pass-rate table with one generation step's groups; return decisions."""
        decisions = []
        zero_kinds = []
        for group in groups:
            row = self._row(group.prompt_id)
            if row is None:  # a prompt outside the pool it was built with: track it too
                row = self._add_row(group.prompt_id)
                self._active += 1
                self._status_counts[ACTIVE] += 1
            stats = self._load(row)  # updated as Python values, written back below
            successes, trials, unscored = count_successes(group.rewards, self.config.success_threshold)
            kind = self._update_streak(stats, group.rewards, successes, trials)
            zero_kinds.append(kind)
            stats.visits += 1
            stats.unscored += unscored
            stats.total_trials += trials
            stats.total_successes += successes
            if stats.status == ACTIVE:
                stats.trials += trials
                stats.successes += successes
                decisions.append(self._judge_active(group, stats, step))
            else:
                decisions.append(self._judge_probe(group, stats, successes, trials, step))
            self._store(row, stats)
        if self.config.skip_zero_variance and groups:
            self._adapt_explore(zero_kinds, len(groups))
        return decisions

    def _update_streak(self, stats: PromptStats, rewards: list[float], successes: int, trials: int) -> str | None:
        """Extend or reset the prompt's zero-variance streak; returns the group's kind (or None)."""
        if trials == 0:
            return None  # nothing scored: says nothing about the prompt
        if not zero_variance(rewards):
            stats.zero_variance_streak, stats.streak_kind = 0, None
            return None
        kind = EASY if successes == trials else HARD  # equal rewards: all on one side of the threshold
        stats.zero_variance_streak = stats.zero_variance_streak + 1 if stats.streak_kind == kind else 1
        stats.streak_kind = kind
        return kind

    def _adapt_explore(self, kinds: list[str | None], n_groups: int) -> None:
        """GRESO's controller: skip more of a kind while its share of groups is over target."""
        cfg = self.config
        for kind, target in ((EASY, cfg.skip_target_easy), (HARD, cfg.skip_target_hard)):
            if target is None:
                continue
            share = sum(1 for k in kinds if k == kind) / n_groups
            step = -cfg.skip_adapt_step if share > target else cfg.skip_adapt_step
            self.explore[kind] = min(1.0, max(cfg.skip_explore_min, self.explore[kind] + step))

    def _stats(self, stats: PromptStats, lower: float, upper: float) -> dict:
        return {
            "successes": stats.successes,
            "trials": stats.trials,
            "unscored": stats.unscored,
            "visits": stats.visits,
            "pass_rate": round(stats.pass_rate, 4) if stats.trials else None,
            "zero_variance_streak": stats.zero_variance_streak,
            "lower": round(lower, 4),
            "upper": round(upper, 4),
            "low": self.config.low,
            "high": self.config.high,
            "confidence": self.config.confidence,
            "bound": self.config.bound,
            "active_pool": self.active_count,
            "pool_size": self.pool_size,
        }

    def _decision(self, group: GroupResult, decision: str, reason: str, message: str, stats: dict) -> Decision:
        return Decision(
            filter=self.name,
            prompt_id=group.prompt_id,
            decision=decision,
            reason=reason,
            message=message,
            stats=stats,
            columns=group.columns,
            prompt_hash=group.prompt_hash,
        )

    def _judge_active(self, group: GroupResult, stats: PromptStats, step: int) -> Decision:
        cfg = self.config
        lower, upper = pass_rate_bounds(stats.successes, stats.trials, cfg.confidence, cfg.bound)
        numbers = self._stats(stats, lower, upper)
        counts = f"{stats.successes} of {stats.trials} correct over {stats.visits} visit(s)"
        verdict = None
        if stats.trials >= cfg.min_samples:
            if upper < cfg.low:
                verdict = (TOO_HARD, f"too hard: {counts}, upper bound {_digits_for(upper, cfg.low)} < {cfg.low:g}")
            elif cfg.high is not None and lower > cfg.high:
                verdict = (TOO_EASY, f"too easy: {counts}, lower bound {_digits_for(lower, cfg.high)} > {cfg.high:g}")
        if verdict is None:
            message = f"kept: {counts}, pass-rate bounds [{lower:.2f}, {upper:.2f}]"
            if stats.trials < cfg.min_samples:
                message += f", {stats.trials} < {cfg.min_samples} samples needed to decide"
            return self._decision(
                group, KEPT, "in_frontier" if stats.trials >= cfg.min_samples else "too_few_samples", message, numbers
            )
        status, message = verdict
        floor = math.ceil(cfg.min_active_fraction * self.pool_size)
        if self.active_count - 1 < floor:
            if not self.floor_warned:
                logger.warning(
                    "Frontier filter: the active pool is at its floor (%d of %d prompts); no more prompts are dropped.",
                    self.active_count,
                    self.pool_size,
                )
                self.floor_warned = True
            return self._decision(
                group,
                KEPT,
                "pool_floor",
                f"kept at pool floor: would drop ({message}), but only {self.active_count} of "
                f"{self.pool_size} prompts are active (floor {floor})",
                numbers,
            )
        self._set_status(stats, status)
        self._active -= 1
        stats.dropped_step = step
        stats.last_probe_step = None
        numbers["active_pool"] = self.active_count
        return self._decision(group, DROPPED, status, message, numbers)

    def _judge_probe(self, group: GroupResult, stats: PromptStats, successes: int, trials: int, step: int) -> Decision:
        """An excluded prompt came through for a re-probe: readmit it if the policy has moved."""
        cfg = self.config
        stats.probes += 1
        stats.last_probe_step = step
        failures = trials - successes
        was = stats.status
        moved = successes >= cfg.readmit_min_successes if was == TOO_HARD else failures >= cfg.readmit_min_successes
        lower, upper = pass_rate_bounds(successes, trials, cfg.confidence, cfg.bound)
        numbers = {
            **self._stats(stats, lower, upper),
            "probe_successes": successes,
            "probe_trials": trials,
            "dropped_step": stats.dropped_step,
            "was": was,
        }
        kind = "too hard" if was == TOO_HARD else "too easy"
        if moved:
            # The policy has moved: judge the prompt on fresh evidence, not on the history that
            # dropped it (which would re-drop it after one unlucky visit).
            self._set_status(stats, ACTIVE)
            self._active += 1
            stats.trials, stats.successes = trials, successes
            stats.dropped_step = None
            numbers["active_pool"] = self.active_count
            return self._decision(
                group,
                READMITTED,
                "reprobe_" + ("success" if was == TOO_HARD else "failure"),
                f"readmitted: {successes} of {trials} correct on re-probe at step {step} "
                f"(dropped at step {numbers['dropped_step']} as {kind})",
                numbers,
            )
        return self._decision(
            group,
            PROBED,
            "reprobe_unchanged",
            f"still {kind}: {successes} of {trials} correct on re-probe at step {step}",
            numbers,
        )

    # -- checkpointing -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every piece of state as numpy arrays (``np.savez`` stores them; no JSON, no pickles):
        the per-prompt `COLUMNS` (the pool's rows, then those of prompts seen outside it, whose
        ids are ``extra_ids``), the skip probabilities and the floor warning."""
        state = {name: column.copy() for name, column in self.columns.items()}
        state.update(
            extra_ids=np.array(self.extra_ids, dtype=str),
            explore=np.array([self.explore[EASY], self.explore[HARD]], dtype=np.float64),
            pool_size=np.array(self.pool_size, dtype=np.int64),
            floor_warned=np.array(self.floor_warned),
            version=np.array(STATE_VERSION),
        )
        return state

    def load_state_dict(self, state: Mapping) -> None:
        """Restore `state_dict`'s arrays, or an older checkpoint's JSON state (its ``table`` of
        id -> `PromptStats` fields), into a filter built over the same pool."""
        if "table" in state:
            self._load_json_state(state)
        else:
            self._load_arrays(state)
        status = self.columns["status"]
        self._active = int(np.count_nonzero(status == STATUS_CODE[ACTIVE]))
        self._status_counts = Counter(
            {STATUSES[code]: int(n) for code, n in enumerate(np.bincount(status, minlength=len(STATUSES))) if n}
        )

    def _load_arrays(self, state: Mapping) -> None:
        if int(state["version"]) != STATE_VERSION:
            raise ValueError(
                f"frontier filter state has version {int(state['version'])}, this code reads {STATE_VERSION}"
            )
        extra_ids = [str(pid) for pid in np.asarray(state["extra_ids"]).tolist()]
        rows = len(self.prompt_ids) + len(extra_ids)
        columns = {}
        for name, dtype in COLUMNS.items():
            theirs = np.asarray(state[name])
            if theirs.shape != (rows,) or theirs.dtype != dtype:
                raise ValueError(
                    f"frontier filter state '{name}' has shape {theirs.shape} {theirs.dtype}, this pool "
                    f"needs ({rows},) {np.dtype(dtype)} (was the checkpoint written for another dataset?)"
                )
            columns[name] = theirs.copy()
        self.columns = columns
        self.extra_ids = extra_ids
        self.extra_rows = {pid: len(self.prompt_ids) + i for i, pid in enumerate(extra_ids)}
        self.pool_size = int(state["pool_size"])
        self.floor_warned = bool(state["floor_warned"])
        easy, hard = (float(v) for v in state["explore"])
        self.explore = {EASY: easy, HARD: hard}

    def _load_json_state(self, state: Mapping) -> None:
        """An older checkpoint's JSON state: its table, row by row (its pool size counted, as then,
        from the table, prompts seen outside the pool included)."""
        self.extra_ids, self.extra_rows = [], {}
        self.columns = {name: self._default_column(name, len(self.prompt_ids)) for name in COLUMNS}
        for pid, fields in state["table"].items():
            row = self._row(pid)
            self._store(self._add_row(pid) if row is None else row, PromptStats(**fields))
        self.pool_size = len(state["table"])
        self.floor_warned = state.get("floor_warned", False)
        self.explore = {**self.explore, **state.get("explore", {})}
