"""Student compatibility: keep a teacher's refinement only where the student can learn it.

A teacher's refined answer can be better and still hurt a student when it lies past the
student's learning frontier. Following Selective Reflection-Tuning (Li et al. 2024, arXiv
2402.10110), every statistic here is computed by the *student*:

* IFD   = PPL(A|Q) / PPL(A): how much the prompt helps the student predict the answer.
  IFD >= 1 means the answer is no easier with the prompt than without it: the pair does not
  teach an instruction -> answer mapping.
* r-IFD = PPL(Q|A) / PPL(Q), with the answer placed in a reverse template ("{response}\\nGuess
  the instruction: "): how much the answer helps predict the prompt. r-IFD >= 1 means the
  answer carries nothing the student can trace back to the prompt.

and, on top of the paper's rule, a **frontier** test against the student's own profile: the
mean per-token NLL of the chosen answer, log PPL(A|Q), must not exceed the q-th percentile of
the same number on what the student itself generates for these prompts. The student's own
samples are by construction within its reach, so an answer more surprising to it than most of
them is past its frontier, whatever its quality.

This module holds the configuration, the pure scoring functions (over `TargetNLL`s) and the
decision rule. `curricula.compat.run` streams a dataset through them; `rlvr compat` is the
command line.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curricula.base import DROPPED, KEPT, Decision
from curricula.likelihood import EncodedPair, StudentLikelihood, TargetNLL
from rewards.config_types import ConfigError, build_dataclass
from rewards.config_types import did_you_mean as _suggest

FILTER_NAME = "compat"

# The decision rules, in the order they are applied.
SELECT_BY_RIFD = "select_by_rifd"  # take the refined answer only if its r-IFD is lower
IFD_LT_1 = "ifd_lt_1"  # keep only IFD < 1
RIFD_LT_1 = "rifd_lt_1"  # keep only r-IFD < 1
FRONTIER = "frontier"  # keep only NLL <= q-th percentile of the student's profile
RULES = (SELECT_BY_RIFD, FRONTIER, IFD_LT_1, RIFD_LT_1)

# Reason codes (the audit log's `reason` column).
COMPATIBLE = "compatible"  # kept: the refined answer passed every rule
ORIGINAL_PREFERRED = "original_preferred"  # the original answer was more feasible (lower r-IFD)
PAST_FRONTIER = "past_frontier"
IFD_GE_1 = "ifd_ge_1"
RIFD_GE_1 = "rifd_ge_1"
# ... and the bad-input codes of `curricula.compat.data` (missing_response, empty_response,
# wrong_type, duplicate_id, invalid_json, too_long, ...).

# rlvr's names for the input columns (keys of `CompatConfig.columns`).
INPUT_COLUMNS = ("id", "prompt", "response", "original_prompt", "original_response", "answer")


@dataclass
class CompatConfig:
    """The student-compatibility filter (``rlvr compat``; the ``compat:`` section of a YAML file).

    Args:
        columns: Maps rlvr's column names to the source's, e.g. ``{response: refined_output,
            original_response: output}``. rlvr's names: ``prompt`` (required; the refined
            prompt), ``response`` (required; the teacher's refined answer), ``original_prompt``
            and ``original_response`` (optional; what was refined), ``answer`` (optional reference
            answer for RL; defaults to the chosen response), ``id`` (optional; otherwise derived
            from the row number and prompt). Every other column is passed through to the output.
        prompt_template: How a prompt is shown to the student before its answer
            (``{prompt}`` is replaced). Use the student's training format.
        reverse_template: Context for PPL(Q|A): the answer, then a request to recover the prompt
            (``{response}`` is replaced). Every character must be in the student's vocabulary;
            the default stays within the toy character tokenizer's charset.
        response_eos: Score the answer followed by EOS (SFT trains the EOS too, and a response
            that should have ended is then more surprising).
        rules: Which rules decide, any of ``select_by_rifd`` (take the refined answer only when
            its r-IFD is below the original's; needs ``original_response``), ``frontier``,
            ``ifd_lt_1``, ``rifd_lt_1``. The default is Selective Reflection-Tuning plus the
            frontier test. A row is dropped for the first failed rule in that order; every
            failed rule is in the audit stats.
        quantile: The frontier: the chosen answer's mean per-token NLL must be at most this
            quantile of the student's profile. Default 0.9: the student's own samples are
            within its reach by construction (it wrote them), so an answer no more surprising
            than 90% of them is too. The top decile is where its samples are themselves guesses
            (in the toy world, mostly mul3x3, which it never solves), and the maximum would let
            one wild sample set the bar; 0.5 would call half of what the student itself writes
            past its frontier. On the toy world the quantiles of the profile are 0.95 (p75),
            1.82 (p90), 2.24 (p99), 3.42 (max) and the worked chains score 4.0 to 11, so q only
            moves the borderline plain answers (those the student gets wrong).
        profile: What the profile is made of: ``"generations"`` (the student's own sampled
            answers to the same prompts) or ``"original"`` (the original answers, which the
            student is presumed to have been trained on).
        profile_by: A passthrough column (e.g. ``skill``) to compute one threshold per value;
            groups with fewer than ``min_profile_size`` profile rows use the global threshold.
            ``None``: one global threshold.
        min_profile_size: Least number of profile rows behind a threshold; fewer is an error
            for the global threshold and a fallback to it for a group.
        profile_fraction: Share of rows the student generates for (``profile="generations"``),
            chosen by a hash of the row id so a resumed run picks the same rows. Lower it to
            save generation time on large data.
        profile_temperature: Sampling temperature of the student's own answers (1.0: the
            distribution it was trained to, and the one RL samples from).
        profile_max_new_tokens: Length budget of the student's own answers.
        max_length: Longest sequence (context + target) the student scores; ``None``: the
            model's context size.
        on_too_long: ``"truncate"`` (score the truncated text; the row's record and audit entry
            say so) or ``"skip"`` (drop the row as ``too_long``).
        skip_bad_rows: Bad rows (missing or empty fields, wrong types, duplicate ids) are
            dropped and recorded (audit log and ``bad_rows.jsonl``) if true; if false the first
            one stops the run with its row and field.
        batch_size: Sequences per forward pass.
        chunk_size: Rows read, scored and written to ``scores.jsonl`` at a time; a run killed
            mid-way resumes after the last complete chunk.
        seed: Seed of the student's samples.
        split: Split to read when the data is a `datasets` name.
    """

    columns: dict[str, str] = field(default_factory=dict)
    prompt_template: str = "{prompt}"
    reverse_template: str = "{response}\nGuess the instruction: "
    response_eos: bool = True
    rules: list[str] | str = field(default_factory=lambda: list(RULES))  # a str: "frontier,ifd_lt_1"
    quantile: float = 0.9
    profile: str = "generations"
    profile_by: str | None = None
    min_profile_size: int = 20
    profile_fraction: float = 1.0
    profile_temperature: float = 1.0
    profile_max_new_tokens: int = 64
    max_length: int | None = None
    on_too_long: str = "truncate"
    skip_bad_rows: bool = True
    batch_size: int = 32
    chunk_size: int = 256
    seed: int = 0
    split: str = "train"

    def __post_init__(self):
        unknown = set(self.columns) - set(INPUT_COLUMNS)
        if unknown:
            raise ValueError(
                f"compat.columns maps unknown column(s) {sorted(unknown)}; known: {', '.join(INPUT_COLUMNS)}."
            )
        if isinstance(self.rules, str):  # "frontier,ifd_lt_1" from a flag or a YAML scalar
            self.rules = [r.strip() for r in self.rules.split(",") if r.strip()]
        self.rules = list(self.rules)
        for rule in self.rules:
            if rule not in RULES:
                raise ValueError(
                    f"compat.rules: unknown rule {rule!r}.{_suggest(rule, RULES)} Known: {', '.join(RULES)}."
                )
        if not 0.0 < self.quantile <= 1.0:
            raise ValueError(f"compat.quantile must be in (0, 1], got {self.quantile}.")
        if self.profile not in ("generations", "original"):
            raise ValueError(f"compat.profile must be 'generations' or 'original', got {self.profile!r}.")
        if self.on_too_long not in ("truncate", "skip"):
            raise ValueError(f"compat.on_too_long must be 'truncate' or 'skip', got {self.on_too_long!r}.")
        if not 0.0 < self.profile_fraction <= 1.0:
            raise ValueError(f"compat.profile_fraction must be in (0, 1], got {self.profile_fraction}.")
        if "{prompt}" not in self.prompt_template:
            raise ValueError("compat.prompt_template must contain '{prompt}'.")
        if "{response}" not in self.reverse_template:
            raise ValueError("compat.reverse_template must contain '{response}'.")
        for name in ("batch_size", "chunk_size", "min_profile_size", "profile_max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"compat.{name} must be >= 1, got {getattr(self, name)}.")

    def column(self, name: str) -> str:
        """The source column holding rlvr column ``name``."""
        return self.columns.get(name, name)

    @classmethod
    def from_dict(cls, values: dict | None, where: str = "compat") -> CompatConfig:
        """Build from a mapping with the strict, typed builder every config uses: unknown keys
        (with a "did you mean") and values of the wrong type (``batch_size: two``) are
        `ConfigError`s naming the key; number strings are numbers (``quantile: "0.8"``)."""
        return build_dataclass(cls, dict(values or {}), where)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: dict | None = None) -> CompatConfig:
        """The ``compat:`` section of a YAML file (other sections are left to their readers),
        updated with ``overrides``."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file '{path}' does not exist.")
        tree = yaml.safe_load(path.read_text()) or {}
        if not isinstance(tree, dict) or not isinstance(tree.get("compat", {}) or {}, dict):
            raise ConfigError(f"'{path}' must be a mapping with a 'compat:' section of keys.")
        values = {**(tree.get("compat") or {}), **(overrides or {})}
        try:
            return cls.from_dict(values)
        except ConfigError as err:
            raise ConfigError(f"{err} (in '{path}')") from err


