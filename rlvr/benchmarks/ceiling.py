"""How low pre-rollout selection can push the zero-variance share on first visits: the logic of
``scripts/selection_ceiling.py`` (its docstring says what each predictor knows).

`ridge_cross_validated` and `zero_variance_share` are pure numpy (testable without a model);
`measure_predictors` runs the world's starting model.
"""

from __future__ import annotations

import argparse

import numpy as np

from curricula.models import last_prompt_hidden_states, load_causal_lm
from curricula.predictor import signal_at
from rlvr.toy import build_toy_world, toy_dataset
from rlvr.toy.evaluate import per_prompt_pass_rates


def ridge_cross_validated(features: np.ndarray, target: np.ndarray, ridge: float, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold ridge predictions of ``target`` (standardised features plus an intercept)."""
    x = (features - features.mean(0)) / (features.std(0) + 1e-6)
    x = np.hstack([x, np.ones((len(x), 1))])
    fold = np.random.default_rng(seed).permutation(len(x)) % folds
    predicted = np.zeros(len(x))
    for f in range(folds):
        train, test = fold != f, fold == f
        weights = np.linalg.solve(x[train].T @ x[train] + ridge * np.eye(x.shape[1]), x[train].T @ target[train])
        predicted[test] = x[test] @ weights
    return np.clip(predicted, 0.0, 1.0)


def zero_variance_share(rates, scores, window: int, batch: int, group: int, trials: int, rng) -> float:
    """Expected zero-variance share of groups when each batch keeps the ``batch`` best-scored of a
    random window of ``window`` prompts (``scores=None``: the first ``batch``, no selection)."""
    shares = []
    for _ in range(trials):
        drawn = rng.choice(len(rates), window, replace=False)
        if scores is not None:  # a tiny jitter breaks ties (a whole skill scores the same) at random
            drawn = drawn[np.argsort(-(signal_at(scores[drawn], group) + 1e-9 * rng.random(window)))]
        shares.append(1.0 - signal_at(rates[drawn[:batch]], group).mean())
    return float(np.mean(shares))


def measure_predictors(args) -> tuple[np.ndarray, np.ndarray, dict]:
    """(measured pass rate per prompt, skill per prompt, predictor name -> predicted pass rates)
    on the world's training prompts, with its starting model."""
    path = build_toy_world(progress=False, world=args.world)
    model, tokenizer = load_causal_lm(path, pad_to_eos=False)
    rows = toy_dataset("train", n_per_skill=args.n_per_skill, seed=0, world=args.world).to_list()
    rates = np.asarray(per_prompt_pass_rates(model, tokenizer, rows, args.samples))
    skills = np.asarray([r["skill"] for r in rows])
    names = list(dict.fromkeys(skills.tolist()))
    one_hot = (skills[:, None] == np.asarray(names)[None]).astype(np.float64)
    skill_mean = np.asarray([rates[skills == s].mean() for s in skills])
    prompts = [r["prompt"] for r in rows]
    hidden = np.hstack([last_prompt_hidden_states(model, tokenizer, prompts, batch_size=256), 5.0 * one_hot])
    predictors = {
        "none": None,
        "skill": skill_mean,
        "hidden": ridge_cross_validated(hidden, rates, ridge=10.0, folds=5, seed=0),
        "oracle": rates,
    }
    return rates, skills, predictors


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """``scripts/selection_ceiling.py``'s command line (``description``: the script's docstring)."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default=None, help="toy world variant (default: the shipped default)")
    p.add_argument("--n-per-skill", type=int, default=300)
    p.add_argument("--samples", type=int, default=16, help="completions per prompt for its pass rate")
    p.add_argument("--windows", type=float, nargs="+", default=[3, 6, 10], help="window factors")
    p.add_argument("--batch", type=int, default=8, help="prompts per batch")
    p.add_argument("--group", type=int, default=8, help="rollouts per prompt (G)")
    p.add_argument("--trials", type=int, default=2000)
    return p


def main(argv=None, description: str | None = None) -> None:
    args = build_parser(description).parse_args(argv)
    rates, skills, predictors = measure_predictors(args)
    names = list(dict.fromkeys(skills.tolist()))
    print(f"{len(rates)} training prompts, {args.samples} samples each; skill: mean pass rate, zero-variance share")
    for s in names:
        r = rates[skills == s]
        print(f"  {s:8s} {r.mean():.2f}  {1.0 - signal_at(r, args.group).mean():.2f}")
    within = [s for s in names if 0.05 < rates[skills == s].mean() < 0.95]
    corr = np.mean([np.corrcoef(predictors["hidden"][skills == s], rates[skills == s])[0, 1] for s in within])
    print(f"hidden-state ridge: within-skill correlation with the pass rate {corr:.2f} (skills {within})")
    print(
        "expected zero-variance share of groups chosen from a random window (batch", args.batch, "of G", args.group, ")"
    )
    print("window x batch  " + "  ".join(f"{name:>7s}" for name in predictors))
    rng = np.random.default_rng(0)
    for factor in args.windows:
        window = int(round(factor * args.batch))
        cells = [
            zero_variance_share(rates, s, window, args.batch, args.group, args.trials, rng) for s in predictors.values()
        ]
        print(f"{factor:>14g}  " + "  ".join(f"{c:>7.1%}" for c in cells))
