"""`CurriculumGRPOTrainer`: TRL's `GRPOTrainer` plus curriculum filters and an audit log.

The smallest overrides that work, each guarded by a test (tests/rlvr/test_trl_hooks.py) that
fails loudly if a TRL release moves the hook:

- ``_prepare_inputs``: before a generation step, prompts the filters exclude are swapped for
  active ones (the sampler and its length stay TRL's own, so the epoch/step arithmetic of
  `Trainer` is untouched); an excluded prompt due for a re-probe goes through. With
  ``curricula.predictor`` on, the batch's prompt slots are instead filled by pre-rollout
  selection (`curricula.predictive.PredictiveFrontier`) from a window read ahead in the
  sampler's own order.
- ``_calculate_rewards``: after TRL gathers the rewards of every process, the same rewards and
  the gathered prompt ids go to `curricula.controller.CurriculumController` as one record per
  generation step, so every process takes identical decisions; the main process writes them to
  the audit log. TRL keeps only the rewards from this hook, so the step's `StepOutcome` reaches
  ``_generate_scored``, its caller on the same stack, through one slot set here and taken there.
- ``_generate_and_score_completions``: with that outcome, optionally replaces zero-variance
  groups by over-sampling and masks the rest out of the loss (recomputing TRL's loss
  normaliser; tensor shapes never change).
- ``_save_checkpoint`` / ``_load_optimizer_and_scheduler``: filter state and the audit log's
  position travel with every checkpoint (TRL's own pattern for extra state); the predictor's
  state as numpy arrays (``PREDICTOR_FILE``, ``np.savez``).

Every generation (over-sampled ones included) is counted in ``totals["generated_tokens"]`` (and
per ``skill`` column value in ``generated_tokens_by_skill``), so runs can be compared, or stopped
with `GeneratedTokenBudget`, at equal generated tokens rather than equal steps.

With every filter disabled each override is a pass-through, so training is exactly TRL's.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from accelerate.utils import broadcast, gather_object
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import GRPOTrainer
from trl.data_utils import maybe_apply_chat_template
from trl.trainer.utils import RepeatSampler

from curricula.audit import AuditLog, new_run_id
from curricula.base import OnlineFilter, group_results
from curricula.config import CurriculaConfig
from curricula.controller import CurriculumController, StepOutcome
from curricula.frontier import FrontierFilter
from curricula.generation_batch import loss_tokens, mask_groups, replace_groups
from curricula.models import last_prompt_hidden_states
from curricula.oversample import draw_prompts, extra_group_budget, groups_to_draw, pair_groups, process_deficits
from curricula.predictive import PredictiveFrontier, SetAside
from curricula.predictor import METADATA_COLUMNS, metadata_groups, resolve_group_columns
from curricula.substitution import choose_replacements, excluded_and_skipped
from rewards.errors import enforce_error_budgets
from rlvr.checkpoint import load_curriculum_state, save_calibration, save_curriculum_state
from rlvr.data import non_category_columns, prompt_hash
from rlvr.sampling import EpochSeededRepeatSampler, epoch_order

logger = logging.getLogger(__name__)

# Metrics that are a level or a running total (the pool's size, prompts dropped so far, the
# adaptive skip probabilities): logged as their value at the logging step. TRL averages every
# metric over the logging window, which suits the per-step rates (``curriculum/skipped``,
# ``zero_variance_share``, ``signal_share``, ``oversample_rounds``, ``influence/*``) that stay
# averaged, but logged a pool of 96, 96, 96, 96, 95 over five steps as "95.8".
LEVEL_METRICS = (
    "curriculum/active_pool",
    "curriculum/dropped_too_hard",
    "curriculum/dropped_too_easy",
    "curriculum/readmitted",
    "curriculum/skip_explore_easy",
    "curriculum/skip_explore_hard",
)
# The predictor's calibration metrics are running totals over the run (``predictor/brier``...):
# levels too. Its per-step ones (``predictor/step_*``, ``selection/*``) are averaged.
LEVEL_PREFIXES = ("predictor/",)
PER_STEP_PREFIXES = ("predictor/step_",)


def is_level_metric(key: str) -> bool:
    return key in LEVEL_METRICS or (key.startswith(LEVEL_PREFIXES) and not key.startswith(PER_STEP_PREFIXES))


def _check_group_columns_before_loading(curricula: CurriculaConfig | None, args: tuple, kwargs: dict) -> None:
    """Named ``group_columns`` the training data lacks fail before TRL's ``__init__`` loads a model
    given by name (the same `ValueError` the trainer would raise after it)."""
    if curricula is None or not curricula.predictor.enabled or curricula.predictor.group_columns is None:
        return
    bound = inspect.signature(GRPOTrainer.__init__).bind_partial(None, *args, **kwargs).arguments
    columns = getattr(bound.get("train_dataset"), "column_names", None)
    if isinstance(columns, list):  # an iterable dataset may not know its columns yet
        resolve_group_columns(curricula.predictor.group_columns, columns)


class CurriculumGRPOTrainer(GRPOTrainer):
    """GRPO with curriculum filtering you can audit.

    Args:
        curricula: Which filters run: a `CurriculaConfig`, or the same as a dict (the ``curricula``
            section of a config file, checked and typed the same way); ``None`` = none (plain
            TRL GRPO).
        audit_columns: Dataset columns copied into each audit record for grouping (the
            predictor's ``group_columns`` are added when it is on).
        run_id: Identifies the run in the audit log (a resumed run keeps its original id).
        run_identity: Stored in every checkpoint (``{"run_id", "fingerprint", "config"}``, from
            `rlvr.run_dir.RunDir.checkpoint_identity`) so that ``rlvr train --resume`` can refuse a
            checkpoint of another config or run.
        influence_check: A ready `curricula.influence.InfluenceCheck` (e.g. with targets built in
            code); by default one is built from ``curricula.influence`` when enabled.
        online_filters: More online filters (`curricula.base.OnlineFilter`, e.g.
            `curricula.difficulty.ForgettingTracker`) that observe every generation step's groups
            after the configured ones: their decisions are audited, their ``metrics()`` logged and
            their state saved in every checkpoint (JSON, by ``name``). Observing alone changes
            nothing in training; the data needs an ``id`` column.
        *args, **kwargs: Everything `trl.GRPOTrainer` takes.
    """

    def __init__(
        self,
        *args,
        curricula: CurriculaConfig | dict | None = None,
        audit_columns: tuple[str, ...] = ("skill", "source"),
        run_id: str | None = None,
        influence_check=None,
        run_identity: dict | None = None,
        online_filters: Sequence[OnlineFilter] = (),
        **kwargs,
    ):
        from rlvr.config import curricula_config

        # Checked before TRL's __init__ (which loads the model when given a name): a typo in a
        # dict fails at once.
        curricula = curricula_config(curricula)
        _check_group_columns_before_loading(curricula, args, kwargs)
        super().__init__(*args, **kwargs)
        self.curricula = curricula or CurriculaConfig()
        # The predictor's group columns too: a run pooled by a user's own column (``topic``) is
        # audited by it, not only by the default ``skill``/``source``.
        self.group_columns = self._predictor_group_columns()
        self.audit_columns = tuple(dict.fromkeys([*audit_columns, *self.group_columns]))
        frontier_config = self.curricula.frontier
        self.mask_zero_variance = frontier_config.enabled and frontier_config.mask_zero_variance
        self.oversample = frontier_config.enabled and frontier_config.oversample
        # The run's filters and counters; without filters it still counts generated tokens.
        self.controller = CurriculumController(mask_zero_variance=self.mask_zero_variance, extra=online_filters)
        # TRL's generation keeps only the rewards of `_calculate_rewards`: the step's outcome is
        # handed up to `_generate_scored` (the caller, same call stack) through this one slot.
        self._outcome_slot: StepOutcome | None = None
        # Filters that choose prompts (sampler, substitution, selection) vs any that observe.
        self.curriculum_enabled = frontier_config.enabled or self.curricula.predictor.enabled
        self.observing = self.curriculum_enabled or bool(self.controller.extra)
        self.run_id = run_id or new_run_id()
        self.run_identity = run_identity
        self.audit: AuditLog | None = None
        self.curriculum_seconds = 0.0
        self.influence_check = influence_check if influence_check is not None else self._build_influence_check()
        if not self.observing:
            self.audit = self._open_audit() if self.influence_check is not None else None
            return
        self.pool_ids, self.index_of = self._pool_ids()
        if frontier_config.enabled:
            self.controller.frontier = FrontierFilter(frontier_config, self.pool_ids, self.index_of)
        if self.curricula.predictor.enabled:
            self.controller.predictive = self._build_predictive()
        self._check_oversampling_layout()
        self.pad_token_id_for_merge = (
            self.processing_class.pad_token_id
            if hasattr(self.processing_class, "pad_token_id")
            else self.processing_class.tokenizer.pad_token_id
        )
        self.audit = self._open_audit()  # after the checks above: a refused run writes nothing

    def _open_audit(self) -> AuditLog | None:
        """The run's audit log, on the main process only (the others audit nothing)."""
        if not self.accelerator.is_main_process:
            return None
        return AuditLog(self.args.output_dir, self.run_id, flush_seconds=self.curricula.audit_flush_seconds)

    def _build_influence_check(self):
        """The in-training influence check of ``curricula.influence`` (None when it is off)."""
        if not self.curricula.influence.enabled:
            return None
        from curricula.influence.check import InfluenceCheck
        from rlvr.influence.pipeline import load_target_rows

        return InfluenceCheck(self.curricula.influence, targets=load_target_rows(self.curricula.influence))

    @property
    def frontier(self) -> FrontierFilter | None:
        return self.controller.frontier

    @property
    def predictive(self) -> PredictiveFrontier | None:
        return self.controller.predictive

    @property
    def totals(self) -> Counter:
        """The run's counters (groups, zero-variance groups, generated tokens, ...)."""
        return self.controller.totals

    @property
    def generated_tokens_by_skill(self) -> Counter:
        return self.controller.generated_tokens_by_skill

    def _log_metrics(self, metrics: dict[str, float]) -> None:
        """Append values to TRL's metrics of the current mode (averaged or taken as levels at logging)."""
        logged = self._metrics["train" if self.model.training else "eval"]
        for key, value in metrics.items():
            logged[key].append(value)

    def _pool_ids(self) -> tuple[list[str], dict[str, int]]:
        """Every training row's stable id, and id -> row index; ids must exist and be unique."""
        columns = self.train_dataset.column_names
        if "id" not in columns:
            raise ValueError(
                "Curriculum filters need a stable 'id' column in the training data "
                "(rlvr.data.load_prompts adds one); got columns " + ", ".join(columns)
            )
        pool_ids = [str(i) for i in self.train_dataset["id"]]
        if len(set(pool_ids)) != len(pool_ids):
            dup = next(i for i, n in Counter(pool_ids).items() if n > 1)
            raise ValueError(f"Training data has duplicate id '{dup}'; ids must be unique.")
        return pool_ids, {pid: i for i, pid in enumerate(pool_ids)}

    def _check_oversampling_layout(self) -> None:
        if (
            self.oversample
            and self.args.per_device_train_batch_size * self.args.steps_per_generation % self.num_generations
        ):
            raise ValueError(
                "curricula.frontier.oversample needs whole groups on each process: make "
                "per_device_train_batch_size x steps_per_generation a multiple of num_generations "
                f"({self.num_generations})."
            )

    def _predictor_group_columns(self) -> list[str]:
        """The columns the predictor pools by (`resolve_group_columns`; none with the predictor
        off). Columns named in the config that the data lacks are refused here: the recipe
        checks them before the model loads, Python users land here."""
        config = self.curricula.predictor
        if not config.enabled:
            return []
        features = self.train_dataset.features
        columns = resolve_group_columns(config.group_columns, list(features), non_category_columns(features))
        if config.group_columns is None:
            logger.info(
                "curricula.predictor pools prompts by %s (the columns of %s the data has, floats "
                "and lists left out; set group_columns to choose).",
                columns or "nothing (one pool-wide prior)",
                list(METADATA_COLUMNS),
            )
        return columns

    def _build_predictive(self) -> PredictiveFrontier:
        """The predictive frontier over the training pool, reading ahead in the sampler's order."""
        config = self.curricula.predictor
        columns = self.train_dataset.column_names
        groups, keys = metadata_groups(
            {c: self.train_dataset[c] for c in self.group_columns},
            self.group_columns,
            num_rows=len(self.train_dataset),
        )
        global_rows = (
            self.args.per_device_train_batch_size * self.args.steps_per_generation * self.accelerator.num_processes
        )
        if global_rows % self.num_generations:
            raise ValueError(
                "curricula.predictor needs whole groups per generation batch: make per_device_train_batch_size"
                " x steps_per_generation x processes a multiple of num_generations."
            )
        self._audit_view = self.train_dataset.select_columns([c for c in self.audit_columns if c in columns])
        self._group_of_row, self._group_keys = groups, [dict(zip(self.group_columns, k)) for k in keys]
        if not set(self._audit_view.column_names) <= set(self.group_columns):
            self._group_keys = None  # audit columns beyond the groups: read from the dataset
        return PredictiveFrontier(
            config,
            self.pool_ids,
            self.index_of,
            self._sampler_order,
            batch_size=global_rows // self.num_generations,
            num_generations=self.num_generations,
            groups=groups,
            seed=self.args.seed,
        )

    def _sampler_order(self, epoch: int) -> np.ndarray:
        """The permutation `EpochSeededRepeatSampler` draws at ``epoch``."""
        return epoch_order(self.args.seed, epoch, len(self.pool_ids))

    # ------------------------------------------------------------------------------------------
    # Sampling order that survives a resume.

    def _get_train_sampler(self, dataset=None):
        sampler = super()._get_train_sampler(dataset)
        if not getattr(self, "curriculum_enabled", False) or type(sampler) is not RepeatSampler:
            return sampler  # filters off: exactly TRL's sampler
        return EpochSeededRepeatSampler.like(sampler)

    # ------------------------------------------------------------------------------------------
    # Before generation: swap excluded prompts for active ones.

    def _prepare_inputs(self, generation_batch):
        if self.curriculum_enabled and self.model.training:
            generate_every = self.args.steps_per_generation * self.num_iterations
            # Same condition under which TRL's _prepare_inputs generates (and otherwise replays
            # its buffer, where the rows are ignored).
            if self._step % generate_every == 0 or self._buffered_inputs is None:
                started = time.perf_counter()
                if self.predictive is not None:
                    generation_batch = self._select_predicted(generation_batch)
                elif self.frontier is not None:
                    generation_batch = self._substitute_excluded(generation_batch)
                self.curriculum_seconds += time.perf_counter() - started
        return super()._prepare_inputs(generation_batch)

    def _select_predicted(self, rows: list[dict]) -> list[dict]:
        """Fill the batch's prompt slots with the predictor's choice from its window (identical
        on every process: same state, same (seed, step)); each slot keeps its place in TRL's
        layout, so the G copies of a prompt stay where TRL put them."""
        slots = list(dict.fromkeys(self._gather([str(r["id"]) for r in rows])))
        chosen = self._predicted_rows().tolist()[: len(slots)]
        new_rows = dict(zip(slots, self._rows_at(chosen)))
        return [new_rows.get(str(r["id"]), r) for r in rows]

    def _predicted_rows(self, count: int | None = None, round_index: int = 0) -> np.ndarray:
        """The predictor's choice at this step (``count`` prompts, default the batch's; an
        over-sampling round passes its index as the draw's salt), its deferrals and skips
        counted and audited. Identical on every process: same state, same (seed, step, round)."""
        step, seed = self.state.global_step, self.args.seed
        features = self._prompt_features if self.curricula.predictor.features else None
        selection, aside = self.predictive.select(
            step,
            seed,
            set_aside=self._set_aside,
            columns=self._audit_columns,
            features=features,
            count=count,
            salt=round_index,
        )
        skip_metrics = self.controller.record_selection(len(selection.deferred), len(aside.skipped))
        self._log_metrics({**selection.metrics, **skip_metrics})
        if self.audit is not None:
            self.audit.add_all(aside.decisions + selection.decisions, global_step=step, epoch=self.state.epoch)
            self.audit.flush()
        return selection.chosen

    def _prompt_features(self, rows: np.ndarray) -> np.ndarray:
        """The policy's last hidden state at each row's prompt (as TRL renders it: chat template
        applied to conversational prompts), computed on every process (a collective forward
        under sharded models) and broadcast from the main one, so every process selects from
        identical numbers."""
        prompts = [
            maybe_apply_chat_template({"prompt": row["prompt"]}, self.processing_class)["prompt"]
            for row in self._rows_at(rows.tolist())
        ]
        tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
        model = self.accelerator.unwrap_model(self.model)
        vectors = torch.from_numpy(last_prompt_hidden_states(model, tokenizer, prompts)).to(self.accelerator.device)
        return broadcast(vectors, from_process=0).cpu().numpy()

    def _set_aside(self, window: np.ndarray) -> SetAside:
        """The frontier filter's verdict on a window: dropped prompts out (unless due for a
        re-probe), GRESO-skipped ones wait. Nothing without the frontier filter."""
        if self.frontier is None:
            return SetAside()
        step, seed = self.state.global_step, self.args.seed
        excluded, skipping = excluded_and_skipped(
            [self.pool_ids[i] for i in window.tolist()],
            is_excluded=self.frontier.is_excluded,
            wants_probe=lambda pid: self.frontier.wants_probe(pid, step),
            skips=lambda pid: self.frontier.skips(pid, step, seed),
        )
        dropped = [self.index_of[pid] for pid in excluded]
        skipped = [self.index_of[pid] for pid in skipping]
        decisions = []
        if self.audit is not None and skipped:
            describe = self._audit_columns(np.asarray(skipped))
            decisions = [self.frontier.skip_decision(self.pool_ids[i], step, seed, describe(i)) for i in skipped]
        return SetAside(
            np.asarray(dropped, dtype=np.int64),
            np.asarray(skipped, dtype=np.int64),
            [d for d in decisions if d is not None],
        )

    def _audit_columns(self, rows: np.ndarray):
        """row -> its audit columns, read in one batch (main process only: others audit nothing)."""
        if self.audit is None or not len(rows) or not self._audit_view.column_names:
            return lambda row: {}
        if self._group_keys is not None:  # the audit columns are the group's key: no dataset read
            wanted = self._audit_view.column_names
            return lambda row: (
                {c: v for c, v in self._group_keys[self._group_of_row[row]].items() if c in wanted}
                if self._group_of_row[row] >= 0
                else {}
            )
        read = self._audit_view[rows.tolist()]
        table = {row: {c: read[c][i] for c in read} for i, row in enumerate(rows.tolist())}
        return lambda row: table.get(row, {})

    def _substitute_excluded(self, rows: list[dict]) -> list[dict]:
        """Replace rows of excluded prompts, and of prompts skipped before rollout at this step
        (``skip_zero_variance``), with active prompts, identically on every process.

        The choice (`curricula.substitution.choose_replacements`) is made from the global batch
        (gathered ids), seeded by (seed, step), so copies of one prompt's group on different
        processes get the same replacement and a resumed run picks the same replacements again.
        Here: gather the ids, count and audit the skips, read the replacement rows.
        """
        step, seed = self.state.global_step, self.args.seed
        batch_ids = list(dict.fromkeys(gather_object([str(r["id"]) for r in rows])))
        frontier = self.frontier
        choice = choose_replacements(
            batch_ids,
            self.pool_ids,
            is_excluded=frontier.is_excluded,
            wants_probe=lambda pid: frontier.wants_probe(pid, step),
            skips=lambda pid: frontier.skips(pid, step, seed),
            step=step,
            seed=seed,
        )
        self._log_metrics(self.controller.record_substitution(len(choice.replacement), len(choice.skipped)))
        self._audit_skips(choice.skipped, step)
        if not choice.replacement:
            return rows
        # Each replacement row is read once (dataset indexing is the costly part), then repeated.
        read = self._rows_at([self.index_of[new] for new in choice.replacement.values()])
        new_rows = dict(zip(choice.replacement, read))
        return [new_rows.get(str(r["id"]), r) for r in rows]

    def _rows_at(self, indices: list[int]) -> list[dict]:
        """Rows of the training set, in one batched read (20x cheaper than select().to_list())."""
        if not indices:
            return []
        columns = self.train_dataset[indices]
        return [dict(zip(columns, values)) for values in zip(*columns.values())]

    def _audit_skips(self, skipped: list[str], step: int) -> None:
        """The main process audits each of this step's pre-rollout skips."""
        if self.audit is None:
            return
        for pid, row in zip(skipped, self._rows_at([self.index_of[pid] for pid in skipped])):
            columns = {c: row[c] for c in self.audit_columns if c in row}
            decision = self.frontier.skip_decision(pid, step, self.args.seed, columns, prompt_hash(row["prompt"]))
            self.audit.add(decision, global_step=step, epoch=self.state.epoch)

    # ------------------------------------------------------------------------------------------
    # After rewards: feed the filters with the gathered groups; audit the decisions.

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        # A broken verifier stops the run on every process at once (decided on gathered counts;
        # one process raising alone would leave the others waiting in a collective).
        enforce_error_budgets(self.reward_funcs, gather_object)
        if self.model.training:
            self._outcome_slot = self._record_step(inputs, completion_ids_list, rewards_per_func)
        return rewards_per_func

    def _record_step(self, inputs, completion_ids_list, rewards_per_func) -> StepOutcome | None:
        """Count the generated tokens and, with filters, feed the step's groups to the controller
        and audit its decisions (main process). The step's rows are gathered once, in the rank
        order TRL gathers rewards, so row i of ``rewards_per_func`` belongs to row i here."""
        started = time.perf_counter()
        first = self.accelerator.process_index * len(inputs)  # global index of this process's first row
        local = [
            (str(x.get("skill", "")), len(ids), *(self._row_identity(x, first + i) if self.observing else ()))
            for i, (x, ids) in enumerate(zip(inputs, completion_ids_list))
        ]
        rows = self._gather(local)
        # Every generated token, truncated completions included (TRL may mask those from the loss).
        self.controller.count_generated([(r[0], r[1]) for r in rows])
        if not self.observing:
            return None
        groups = group_results([r[2:] for r in rows], self._weighted_rewards(rewards_per_func), self.num_generations)
        step, epoch = self.state.global_step, self.state.epoch
        outcome = self.controller.observe(groups, step=step, epoch=epoch)
        if self.audit is not None:
            self.audit.add_all(outcome.decisions, global_step=step, epoch=epoch)
            self.audit.flush()
        self._log_metrics(outcome.metrics)
        self.curriculum_seconds += time.perf_counter() - started
        return outcome

    def _gather(self, local: list) -> list:
        """Every process's ``local`` list, in rank order (`gather_object`); the list itself when
        there is one process (nothing to gather, and the collective's setup costs more than
        the step's bookkeeping it serves)."""
        return gather_object(local) if self.accelerator.num_processes > 1 else local

    def _row_identity(self, row: dict, index: int) -> tuple[str, str, dict]:
        """(id, prompt hash, audit columns) of the batch's row ``index``; hash and columns only for
        the first row of each group (a group is one prompt: the others would repeat them)."""
        if index % self.num_generations:
            return str(row["id"]), "", {}
        return str(row["id"]), prompt_hash(row["prompt"]), {c: row[c] for c in self.audit_columns if c in row}

    def _weighted_rewards(self, rewards_per_func: torch.Tensor) -> list[float]:
        """Each completion's total reward as TRL's advantages see it: the weighted sum over reward
        functions (``nan`` when no function scored it)."""
        weights = self.reward_weights.to(rewards_per_func.device)
        totals = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
        totals[torch.isnan(rewards_per_func).all(dim=1)] = math.nan
        return totals.tolist()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """TRL's logging, with each level metric (`LEVEL_METRICS`, and every plugged-in filter's
        ``metrics()``) reduced to its latest value first."""
        metrics = self._metrics["train" if self.model.training else "eval"]
        for key in [k for k in metrics if is_level_metric(k) or k in self.controller.level_keys]:
            if metrics.get(key):
                metrics[key] = metrics[key][-1:]
        if self.accelerator.is_main_process and self.model.training:
            save_calibration(self.args.output_dir, self.controller)
        super().log(logs, start_time)

    def log_now(self, logs: dict[str, float]) -> None:
        """Log ``logs`` as an entry of their own at the current step (``state.log_history`` and
        every ``report_to`` backend), e.g. held-out accuracy from a callback.

        Goes around TRL's ``log`` (which would flush its averaging window early) and keeps
        ``control.should_log``: transformers resets it in ``on_log``, which would otherwise
        swallow the train metrics due at this step.
        """
        should_log = self.control.should_log
        Trainer.log(self, dict(logs))
        self.control.should_log = should_log

    # ------------------------------------------------------------------------------------------
    # Inside the batch: mask zero-variance groups out of the loss.

    def _generate_and_score_completions(self, inputs):
        output = self._generate_and_filter(inputs)
        if self.influence_check is not None and self.model.training:
            # A collective call: runs on every process (see curricula.influence.check).
            checked = self.influence_check.on_generation(self, inputs, output)
            output = checked.output
            self._log_metrics(checked.metrics)
            if self.audit is not None and checked.decisions:
                self.audit.add_all(checked.decisions, global_step=self.state.global_step, epoch=self.state.epoch or 0.0)
                self.audit.flush()
        return output

    def _generate_scored(self, inputs) -> tuple[dict, StepOutcome | None]:
        """TRL's generation + scoring, and the curriculum's outcome of the scored groups (``None``
        with filters off or outside training); a collective call, like TRL's own."""
        self._outcome_slot = None
        output = super()._generate_and_score_completions(inputs)
        outcome, self._outcome_slot = self._outcome_slot, None
        return output, outcome

    def _generate_and_filter(self, inputs):
        output, outcome = self._generate_scored(inputs)
        if outcome is None or not (self.oversample or self.mask_zero_variance):
            return output
        zero = outcome.zero_variance  # global, one flag per group
        if self.oversample:
            output, zero = self._fill_with_informative_groups(inputs, output, zero)
        if self.mask_zero_variance:
            output = mask_groups(output, zero, self.num_generations, self.accelerator.process_index)
        # TRL's "dapo"/"cispo" loss divides by the token count of the whole generation batch:
        # count only the tokens that still carry loss (PR #7068 forgot this).
        output["num_items_in_batch"] = self.accelerator.gather(loss_tokens(output)).sum()
        return output

    # ------------------------------------------------------------------------------------------
    # DAPO-style dynamic sampling: replace zero-variance groups with informative ones.

    def _fill_with_informative_groups(self, inputs, output, zero: list[bool]) -> tuple[dict, list[bool]]:
        """Generate extra groups from active prompts until every zero-variance group of this
        generation batch is replaced by an informative one, or the generation budget
        (``max_generation_multiplier`` x the normal batch) is spent. At the cap it warns and
        trains on what it has. Shapes per process never change: a replaced group's rows are
        overwritten in place (widths re-padded), so vLLM's equal per-process slicing holds.

        Runs identically on every process (the loop condition uses gathered flags only). The
        decisions (how many groups, which prompts, which pairs) are `curricula.oversample`'s.
        Returns the batch and its groups' zero-variance flags after replacement.
        """
        config = self.curricula.frontier
        size = self.num_generations
        n_proc = self.accelerator.num_processes
        rank = self.accelerator.process_index
        groups_per_proc = len(inputs) // size
        zero = list(zero)
        zero_at_start = sum(zero) / max(len(zero), 1)
        budget = extra_group_budget(config.max_generation_multiplier, len(zero))
        extra_generated = 0
        round_index = 0
        cap_hit = False
        while True:
            deficits = process_deficits(zero, n_proc, groups_per_proc)
            if max(deficits) == 0:
                break
            if extra_generated >= budget:
                cap_hit = True
                logger.warning(
                    "Over-sampling cap reached (%.1fx generation): %d zero-variance group(s) left in "
                    "this batch; training on what there is.",
                    config.max_generation_multiplier,
                    sum(deficits),
                )
                break
            round_index += 1
            started = time.perf_counter()  # bookkeeping: drawing and merging, not generating
            budget_left = (budget - extra_generated) // n_proc
            n_draw = groups_to_draw(config.oversample_draw, max(deficits), zero_at_start, groups_per_proc, budget_left)
            extra_inputs = self._draw_active_rows(n_draw * n_proc, round_index)
            self.curriculum_seconds += time.perf_counter() - started
            if extra_inputs is None:
                break
            more, scored = self._generate_scored(extra_inputs[rank * n_draw * size : (rank + 1) * n_draw * size])
            started = time.perf_counter()
            extra_generated += n_draw * n_proc
            # Every process computes every pairing, so the global flags stay identical.
            pairing = pair_groups(zero, scored.zero_variance, n_proc, groups_per_proc, n_draw)
            output = replace_groups(output, more, pairing.pairs[rank], size, self.pad_token_id_for_merge)
            zero = pairing.zero
            self.curriculum_seconds += time.perf_counter() - started
        metrics = self.controller.record_oversampling(round_index, extra_generated, cap_hit)
        if self.accelerator.is_main_process:
            self._log_metrics(metrics)
        return output, zero

    def _draw_active_rows(self, n_groups: int, round_index: int) -> list[dict] | None:
        """Rows of ``n_groups`` active prompts (`curricula.oversample.draw_prompts`: seeded by
        step and round, prompts skipped at this step left out while others remain), each
        repeated num_generations times; ``None`` when no prompt is active. With the predictor
        on, the round's prompts are its choice from a window further along the order (the
        prompts most likely to give a group that is not all-equal), not a uniform draw."""
        if self.predictive is not None:
            chosen = self._predicted_rows(n_groups, round_index)
            if not len(chosen):
                return None
            # A pool too small for the round repeats its choice: every process needs its share.
            rows = self._rows_at(np.resize(chosen, n_groups).tolist())
            return [row for row in rows for _ in range(self.num_generations)]
        step, seed = self.state.global_step, self.args.seed
        picks = draw_prompts(
            self.pool_ids,
            n_groups,
            is_excluded=self.frontier.is_excluded,
            skips=lambda pid: self.frontier.skips(pid, step, seed),
            step=step,
            seed=seed,
            round_index=round_index,
        )
        if picks is None:
            return None
        rows = self._rows_at([self.index_of[pid] for pid in picks])
        return [row for row in rows for _ in range(self.num_generations)]

    # ------------------------------------------------------------------------------------------
    # Checkpoints: filter state and audit position travel with the model.

    def _save_checkpoint(self, model, trial):
        # rlvr's state goes in first: transformers writes trainer_state.json at the end of its
        # save, so a checkpoint that has it also has the filter state (a run killed mid-save
        # leaves no checkpoint that looks complete without it).
        if self.args.should_save:
            folder = os.path.join(
                self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            )
            os.makedirs(folder, exist_ok=True)
            self._save_curriculum_state(folder)
        super()._save_checkpoint(model, trial)

    def _save_curriculum_state(self, folder: str) -> None:
        audit_position = self.audit.position() if self.audit is not None else None
        save_curriculum_state(folder, self.controller, self.run_id, self.run_identity, audit_position)

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        state = load_curriculum_state(checkpoint, self.controller)  # counters even with filters off
        self.run_id = state.get("run_id", self.run_id)
        if self.audit is not None and state.get("audit") is not None:
            self.audit.run_id = self.run_id
            removed = self.audit.rewind(state["audit"])
            if removed:
                logger.info(
                    "Audit log rewound to the checkpoint: %d record(s) of steps after it removed; "
                    "the resumed run records those steps again.",
                    removed,
                )

    # ------------------------------------------------------------------------------------------
    # Reporting

    def curriculum_summary(self) -> dict:
        out = {}
        if self.influence_check is not None:
            out["influence_checks"] = len(self.influence_check.history)
            out["influence_seconds"] = round(self.influence_check.total_seconds, 3)
        if not self.observing:
            return out
        return {
            **out,
            **self.controller.summary(),
            "curriculum_seconds": round(self.curriculum_seconds, 3),
            "audit_log": str(self.audit.path) if self.audit is not None else None,
        }

    def train(self, *args, **kwargs):
        """TRL's training loop; then the audit log's tail becomes a compact segment (`AuditLog.close`)."""
        result = super().train(*args, **kwargs)
        if self.audit is not None:
            self.audit.close()
        return result

    def curriculum_report(self) -> str:
        if self.audit is None:
            return ""
        from rlvr.audit_report import summary_table

        return summary_table(self.audit.path, run_id=self.run_id)


class GeneratedTokenBudget(TrainerCallback):
    """Stop training once a `CurriculumGRPOTrainer` has generated ``max_tokens`` completion
    tokens (over-sampled generations included): equal generated tokens across compared runs.

    The check runs after each optimizer step, so a run overshoots by at most one generation
    batch; set ``max_steps`` high enough not to stop first, and a constant learning-rate schedule
    so the stopping point does not change the schedule.
    """

    def __init__(self, trainer: CurriculumGRPOTrainer, max_tokens: int):
        self.trainer, self.max_tokens = trainer, int(max_tokens)

    def on_step_end(self, args, state, control, **kwargs):
        if self.trainer.totals["generated_tokens"] >= self.max_tokens:
            control.should_training_stop = True
        return control