# ------------------------------------------------------------------------------------------------
# Scores of one (prompt, response) pair


@dataclass
class ResponseScores:
    """The student's statistics of one response to one prompt.

    Args:
        nll: Mean per-token NLL of the response after the prompt, = log PPL(A|Q).
        ppl_a_given_q: PPL(A|Q).
        ppl_a: PPL(A), the response with no prompt.
        ifd: PPL(A|Q) / PPL(A).
        ppl_q_given_a: PPL(Q|A), the prompt after the response in the reverse template.
        ppl_q: PPL(Q), the prompt alone.
        rifd: PPL(Q|A) / PPL(Q).
        response_tokens: Tokens the response was scored on (EOS included when appended).
        truncated: Some sequence was cut to ``max_length`` before scoring.
    """

    nll: float
    ppl_a_given_q: float
    ppl_a: float
    ifd: float
    ppl_q_given_a: float
    ppl_q: float
    rifd: float
    response_tokens: int
    truncated: bool = False


def response_scores(
    a_given_q: TargetNLL, a_alone: TargetNLL, q_given_a: TargetNLL, q_alone: TargetNLL, truncated: bool = False
) -> ResponseScores:
    """IFD and r-IFD from the four target NLLs (ratios of perplexities = exp of differences)."""
    return ResponseScores(
        nll=a_given_q.mean,
        ppl_a_given_q=math.exp(a_given_q.mean),
        ppl_a=math.exp(a_alone.mean),
        ifd=math.exp(a_given_q.mean - a_alone.mean),
        ppl_q_given_a=math.exp(q_given_a.mean),
        ppl_q=math.exp(q_alone.mean),
        rifd=math.exp(q_given_a.mean - q_alone.mean),
        response_tokens=a_given_q.n_tokens,
        truncated=truncated,
    )


