"""What a comparison starts from: the warm model, the pool, held-out rows, per-row scores."""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from curricula.records import rows_by_skill
from rlvr.compare.config import CompareConfig
from rlvr.sources import data_source, source_rows


@dataclass
class HeldOut:
    """Held-out rows, split once so every regime evaluates the same prompts.

    Attributes:
        targets: Influence targets, ``n_targets`` per skill (the first rows of each skill).
        evaluation: The evaluated prompts, up to ``eval_n_per_skill`` per skill.
    """

    targets: list[dict]
    evaluation: list[dict]

    def targets_for(self, regime: str, target_skill: str) -> list[dict]:
        """Targeted: the target skill's targets; general: every skill's (LESS takes the max)."""
        if regime == "targeted":
            rows = [t for t in self.targets if t["skill"] == target_skill]
            if not rows:
                raise ValueError(
                    f"no held-out row of the target skill {target_skill!r}; "
                    f"skills there: {sorted({t['skill'] for t in self.targets})}."
                )
            return rows
        return list(self.targets)


def load_world(config: CompareConfig):
    """``(model, tokenizer, path)``: the toy world (built on first use) or a local/Hub model."""
    from rlvr.influence.pipeline import load_model

    return load_model(config.model, seed=config.world_seed, world=config.world)


def build_pool(config: CompareConfig) -> list[dict]:
    from rlvr.influence.pipeline import load_rows

    if data_source(config.pool) is not None:
        return source_rows(
            config.pool, split="train", n_per_skill=config.pool_n_per_skill, seed=config.pool_seed, world=config.world
        )
    return load_rows(config.pool)


def held_out(config: CompareConfig) -> HeldOut:
    """Per skill, the first ``n_targets`` rows (at most half the skill's rows) are influence
    targets and the next ``eval_n_per_skill`` are evaluated (the two never overlap)."""
    from rlvr.influence.pipeline import load_rows

    per_skill = config.n_targets + config.eval_n_per_skill
    rows = (
        source_rows(config.eval, split="eval", n_per_skill=per_skill, seed=config.eval_seed, world=config.world)
        if data_source(config.eval) is not None
        else load_rows(config.eval)
    )
    by_skill = rows_by_skill(rows)
    if config.target_skill not in by_skill:
        raise ValueError(
            f"target_skill {config.target_skill!r} is not a skill of the held-out rows "
            f"({config.eval}); skills there: {sorted(by_skill)}."
        )
    targets, evaluation = [], []
    for skill, rows_of_skill in by_skill.items():
        if len(rows_of_skill) < 2:
            raise ValueError(
                f"skill {skill!r} has {len(rows_of_skill)} held-out row(s) in {config.eval}; "
                "it needs at least 2 (an influence target and an evaluated prompt)."
            )
        # A small skill (toy add1: 22 held-out prompts) gives half its rows to each side.
        n = min(config.n_targets, len(rows_of_skill) // 2)
        targets += rows_of_skill[:n]
        evaluation += rows_of_skill[n : n + config.eval_n_per_skill]
    return HeldOut(targets, evaluation)


# -- scores ------------------------------------------------------------------------------------
@torch.no_grad()
def answers_solved(model, tokenizer, rows: Sequence[dict], batch_size: int = 256) -> list[bool]:
    """Per row: does greedy (teacher-forced argmax) decoding reproduce the answer and EOS?"""
    from rlvr.toy.encoding import encode_pairs

    was_training = model.training
    model.eval()
    out: list[bool] = []
    for i in range(0, len(rows), batch_size):
        batch = encode_pairs(tokenizer, [(r["prompt"], r["answer"]) for r in rows[i : i + batch_size]])
        batch = {k: v.to(model.device) for k, v in batch.items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        hit = (logits[:, :-1].argmax(-1) == labels) | (labels == -100)
        out += hit.all(dim=1).cpu().tolist()
    model.train(was_training)
    return out


def forgetting_history(
    model, tokenizer, pool: Sequence[dict], epochs: int, batch_size: int, lr: float, seed: int = 0
) -> dict[str, list[bool]]:
    """Toneva et al.'s forgetting statistics from a short SFT run on the whole pool: each row's
    solved/unsolved outcome at the warm start and after every epoch (the model is left untouched)."""
    from rlvr.compare.arms import sft_step
    from rlvr.toy._torch_utils import deterministic

    student = copy.deepcopy(model)
    student.zero_grad(set_to_none=True)
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.98))
    history = {str(r["id"]): [s] for r, s in zip(pool, answers_solved(student, tokenizer, pool))}
    order = list(range(len(pool)))
    rng = random.Random(f"rlvr.compare/forgetting/{seed}")
    with torch.random.fork_rng(devices=[]), deterministic():
        torch.manual_seed(seed)
        for _ in range(epochs):
            rng.shuffle(order)
            student.train()
            for start in range(0, len(order), batch_size):
                rows = [pool[i] for i in order[start : start + batch_size]]
                sft_step(student, opt, tokenizer, [(r["prompt"], r["answer"]) for r in rows])
            for r, s in zip(pool, answers_solved(student, tokenizer, pool)):
                history[str(r["id"])].append(s)
    return history


