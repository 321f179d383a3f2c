"""Difficulty metrics: each a scorer giving one number per example, so any selector can rank by it.

"Is this example hard, or redundant?" has several answers, and they disagree; rlvr computes
them through one interface (and gradient influence, ``"influence"``, through the same one) so
they can be compared on the same data:

=============  ==============================================================  =============
name           what it measures                                                higher means
=============  ==============================================================  =============
pass_rate      share of successful rollouts (frontier filter's table or        easier
               fresh rollouts)
loss           mean NLL of the reference answer (+EOS) given the prompt         harder
perplexity     exp(loss)                                                        harder
el2n           mean over answer tokens of ||softmax - onehot(target)||_2        harder
               (LM-EL2N; Paul et al. 2021)
grand          per-example gradient norm over the linear layers, exact from     harder
               the factored form (GraNd)
forgetting     solved -> unsolved transitions across visits; never solved =     harder
               inf (Toneva et al. 2019)
ifd            PPL(A|Q) / PPL(A): how little the prompt helps (Cherry LLM)      harder
influence      LESS influence on target skills (`curricula.influence`)          more aligned
=============  ==============================================================  =============

A scorer is any object with ``name``, ``higher_means`` and ``__call__(rows) -> list[float]``
(`Scorer`); rows are dicts with ``id``, ``prompt`` and (for model-based scorers) ``answer``.
`make_scorer` builds one by name (with a "did you mean" on a typo, and ``module:attr`` for
your own); `select_by_score` ranks rows by any scorer's output.

The tensor-level metrics (`el2n_per_row`, `forgetting_events`, `ifd_from_nll`, ...) are pure
functions, tested against hand computations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from curricula.base import GroupResult, count_successes
from rewards.registries import Registry, import_target

HARDER, EASIER, MORE_ALIGNED = "harder", "easier", "more aligned"


@runtime_checkable
class Scorer(Protocol):
    """One number per row; ``higher_means`` says which way is harder (or better)."""

    name: str
    higher_means: str

    def __call__(self, rows: Sequence[dict]) -> list[float]: ...


# ------------------------------------------------------------------------------------------------
# Registry

# Name -> scorer class (or factory). "influence" is imported on first use: only that scorer needs
# the gradient-influence library.
SCORERS: Registry[Callable[..., Scorer]] = Registry("scorer", hint="Or give 'package.module:Class'.")
SCORERS.register("influence", lazy="curricula.influence.scorer:InfluenceScorer")


def register_scorer(name: str):
    """Class decorator: make the scorer buildable as ``make_scorer(name, ...)``."""
    return SCORERS.register(name, describe=lambda cls: getattr(cls, "__qualname__", repr(cls)))


def list_scorers() -> list[str]:
    return SCORERS.names()


def make_scorer(name: str, **kwargs) -> Scorer:
    """Build a scorer by registered name or ``"package.module:Class"``."""
    if ":" in name and name not in SCORERS:
        return import_target(name)(**kwargs)
    return SCORERS.get(name)(**kwargs)


def select_by_score(
    rows: Sequence[dict],
    scores: Sequence[float],
    fraction: float | None = None,
    count: int | None = None,
    highest: bool = True,
) -> list[dict]:
    """The rows with the highest (or lowest) scores, in their original order; NaN scores rank last."""
    if (fraction is None) == (count is None):
        raise ValueError("give exactly one of fraction or count.")
    if len(rows) != len(scores):
        raise ValueError(f"{len(rows)} rows but {len(scores)} scores.")
    if count is None:
        count = max(1, round(fraction * len(rows)))

    def key(i):
        value = scores[i]
        if math.isnan(value):
            return (1, 0.0, i)
        return (0, -value if highest else value, i)

    chosen = sorted(sorted(range(len(rows)), key=key)[:count])
    return [rows[i] for i in chosen]


# ------------------------------------------------------------------------------------------------
# Pure metrics


def pass_rate(successes: int, trials: int) -> float:
    """Successes over trials; NaN when never tried."""
    return successes / trials if trials else math.nan


def el2n_per_row(logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """LM-EL2N: mean over response tokens of ``||softmax(logits_t) - onehot(y_t)||_2``: ``[n]``.

    Uses ``||p - e_y||^2 = sum_v p_v^2 - 2 p_y + 1``, so no one-hot tensor is built.
    """
    probs = torch.softmax(logits[:, :-1].float(), dim=-1)
    p_target = probs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    distance = (probs.pow(2).sum(-1) - 2 * p_target + 1).clamp(min=0).sqrt()
    mask = response_mask[:, 1:].to(distance.dtype)
    return (distance * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def forgetting_events(solved: Sequence[bool]) -> float:
    """Solved -> unsolved transitions between consecutive visits; ``inf`` if never solved
    (never-learned examples rank as the hardest, as in Toneva et al.); ``nan`` if never visited."""
    if not solved:
        return math.nan
    if not any(solved):
        return math.inf
    return float(sum(1 for before, after in zip(solved, solved[1:]) if before and not after))


def ifd_from_nll(nll_given_prompt: float, nll_alone: float) -> float:
    """IFD = PPL(A|Q) / PPL(A) from the two mean NLLs of the answer."""
    return math.exp(nll_given_prompt - nll_alone)


# ------------------------------------------------------------------------------------------------
# Scorers from the frontier filter's table or rollouts


@register_scorer("pass_rate")
class PassRateScorer:
    """Pass rate of each row from the frontier filter's table or from rollout rewards.

    Args:
        table: id -> `PromptStats` (``FrontierFilter.all_stats()``) or -> a dict of its fields
            (an older checkpoint's JSON ``["frontier"]["table"]``); the never-reset totals are
            used, so re-probes count.
        rollouts: id -> rewards of that prompt's rollouts (e.g. from `sample_rollouts`).
        success_threshold: A rollout reward counts as a success when at least this.

    Rows with no rollouts score NaN.
    """

    name = "pass_rate"
    higher_means = EASIER

    def __init__(
        self,
        table: Mapping[str, Any] | None = None,
        rollouts: Mapping[str, Sequence[float]] | None = None,
        success_threshold: float = 1.0,
    ):
        if (table is None) == (rollouts is None):
            raise ValueError("give exactly one of table (the frontier filter's) or rollouts.")
        self.counts: dict[str, tuple[int, int]] = {}
        if table is not None:
            for pid, stats in table.items():
                get = stats.get if isinstance(stats, Mapping) else lambda k, s=stats: getattr(s, k)
                self.counts[str(pid)] = (int(get("total_successes")), int(get("total_trials")))
        else:
            for pid, rewards in rollouts.items():
                self.counts[str(pid)] = count_successes(rewards, success_threshold)[:2]

    def __call__(self, rows: Sequence[dict]) -> list[float]:
        return [pass_rate(*self.counts.get(str(r["id"]), (0, 0))) for r in rows]


def sample_rollouts(
    model,
    tokenizer,
    rows: Sequence[dict],
    verifiers: Sequence[str] = ("exact",),
    samples_per_prompt: int = 8,
    max_new_tokens: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Fresh rollouts for `PassRateScorer(rollouts=...)`: id -> weighted rewards."""
    from curricula.rollouts import sample_and_score
    from rewards import make_reward_funcs

    funcs, weights = make_reward_funcs(list(verifiers))
    rewards = sample_and_score(
        model, tokenizer, list(rows), funcs, weights, samples_per_prompt, temperature, max_new_tokens, seed=seed
    )
    return {str(r["id"]): values for r, values in zip(rows, rewards)}


@register_scorer("forgetting")
class ForgettingScorer:
    """Forgetting events per row from its per-visit outcomes.

    Args:
        history: id -> one bool per visit (solved or not), oldest first; see `ForgettingTracker`.
    """

    name = "forgetting"
    higher_means = HARDER

    def __init__(self, history: Mapping[str, Sequence[bool]]):
        self.history = {str(k): list(v) for k, v in history.items()}

    def __call__(self, rows: Sequence[dict]) -> list[float]:
        return [forgetting_events(self.history.get(str(r["id"]), [])) for r in rows]


class ForgettingTracker:
    """Per-visit outcomes from the GRPO groups a trainer generates (the filters' ``observe`` input).

    Args:
        solved_threshold: A visit counts as solved when its pass rate is at least this.
        success_threshold: A rollout counts as a success when its reward is at least this.
    """

    name = "forgetting"

    def __init__(self, solved_threshold: float = 0.5, success_threshold: float = 1.0):
        self.solved_threshold, self.success_threshold = solved_threshold, success_threshold
        self.history: dict[str, list[bool]] = {}
        self.events = 0  # forgetting events so far (solved, then not), kept per visit for metrics

    def observe(self, groups: Sequence[GroupResult], step: int = 0, epoch: float = 0.0) -> list:
        for group in groups:
            successes, trials, _ = count_successes(group.rewards, self.success_threshold)
            if not trials:
                continue
            visits = self.history.setdefault(group.prompt_id, [])
            solved = successes / trials >= self.solved_threshold
            self.events += bool(visits and visits[-1] and not solved)
            visits.append(solved)
        return []

    def metrics(self) -> dict[str, float]:
        """Forgetting events so far and prompts tracked (as a trainer's online filter)."""
        return {"forgetting/events": self.events, "forgetting/prompts": len(self.history)}

    def scorer(self) -> ForgettingScorer:
        return ForgettingScorer(self.history)

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.events = sum(before and not after for v in self.history.values() for before, after in zip(v, v[1:]))


# ------------------------------------------------------------------------------------------------
# Model-based scorers


class _ModelScorer:
    """Shared: encode rows as prompt + answer + EOS (the loss the influence features use),
    batch them by length, run the model without gradients."""

    def __init__(self, model, tokenizer, batch_size: int = 32):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    def _per_row(self, rows: Sequence[dict], metric: Callable[[torch.Tensor, dict], torch.Tensor]) -> list[float]:
        from curricula.influence.batching import collate, encode_rows
        from curricula.influence.features import length_sorted_batches, model_device

        sequences = encode_rows(self.tokenizer, list(rows))
        values = [math.nan] * len(sequences)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for indices in length_sorted_batches(sequences, self.batch_size):
                    batch = collate(
                        [sequences[i] for i in indices], self.tokenizer.pad_token_id or 0, model_device(self.model)
                    )
                    logits = self.model(
                        input_ids=batch["input_ids"],
                        attention_mask=batch["attention_mask"],
                        position_ids=batch["position_ids"],
                        use_cache=False,
                    ).logits
                    for i, v in zip(indices, metric(logits, batch).tolist()):
                        values[i] = float(v)
        finally:
            self.model.train(was_training)
        return values


@register_scorer("loss")
class LossScorer(_ModelScorer):
    """Mean NLL of the answer (+EOS) given the prompt."""

    name = "loss"
    higher_means = HARDER

    def __call__(self, rows: Sequence[dict]) -> list[float]:
        from curricula.influence.batching import response_nll

        return self._per_row(rows, lambda logits, b: response_nll(logits, b["input_ids"], b["response_mask"]))


@register_scorer("perplexity")
class PerplexityScorer(LossScorer):
    """exp(mean NLL of the answer given the prompt)."""

    name = "perplexity"

    def __call__(self, rows: Sequence[dict]) -> list[float]:
        return [math.exp(v) for v in super().__call__(rows)]


@register_scorer("el2n")
class EL2NScorer(_ModelScorer):
    """LM-EL2N: mean distance between the predicted distribution and the answer's one-hot tokens."""

    name = "el2n"
    higher_means = HARDER

    def __call__(self, rows: Sequence[dict]) -> list[float]:
        return self._per_row(rows, lambda logits, b: el2n_per_row(logits, b["input_ids"], b["response_mask"]))


@register_scorer("grand")
class GraNdScorer:
    """GraNd: the L2 norm of each row's loss gradient over the chosen linear layers, exact.

    Args:
        modules: Glob patterns of linear layers (default: LoRA adapters, else every linear
            layer but the output embedding), as for the influence features.
    """

    name = "grand"
    higher_means = HARDER

    def __init__(self, model, tokenizer, modules: Sequence[str] | None = None, batch_size: int = 16):
        from curricula.influence.features import select_linear_modules

        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.modules = select_linear_modules(model, tuple(modules) if modules else None)

    def __call__(self, rows: Sequence[dict]) -> list[float]:
        from curricula.influence.batching import collate, encode_rows
        from curricula.influence.features import length_sorted_batches, model_device, per_example_gradient_sq_norms

        sequences = encode_rows(self.tokenizer, list(rows))
        values = [math.nan] * len(sequences)
        for indices in length_sorted_batches(sequences, self.batch_size):
            batch = collate([sequences[i] for i in indices], self.tokenizer.pad_token_id or 0, model_device(self.model))
            norms = per_example_gradient_sq_norms(self.model, batch, self.modules).sqrt()
            for i, v in zip(indices, norms.tolist()):
                values[i] = float(v)
        return values


@register_scorer("ifd")
class IFDScorer:
    """IFD = PPL(A|Q) / PPL(A), with the student likelihood the compatibility filter uses
    (`curricula.likelihood.StudentLikelihood`). Below 1: the prompt helps predict the answer."""

    name = "ifd"
    higher_means = HARDER

    def __init__(self, model, tokenizer, batch_size: int = 32, max_length: int | None = None):
        from curricula.likelihood import StudentLikelihood

        was_training = model.training
        self.likelihood = StudentLikelihood(model, tokenizer, max_length=max_length, batch_size=batch_size)
        model.train(was_training)  # StudentLikelihood switches to eval; scoring does that itself

    def __call__(self, rows: Sequence[dict]) -> list[float]:
        model = self.likelihood.model
        was_training = model.training
        model.eval()
        try:
            return self._score(rows)
        finally:
            model.train(was_training)

    def _score(self, rows: Sequence[dict]) -> list[float]:
        answers = [str(r["answer"]) for r in rows]
        prompts = [
            r["prompt"]
            if isinstance(r["prompt"], str)
            else self.likelihood.tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True)
            for r in rows
        ]
        given = self.likelihood.score([self.likelihood.encode(p, a) for p, a in zip(prompts, answers)])
        alone = self.likelihood.score([self.likelihood.encode(None, a) for a in answers])
        return [ifd_from_nll(g.mean, a.mean) for g, a in zip(given, alone)]