@dataclass
class PairViews:
    """The three encoded views of one (prompt, response) pair; PPL(Q) is shared per prompt."""

    a_given_q: EncodedPair
    a_alone: EncodedPair
    q_given_a: EncodedPair

    @property
    def truncated(self) -> bool:
        return self.a_given_q.truncated or self.a_alone.truncated or self.q_given_a.truncated


def encode_views(likelihood: StudentLikelihood, config: CompatConfig, prompt: str, response: str) -> PairViews:
    """The sequences the student scores for ``response`` to ``prompt``."""
    eos = config.response_eos
    return PairViews(
        a_given_q=likelihood.encode(config.prompt_template.format(prompt=prompt), response, eos),
        a_alone=likelihood.encode(None, response, eos),
        q_given_a=likelihood.encode(config.reverse_template.format(response=response), prompt),
    )


def score_pairs(
    likelihood: StudentLikelihood, config: CompatConfig, pairs: list[tuple[str, str]]
) -> list[ResponseScores]:
    """`ResponseScores` of many ``(prompt, response)`` pairs, all views in one batched pass."""
    views = [encode_views(likelihood, config, prompt, response) for prompt, response in pairs]
    return score_encoded(likelihood, pairs, views)


def score_encoded(
    likelihood: StudentLikelihood, pairs: list[tuple[str, str]], views: list[PairViews]
) -> list[ResponseScores]:
    """`score_pairs` for pairs already encoded with `encode_views` (PPL(Q) once per prompt)."""
    prompts = list(dict.fromkeys(prompt for prompt, _ in pairs))
    prompt_alone = {p: likelihood.encode(None, p) for p in prompts}
    flat = [e for v in views for e in (v.a_given_q, v.a_alone, v.q_given_a)] + list(prompt_alone.values())
    nlls = likelihood.score(flat)
    q_nll = dict(zip(prompts, nlls[3 * len(views) :], strict=True))
    return [
        response_scores(
            nlls[3 * i],
            nlls[3 * i + 1],
            nlls[3 * i + 2],
            q_nll[pairs[i][0]],
            truncated=views[i].truncated or prompt_alone[pairs[i][0]].truncated,
        )
        for i in range(len(views))
    ]


