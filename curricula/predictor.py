"""A pass-rate predictor that generalises across prompts, learned online from scored GRPO groups.

Each prompt has a Beta posterior over its pass rate: its own successes and failures on top of a
prior that comes from what similar prompts did. That prior is what makes a first visit a
prediction instead of a blind rollout (the frontier filter, which learns only from a prompt's own
history, takes no decision on first-visit-heavy runs). It pools two sources:

- **metadata groups** (prompts sharing ``group_columns``, e.g. a skill): an empirical-Bayes
  Beta per group, its mean and between-prompt variance by the method of moments over the
  group's observed groups, shrunk towards the pool-wide level while the group has few
  observations, with a pseudo-count capped by ``max_prior_strength``;
- **a light feature model** (optional): ridge regression of the pass rate on a fixed random
  projection of a feature vector the policy provides cheaply (e.g. the prompt's last hidden
  state), with its error variance measured prequentially (each group is predicted before it
  updates the model).

The two estimates are combined by precision (inverse variance), and the combined mean and
variance are turned into a Beta by moment matching.

State is dense numpy arrays indexed by a prompt's row index (21 bytes per prompt), plus
per-group and model arrays whose size does not depend on the pool. ``observe`` and the posterior
queries cost O(batch) or O(window), never O(pool). Scoring functions (`p_signal`, moments,
Thompson draws) are pure and vectorised.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

from curricula.calibration import Calibration
from curricula.config import PredictorConfig

STATE_VERSION = 1
_EPS = 1e-4  # keeps a prior's mean inside (0, 1), so both Beta parameters stay positive


# -- pure scoring functions --------------------------------------------------------------------
def count_group_successes(rewards: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(successes, scored trials) per group of a (groups, G) reward matrix; NaN = unscored.

    The vectorised twin of `curricula.frontier.count_successes`.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 2:
        raise ValueError(f"rewards must be a (groups, generations) matrix, got shape {rewards.shape}")
    scored = ~np.isnan(rewards)
    successes = (scored & (np.nan_to_num(rewards, nan=-np.inf) >= threshold)).sum(axis=1)
    return successes.astype(np.int64), scored.sum(axis=1).astype(np.int64)


def beta_mean_var(alpha, beta) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of Beta(alpha, beta)."""
    alpha, beta = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    total = alpha + beta
    return alpha / total, alpha * beta / (total * total * (total + 1.0))


def expected_power(alpha, beta, g) -> np.ndarray:
    """E[p^g] under p ~ Beta(alpha, beta): B(alpha + g, beta) / B(alpha, beta).

    For an integer g the log-gamma ratio Γ(α+g)Γ(α+β) / (Γ(α)Γ(α+β+g)) is the finite product
    prod_{j<g} (α+j)/(α+β+j), exact and vectorised in numpy (which has no log-gamma; scipy is not
    a dependency). ``g`` may be an array (one group size per element).
    """
    alpha, beta = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    g = np.broadcast_to(np.asarray(g, dtype=np.int64), np.broadcast(alpha, beta).shape)
    log_out, total = np.zeros(g.shape), alpha + beta
    longest = int(g.max(initial=0))
    every = int(g.min(initial=longest)) == longest  # one group size: no factor to mask (the usual case)
    for j in range(longest):
        factor = np.log((alpha + j) / (total + j))
        log_out += factor if every else np.where(j < g, factor, 0.0)
    return np.exp(log_out)


def p_signal(alpha, beta, g) -> np.ndarray:
    """P(a group of g rollouts is not all-equal) under p ~ Beta(alpha, beta), in closed form:
    1 - E[p^g] - E[(1-p)^g]. A group of fewer than two rollouts never carries a signal."""
    alpha, beta = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    # Both tails in one pass: the same elementwise arithmetic as two calls, half the numpy calls.
    if alpha.shape != beta.shape:
        shape = np.broadcast(alpha, beta).shape
        alpha, beta = np.broadcast_to(alpha, shape), np.broadcast_to(beta, shape)
    tails = expected_power(np.stack([alpha, beta]), np.stack([beta, alpha]), g)
    return np.clip(1.0 - tails[0] - tails[1], 0.0, 1.0)