def compute_scores(
    model,
    tokenizer,
    pool: Sequence[dict],
    targets: Sequence[dict],
    names: Sequence[str],
    config: CompareConfig,
    influence_skill: str | None = None,
) -> dict[str, list[float]]:
    """The per-row scores the selectors need, from the warm model.

    ``influence`` is measured against ``targets``: toward ``influence_skill`` only when given
    (targeted regime), else LESS's max over the targets' skills (general regime)."""
    from curricula.difficulty import make_scorer
    from rlvr.toy import answer_probabilities

    out: dict[str, list[float]] = {}
    for name in names:
        if name == "answer_prob":
            out[name] = answer_probabilities(model, tokenizer, list(pool))
        elif name == "influence":
            from curricula.influence import FeatureConfig

            scorer = make_scorer(
                "influence",
                model=model,
                tokenizer=tokenizer,
                targets=list(targets),
                config=FeatureConfig(dim=config.influence_dim, seed=0),
                skill=influence_skill,
            )
            out[name] = scorer(list(pool))
        elif name == "forgetting":
            history = forgetting_history(
                model, tokenizer, pool, config.forgetting_epochs, config.batch_size, config.lr, seed=config.pool_seed
            )
            out[name] = make_scorer("forgetting", history=history)(list(pool))
        else:
            out[name] = make_scorer(name, model=model, tokenizer=tokenizer)(list(pool))
    model.zero_grad(set_to_none=True)
    return out


MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def math_rows(
    records: Sequence[dict],
    source: str,
    prompt_column: str = "problem",
    solution_column: str = "solution",
    skill_column: str = "type",
    instruction: str = MATH_INSTRUCTION,
) -> list[dict]:
    """Comparison rows from MATH-style records (a problem, a worked solution ending in a boxed
    answer, a subject): ``id``, ``prompt``, ``answer`` (the last ``\\boxed{}`` content), ``skill``
    (the subject) and, when present, ``level``. ``instruction`` follows the problem (the default is
    the one Qwen2.5-Math was tuned with, so answers come boxed). A record without a boxed answer is an error that
    names ``source`` and the record's 1-based position."""
    from rewards.builtin.math_answer import last_boxed

    rows = []
    for n, record in enumerate(records, 1):
        missing = [c for c in (prompt_column, solution_column, skill_column) if c not in record]
        if missing:
            raise ValueError(f"{source} record {n}: no column {missing[0]!r} (columns: {sorted(record)}).")
        answer = last_boxed(str(record[solution_column]))
        if answer is None:
            raise ValueError(f"{source} record {n}: its {solution_column!r} has no \\boxed{{...}} final answer.")
        row = {
            "id": f"{source}:{n}",
            "prompt": f"{record[prompt_column]}\n\n{instruction}".strip(),
            "answer": answer,
            "skill": str(record[skill_column]),
        }
        if "level" in record:
            row["level"] = str(record["level"])
        rows.append(row)
    return rows