# ------------------------------------------------------------------------------------------------
# The student's profile and the frontier threshold


def quantile(values: list[float], q: float) -> float:
    """The q-th quantile with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("quantile of no values")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Profile:
    """Frontier thresholds from the student's profile: global and, optionally, per group.

    Args:
        quantile: The q used.
        threshold: The global q-th percentile of the profile's per-token NLLs.
        size: Profile rows behind it.
        groups: ``{group value: (threshold, size)}`` when ``profile_by`` is set.
        by: The grouping column, or None.
        source: ``"generations"`` or ``"original"``.
    """

    quantile: float
    threshold: float
    size: int
    groups: dict[str, tuple[float, int]] = field(default_factory=dict)
    by: str | None = None
    source: str = "generations"

    def threshold_for(self, columns: dict) -> tuple[float, int, str]:
        """(threshold, size, scope) that applies to a row with these passthrough columns."""
        if self.by is not None:
            key = str(columns.get(self.by))
            if key in self.groups:
                threshold, size = self.groups[key]
                return threshold, size, f"{self.by}={key}"
        return self.threshold, self.size, "all"


def build_profile(values: list[tuple[str | None, float]], config: CompatConfig) -> Profile:
    """Thresholds from ``(group value, per-token NLL)`` of every profile row."""
    if len(values) < config.min_profile_size:
        raise ValueError(
            f"The student's profile has {len(values)} row(s), fewer than compat.min_profile_size="
            f"{config.min_profile_size}: the frontier threshold would be noise. "
            + (
                "Raise compat.profile_fraction or use more rows."
                if config.profile == "generations"
                else "Too few rows have an original_response; use profile: generations."
            )
        )
    nlls = [v for _, v in values]
    profile = Profile(
        config.quantile, quantile(nlls, config.quantile), len(nlls), by=config.profile_by, source=config.profile
    )
    if config.profile_by is not None:
        grouped: dict[str, list[float]] = {}
        for group, v in values:
            grouped.setdefault(str(group), []).append(v)
        profile.groups = {
            g: (quantile(vs, config.quantile), len(vs))
            for g, vs in sorted(grouped.items())
            if len(vs) >= config.min_profile_size
        }
    return profile


# ------------------------------------------------------------------------------------------------
# The decision


def decide(record: dict, config: CompatConfig, profile: Profile | None) -> Decision:
    """Keep or drop one scored row (a ``scores.jsonl`` record), with the reason and numbers.

    Bad rows (``status: bad``) are dropped with their problem code. Otherwise: choose the
    refined or the original answer (``select_by_rifd``), then test the chosen one against
    ``frontier``, ``ifd_lt_1``, ``rifd_lt_1`` in that order. The chosen answer is kept when
    it passes; the reason is ``compatible`` (refined) or ``original_preferred`` (original).
    """
    columns = dict(record.get("columns") or {})
    base = dict(
        filter=FILTER_NAME, prompt_id=str(record["id"]), columns=columns, prompt_hash=record.get("prompt_hash", "")
    )
    if record["status"] == "bad":
        return Decision(
            decision=DROPPED,
            reason=record["problem"],
            message=record["message"],
            stats={"row": record["row"], "source": record.get("source")},
            **base,
        )

    refined, original = record["refined"], record.get("original")
    rules = config.rules
    stats: dict[str, Any] = {
        "refined_nll": refined["nll"],
        "refined_ifd": refined["ifd"],
        "refined_rifd": refined["rifd"],
        "truncated": refined["truncated"],
    }
    if original is not None:
        stats.update(original_nll=original["nll"], original_ifd=original["ifd"], original_rifd=original["rifd"])
        stats["truncated"] = stats["truncated"] or original["truncated"]

    if record.get("notes"):
        stats["notes"] = record["notes"]
    chosen, scores = "refined", refined
    if SELECT_BY_RIFD in rules and original is not None and original["rifd"] < refined["rifd"]:
        chosen, scores = "original", original
    stats["chosen"] = chosen

    failed = _failed_rules(scores, chosen, columns, config, profile, stats)
    stats["failed"] = [reason for reason, _ in failed]
    truncated_note = " (scored on truncated text)" if stats["truncated"] else ""
    if failed:
        reason, message = failed[0]
        more = f"; also {', '.join(r for r, _ in failed[1:])}" if len(failed) > 1 else ""
        return Decision(decision=DROPPED, reason=reason, message=message + more + truncated_note, stats=stats, **base)
    if chosen == "original":
        message = (
            f"original answer preferred: r-IFD {original['rifd']:.2f} < refined "
            f"{refined['rifd']:.2f}; kept with NLL {scores['nll']:.2f}"
        )
        return Decision(decision=KEPT, reason=ORIGINAL_PREFERRED, message=message + truncated_note, stats=stats, **base)
    message = f"refined answer compatible: NLL {scores['nll']:.2f}, IFD {scores['ifd']:.2f}, r-IFD {scores['rifd']:.2f}"
    if FRONTIER in rules:
        message += f" (frontier {stats['frontier_nll']:.2f})"
    return Decision(decision=KEPT, reason=COMPATIBLE, message=message + truncated_note, stats=stats, **base)


def _failed_rules(
    scores: dict, chosen: str, columns: dict, config: CompatConfig, profile: Profile | None, stats: dict
) -> list[tuple[str, str]]:
    """``(reason, message)`` of each rule the chosen answer fails, in rule order; adds the frontier's
    numbers to ``stats``."""
    rules = config.rules
    failed: list[tuple[str, str]] = []
    if FRONTIER in rules:
        if profile is None:
            raise ValueError("The frontier rule needs the student's profile; none was built.")
        threshold, size, scope = profile.threshold_for(columns)
        pct = f"p{config.quantile * 100:g}"
        stats.update(
            frontier_nll=threshold,
            quantile=config.quantile,
            profile_size=size,
            profile_scope=scope,
            profile_source=profile.source,
        )
        if scores["nll"] > threshold:
            own = "own samples" if profile.source == "generations" else "original answers"
            failed.append(
                (
                    PAST_FRONTIER,
                    f"{chosen} answer past frontier: NLL {scores['nll']:.2f} > "
                    f"{pct} of student's {own} {threshold:.2f}",
                )
            )
    if IFD_LT_1 in rules and scores["ifd"] >= 1.0:
        failed.append(
            (
                IFD_GE_1,
                f"{chosen} answer has IFD {scores['ifd']:.2f} >= 1: the prompt does "
                f"not make it more predictable (PPL {scores['ppl_a_given_q']:.2f} after the "
                f"prompt, {scores['ppl_a']:.2f} alone)",
            )
        )
    if RIFD_LT_1 in rules and scores["rifd"] >= 1.0:
        failed.append(
            (
                RIFD_GE_1,
                f"{chosen} answer has r-IFD {scores['rifd']:.2f} >= 1: it does not make "
                f"the prompt more predictable (PPL {scores['ppl_q_given_a']:.2f} after the "
                f"answer, {scores['ppl_q']:.2f} alone)",
            )
        )
    return failed


def output_row(record: dict, decision: Decision) -> dict:
    """The filtered dataset's row of a kept record: id, prompt, answer, completion, chosen, ...

    ``completion`` is the chosen answer (TRL's prompt-completion format, ready for SFT);
    ``answer`` is the row's reference answer if it had one, else the chosen answer (for RL).
    """
    chosen = decision.stats["chosen"]
    prompt = record["original_prompt"] if chosen == "original" else record["prompt"]
    completion = record["original_response"] if chosen == "original" else record["response"]
    answer = record.get("answer")
    return {
        **record.get("columns", {}),
        "id": record["id"],
        "prompt": prompt,
        "answer": completion if answer is None else answer,
        "completion": completion,
        "chosen": chosen,
    }