def signal_at(p, g) -> np.ndarray:
    """P(not all-equal) for a known pass rate p: 1 - p^g - (1-p)^g."""
    p = np.asarray(p, dtype=np.float64)
    return np.clip(1.0 - p**g - (1.0 - p) ** g, 0.0, 1.0)


def draw_generator(seed: int, step: int, salt: int = 0) -> np.random.Generator:
    """A generator fixed by (seed, step, salt): every rank, and a resumed run, draws the same."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(step), int(salt), 0x5E1EC7]))


def thompson_pass_rates(alpha, beta, rng: np.random.Generator) -> np.ndarray:
    """One pass rate per prompt drawn from its posterior (Thompson sampling)."""
    return rng.beta(np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64))


def decay(half_life: float | None, elapsed) -> np.ndarray:
    """Weight left after ``elapsed`` steps at ``half_life`` (1 when there is no decay)."""
    elapsed = np.maximum(np.asarray(elapsed, dtype=np.float64), 0.0)
    return np.ones_like(elapsed) if half_life is None else np.exp2(-elapsed / half_life)


def prior_from_moments(mean, var, min_strength: float, max_strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Beta(alpha, beta) with the given mean and variance (moment matching), its pseudo-count
    alpha + beta = m(1-m)/v - 1 clipped to [min_strength, max_strength]."""
    mean = np.clip(np.asarray(mean, dtype=np.float64), _EPS, 1.0 - _EPS)
    var = np.maximum(np.asarray(var, dtype=np.float64), 1e-9)
    strength = np.clip(mean * (1.0 - mean) / var - 1.0, min_strength, max_strength)
    return strength * mean, strength * (1.0 - mean)


# Metadata columns a prompt's group comes from when ``group_columns`` is left unset (issue 13:
# "metadata columns where present"), in this order.
METADATA_COLUMNS = ("skill", "source", "difficulty")


def resolve_group_columns(
    requested: Sequence[str] | None, available: Sequence[str], not_categories: Sequence[str] = ()
) -> list[str]:
    """The columns a predictor pools by: ``requested`` as given (each must be in ``available``,
    else `ValueError` with `missing_group_columns`' message), or with ``None`` the
    `METADATA_COLUMNS` that ``available`` has, less ``not_categories``: columns of floats (e.g. a
    difficulty measured as a solve rate: nearly one group per prompt, which would count each
    prompt's own evidence twice) or of lists and mappings (no single value per row). Naming a
    float column pools by it all the same."""
    if requested is None:
        return [c for c in METADATA_COLUMNS if c in available and c not in not_categories]
    message = missing_group_columns(requested, available)
    if message:
        raise ValueError(message)
    return list(requested)


def missing_group_columns(
    names: Sequence[str], available: Sequence[str], source: str = "the training data"
) -> str | None:
    """The error message for ``group_columns`` that ``source`` lacks (None when it has them all),
    naming the columns it has: one wording for the recipe's check before the model loads, the
    trainer's and `metadata_groups`'."""
    missing = [n for n in names if n not in available]
    if not missing:
        return None
    return (
        f"curricula.predictor.group_columns names {missing}, which {source} lacks; its columns are "
        f"{list(available)}. Name columns it has, or set group_columns: [] to pool every prompt together "
        "(then `features: true` tells prompts apart)."
    )


def metadata_groups(
    columns: dict[str, Sequence[Hashable]], names: Sequence[str], num_rows: int | None = None
) -> tuple[np.ndarray, list[tuple]]:
    """Group index per row (int32; -1 where a value is missing) from the joint value of the
    ``names`` columns, and the key of each group in first-seen order (stable across runs).
    With no ``names`` every row is -1 (``num_rows`` of them; default: the first column's length)."""
    message = missing_group_columns(names, list(columns))
    if message:
        raise ValueError(message)
    if not names:
        n = num_rows if num_rows is not None else len(next(iter(columns.values()), []))
        return np.full(n, -1, dtype=np.int32), []
    index: dict[tuple, int] = {}
    out = np.empty(len(columns[names[0]]), dtype=np.int32)
    for row, key in enumerate(zip(*(columns[n] for n in names))):
        try:
            out[row] = -1 if any(v is None for v in key) else index.setdefault(key, len(index))
        except TypeError:  # a list or dict value: was a bare "unhashable type: 'list'" after the model loaded
            name, value = next((n, v) for n, v in zip(names, key) if isinstance(v, (list, dict, set)))
            raise ValueError(non_scalar_group_column(name, f"row {row} holds {value!r:.60}")) from None
    return out, list(index)


def non_scalar_group_column(name: str, where: str) -> str:
    """The error message for a group column whose values are lists or mappings (one wording for the
    recipe's check before the model loads and `metadata_groups`')."""
    return (
        f"curricula.predictor.group_columns: column {name!r} {where}, but a group column needs one value "
        "per row (a string, an integer...), not a list or mapping: name a scalar column, or add one."
    )


# -- the feature model ---------------------------------------------------------------------------
class FeatureModel:
    """Ridge regression of a prompt's pass rate on a fixed random projection of its features.

    The projection (Gaussian, ``dim`` columns, plus a bias) is regenerated from ``seed`` and the
    input width, so it is never stored. The sufficient statistics A = sum w z z^T, b = sum w z y
    (w = trials, y = observed pass rate) decay with ``half_life`` steps, which keeps each update
    O(dim^2) whatever the pool size. Its error variance (of the true pass rate around the
    prediction) is measured before each update, binomial noise removed, shrunk towards the
    variance of an uninformed prior while there is little evidence.
    """

    def __init__(self, dim: int, ridge: float, half_life: float | None, seed: int, prior_var: float, shrinkage: float):
        self.dim, self.ridge, self.half_life, self.seed = dim, ridge, half_life, seed
        self.prior_var, self.shrinkage = prior_var, shrinkage
        self.input_dim = 0
        self.projection: np.ndarray | None = None
        self.a = np.zeros((dim + 1, dim + 1))
        self.b = np.zeros(dim + 1)
        self.weights = np.zeros(dim + 1)
        self.err = np.zeros(2)  # decayed (sum of excess squared error, number of groups)
        self.last_step = -1

    def _project(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float32)  # hidden states are float32 or narrower
        if x.ndim != 2:
            raise ValueError(f"features must be a (prompts, width) matrix, got shape {x.shape}")
        if self.projection is None:
            self.input_dim = x.shape[1]
            self._build_projection()
        if x.shape[1] != self.input_dim:
            raise ValueError(f"features have width {x.shape[1]}, the model was built on width {self.input_dim}")
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # hidden-state scales vary
        return np.hstack([(x @ self.projection).astype(np.float64), np.ones((len(x), 1))])

    def _build_projection(self) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([int(self.seed) & 0xFFFFFFFF, self.input_dim, 0xFEA7]))
        self.projection = (rng.standard_normal((self.input_dim, self.dim)) / math.sqrt(self.dim)).astype(np.float32)

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.clip(self._project(features) @ self.weights, _EPS, 1.0 - _EPS)

    def variance(self) -> float:
        total, count = self.err
        return float((max(total, 0.0) + self.shrinkage * self.prior_var) / (count + self.shrinkage))

    def update(self, features: np.ndarray, successes: np.ndarray, trials: np.ndarray, step: int) -> np.ndarray:
        """Learn from observed groups; returns the updated model's prediction for ``features``."""
        projected = self._project(features)
        keep = trials > 0
        z, s, n = projected[keep], successes[keep].astype(np.float64), trials[keep].astype(np.float64)
        if not len(z):
            return np.clip(projected @ self.weights, _EPS, 1.0 - _EPS)
        y = s / n
        factor = float(decay(self.half_life, step - self.last_step)) if self.last_step >= 0 else 1.0
        predicted = np.clip(z @ self.weights, _EPS, 1.0 - _EPS)
        noise = np.where(n > 1, y * (1 - y) / np.maximum(n - 1, 1), 0.0)  # unbiased Var(y | p)
        self.err = self.err * factor + np.array([np.sum((y - predicted) ** 2 - noise), len(y)])
        self.a = self.a * factor + (z * n[:, None]).T @ z
        self.b = self.b * factor + z.T @ (n * y)
        self.weights = np.linalg.solve(self.a + self.ridge * np.eye(self.dim + 1), self.b)
        self.last_step = step
        return np.clip(projected @ self.weights, _EPS, 1.0 - _EPS)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {
            "feat_a": self.a,
            "feat_b": self.b,
            "feat_err": self.err,
            "feat_meta": np.array([self.input_dim, self.last_step], dtype=np.int64),
        }

    def load_state_dict(self, state: dict) -> None:
        self.a, self.b, self.err = (np.array(state[k], dtype=np.float64) for k in ("feat_a", "feat_b", "feat_err"))
        self.input_dim, self.last_step = (int(v) for v in state["feat_meta"])
        self.projection = None
        if self.input_dim:
            self._build_projection()
        self.weights = np.linalg.solve(self.a + self.ridge * np.eye(self.dim + 1), self.b)


# -- the predictor -----------------------------------------------------------------------------
class PassRatePredictor:
    """Beta posterior of every prompt's pass rate, with a prior learned from similar prompts.

    Args:
        config: The `PredictorConfig`.
        num_prompts: Rows of the training pool; prompts are addressed by row index.
        groups: Group index per row (int, -1 = none), e.g. from `metadata_groups`; ``None`` puts
            every row at the pool-wide level.
        seed: Seeds the feature model's random projection.
    """

    name = "predictor"

    def __init__(self, config: PredictorConfig, num_prompts: int, groups: np.ndarray | None = None, seed: int = 0):
        self.config = config
        self.num_prompts = int(num_prompts)
        groups = np.full(self.num_prompts, -1) if groups is None else np.asarray(groups)
        if groups.shape != (self.num_prompts,):
            raise ValueError(f"groups has shape {groups.shape}, expected ({self.num_prompts},): one index per row")
        self.num_groups = int(groups.max(initial=-1)) + 1
        # The pool-wide level is the last row of the level arrays; rows without a group use it.
        self.level = np.where(groups < 0, self.num_groups, groups).astype(np.int32)
        self.own = np.zeros((2, self.num_prompts), dtype=np.float32)  # (successes, failures), decayed
        self.last_step = np.full(self.num_prompts, -1, dtype=np.int32)
        self.visits = np.zeros(self.num_prompts, dtype=np.uint16)
        self.deferrals = np.zeros(self.num_prompts, dtype=np.uint8)
        self.feature_mean = np.full(self.num_prompts, np.nan, dtype=np.float16)  # feature model's last prediction
        self.level_stats = np.zeros((self.num_groups + 1, 4))  # per level: W, sum x, sum x^2, sum binomial noise
        self.level_step = np.full(self.num_groups + 1, -1, dtype=np.int64)
        self.base_var = 0.25 / (config.base_strength + 1.0)  # variance of the uninformed Beta at mean 0.5
        self.features = (
            FeatureModel(config.feature_dim, config.ridge, config.half_life, seed, self.base_var, config.shrinkage)
            if config.features
            else None
        )
        self.calibration = Calibration(config.calibration_bins)
        # This step's posteriors and pool moments, as computed; every state change forgets them.
        # A step's selection and its observation see the same state, so observe reuses them.
        self._recent: dict = {}

    # -- the prior --------------------------------------------------------------------------
    def _level_moments(self, levels: np.ndarray, step: int, parent_mean, parent_var) -> tuple[np.ndarray, np.ndarray]:
        """Mean and between-prompt variance of the pass rate at ``levels``, shrunk to the parent."""
        stats = self.level_stats[levels] * decay(self.config.half_life, step - self.level_step[levels])[:, None]
        weight, sum_x, sum_xx, noise = stats.T
        safe = np.maximum(weight, 1e-12)
        spread = np.where(weight > 0, np.maximum(sum_xx / safe - (sum_x / safe) ** 2 - noise / safe, 0.0), 0.0)
        c = self.config.shrinkage
        return (sum_x + c * parent_mean) / (weight + c), (weight * spread + c * parent_var) / (weight + c)

    def pool_moments(self, step: int) -> tuple[float, float]:
        """Mean and variance of a prompt's pass rate at the pool-wide level."""
        if self._recent.get("pool_step") != step:
            mean, var = self._level_moments(np.array([self.num_groups]), step, 0.5, self.base_var)
            self._recent.update(pool_step=step, pool=(float(mean[0]), float(var[0])))
        return self._recent["pool"]

    def prior(self, rows, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Beta prior (alpha, beta) of ``rows`` at ``step``: group level, then feature model."""
        return self._prior(self._rows(rows), step)

    def _prior(self, rows: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
        """`prior` of rows already checked by `_rows`."""
        pool_mean, pool_var = self.pool_moments(step)
        levels = self.level[rows]
        mean, var = self._level_moments(levels, step, pool_mean, pool_var)
        at_pool = levels == self.num_groups  # no group: the pool level itself, not shrunk to it again
        mean, var = np.where(at_pool, pool_mean, mean), np.where(at_pool, pool_var, var)
        if self.features is not None:  # without the feature model there is nothing cached to read
            cached = self.feature_mean[rows].astype(np.float64)
            with_features = np.isfinite(cached)
            if with_features.any():
                feature_var = self.features.variance()
                precision = 1.0 / var + 1.0 / feature_var  # two noisy estimates of the same pass rate
                mixed = (mean / var + np.nan_to_num(cached) / feature_var) / precision
                mean, var = np.where(with_features, mixed, mean), np.where(with_features, 1.0 / precision, var)
        return prior_from_moments(mean, var, self.config.min_prior_strength, self.config.max_prior_strength)

    def posterior(self, rows, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Beta posterior (alpha, beta) of ``rows`` at ``step``: prior plus own (decayed) evidence."""
        rows = self._rows(rows)
        alpha, beta = self._prior(rows, step)
        own = self.own[:, rows] * decay(self.config.prompt_half_life, step - self.last_step[rows])
        alpha, beta = alpha + own[0], beta + own[1]
        if self._recent.get("step") != step:
            self._recent.update(step=step, posteriors=[])
        self._recent["posteriors"].append([rows.copy(), alpha, beta, 0, None])  # + (g, p_signal) once known
        return alpha, beta

    def posterior_signal(self, rows, step: int, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`posterior` of ``rows`` and its `p_signal` for groups of ``g`` rollouts (both kept for
        `observe` at this step, which scores the same prompts with the same numbers)."""
        alpha, beta = self.posterior(rows, step)
        signal = p_signal(alpha, beta, g)
        self._recent["posteriors"][-1][3:] = [g, signal]
        return alpha, beta, signal

    def _recalled(self, rows: np.ndarray, step: int, trials: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(alpha, beta, p_signal at ``trials``) of ``rows``: taken from this step's earlier
        results when all rows are there (the state has not changed since, so they are the same
        bytes), else computed."""
        if self._recent.get("step") == step:
            for known, alpha, beta, g, signal in reversed(self._recent["posteriors"]):
                same = known[:, None] == rows[None, :]
                if same.any(axis=0).all():
                    at = same.argmax(axis=0)
                    alpha, beta = alpha[at], beta[at]
                    reuse = signal is not None and bool((trials == g).all())
                    return alpha, beta, signal[at] if reuse else p_signal(alpha, beta, trials)
        alpha, beta = self.posterior(rows, step)
        return alpha, beta, p_signal(alpha, beta, trials)

    def _forget(self) -> None:
        """The state changed: this step's posteriors and pool moments are stale."""
        self._recent = {}

    def predicted_pass_rate(self, rows, step: int) -> np.ndarray:
        return beta_mean_var(*self.posterior(rows, step))[0]

    def set_features(self, rows, features: np.ndarray) -> None:
        """Cache the feature model's prediction for ``rows`` (call before selecting among them)."""
        if self.features is None:
            raise ValueError("predictor.features is off: the predictor takes no feature vectors")
        rows = self._rows(rows)
        trained = self.features.err[1] > 0  # an untrained model would predict its clip floor
        self._forget()
        self.feature_mean[rows] = self.features.predict(features) if trained else np.nan

    # -- learning ---------------------------------------------------------------------------
    def observe(self, rows, successes, trials, step: int, features: np.ndarray | None = None) -> np.ndarray:
        """Learn from one generation step's groups: (row, successes, scored trials) per group.

        Every process must call it with the same (gathered) groups. Returns the predicted pass
        rate of each group before it was observed (what calibration scores).
        """
        rows = self._rows(rows)
        successes = np.asarray(successes, dtype=np.int64)
        trials = np.asarray(trials, dtype=np.int64)
        if successes.shape != rows.shape or trials.shape != rows.shape:
            raise ValueError(
                f"rows, successes and trials must have one entry per group, got shapes "
                f"{rows.shape}, {successes.shape}, {trials.shape}"
            )
        bad = np.flatnonzero((successes < 0) | (successes > trials))
        if len(bad):
            i = bad[0]
            raise ValueError(f"group {i} (row {rows[i]}): {successes[i]} successes out of {trials[i]} trials")
        alpha, beta, signal = self._recalled(rows, step, trials)
        predicted = alpha / (alpha + beta)
        self.calibration.add(
            predicted,
            successes,
            trials,
            signal,
            first_visit=self.visits[rows] == 0,
            reference=self.pool_moments(step)[0],
        )
        self._forget()
        if self.features is not None and features is not None:
            self.feature_mean[rows] = self.features.update(features, successes, trials, step)
        self._update_levels(rows, successes, trials, step)
        self._update_own(rows, successes, trials, step)
        return predicted

    def observe_rewards(self, rows, rewards: np.ndarray, step: int, features: np.ndarray | None = None) -> np.ndarray:
        """`observe` from a (groups, G) reward matrix, counted against ``success_threshold``."""
        successes, trials = count_group_successes(rewards, self.config.success_threshold)
        return self.observe(rows, successes, trials, step, features)

    def _update_levels(self, rows: np.ndarray, successes: np.ndarray, trials: np.ndarray, step: int) -> None:
        scored = trials > 0
        rows, s, n = rows[scored], successes[scored].astype(np.float64), trials[scored].astype(np.float64)
        if not len(rows):
            return
        x = s / n
        noise = np.where(n > 1, x * (1.0 - x) / np.maximum(n - 1.0, 1.0), 0.0)  # unbiased Var(x | p)
        contribution = np.stack([np.ones_like(x), x, x * x, noise], axis=1).tolist()
        pool = self.num_groups
        levels = self.level[rows].tolist()  # rows without a group live at the pool level only
        touched = np.array(sorted(set(levels) | {pool}))
        last = self.level_step[touched]
        decayed = (
            self.level_stats[touched] * np.where(last >= 0, decay(self.config.half_life, step - last), 1.0)[:, None]
        )
        # A step's few groups summed in Python, in row order: the same float64 additions as
        # np.add.at, without its per-call overhead on tiny arrays.
        stats = dict(zip(touched.tolist(), decayed.tolist()))
        for level, values in zip(levels, contribution):
            for target in (stats[level],) if level == pool else (stats[level], stats[pool]):
                for k, value in enumerate(values):
                    target[k] += value
        self.level_stats[touched] = [stats[level] for level in touched.tolist()]
        self.level_step[touched] = step

    def _update_own(self, rows: np.ndarray, successes: np.ndarray, trials: np.ndarray, step: int) -> None:
        distinct = len(set(rows.tolist())) == len(rows)  # the usual step: each prompt once
        touched = rows if distinct else np.unique(rows)
        seen = self.last_step[touched] >= 0
        factor = np.where(seen, decay(self.config.prompt_half_life, step - self.last_step[touched]), 1.0)
        self.own[:, touched] *= factor.astype(np.float32)
        failures = trials - successes
        if distinct:  # plain fancy-index additions: the same float32 sums as np.add.at, cheaper
            self.own[0, rows] += successes.astype(np.float32)
            self.own[1, rows] += failures.astype(np.float32)
            visits = 1
        else:
            np.add.at(self.own, (0, rows), successes.astype(np.float32))
            np.add.at(self.own, (1, rows), failures.astype(np.float32))
            visits = np.bincount(np.searchsorted(touched, rows), minlength=len(touched))
        self.visits[touched] = np.minimum(self.visits[touched].astype(np.int64) + visits, 65535)  # saturates
        self.last_step[touched] = step

    def note_selection(self, chosen, deferred) -> None:
        """Selection bookkeeping: a taken prompt's deferral count restarts, a deferred one's rises."""
        self.deferrals[self._rows(chosen)] = 0
        deferred = self._rows(deferred)
        self.deferrals[deferred] = np.minimum(self.deferrals[deferred].astype(np.int64) + 1, 255)

    # -- reporting and checkpoints ----------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        """Calibration metrics (``predictor/brier`` ...), for the trainer's log."""
        return {f"predictor/{k}": v for k, v in self.calibration.metrics().items()}

    def reliability(self) -> dict[str, np.ndarray]:
        """Data of the reliability plot (`curricula.calibration.reliability_figure`)."""
        return self.calibration.reliability()

    _PER_PROMPT = ("own", "last_step", "visits", "deferrals", "feature_mean", "level")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every piece of state as numpy arrays (``np.savez`` stores them; no JSON, no pickles)."""
        state = {name: getattr(self, name) for name in self._PER_PROMPT}
        state.update(
            level_stats=self.level_stats,
            level_step=self.level_step,
            version=np.array(STATE_VERSION),
            **self.calibration.state_dict(),
        )
        if self.features is not None:
            state.update(self.features.state_dict())
        return {k: np.array(v, copy=True) for k, v in state.items()}

    def load_state_dict(self, state: dict) -> None:
        if int(state["version"]) != STATE_VERSION:
            raise ValueError(f"predictor state has version {int(state['version'])}, this code reads {STATE_VERSION}")
        self._forget()
        for name in self._PER_PROMPT + ("level_stats", "level_step"):
            mine = getattr(self, name)
            theirs = np.asarray(state[name])
            if theirs.shape != mine.shape or theirs.dtype != mine.dtype:
                raise ValueError(
                    f"predictor state '{name}' has shape {theirs.shape} {theirs.dtype}, this pool "
                    f"needs {mine.shape} {mine.dtype} (was the checkpoint written for another dataset?)"
                )
            setattr(self, name, theirs.copy())
        self.calibration.load_state_dict(state)
        if self.features is not None:
            self.features.load_state_dict(state)

    def nbytes_per_prompt(self) -> float:
        """Bytes of state per prompt, everything included (pool-size-independent parts spread over it)."""
        return sum(v.nbytes for v in self.state_dict().values()) / max(self.num_prompts, 1)

    def _rows(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.flatnonzero((rows < 0) | (rows >= self.num_prompts))
        if len(out):
            raise IndexError(f"row {rows[out[0]]} is outside the pool of {self.num_prompts} prompts")
        return rows
