"""Per-skill pass rates of the toy model, by sampling as GRPO does."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from curricula.rollouts import SamplingSetup, sample_prompts

from ._torch_utils import num_threads
from .encoding import answer_probabilities
from .tasks import SKILLS

DEFAULT_MAX_NEW_TOKENS = 8  # longest answer (mul3x3: 6 digits) + EOS fits


class PassRates(dict):
    """``{skill: pass rate}`` that also remembers how it was measured."""

    def __init__(self, rates: Mapping[str, float], n_prompts: Mapping[str, int], samples_per_prompt: int):
        super().__init__(rates)
        self.n_prompts = dict(n_prompts)
        self.samples_per_prompt = samples_per_prompt


def _skill_order(names) -> list[str]:
    return sorted(names, key=lambda s: (SKILLS.index(s) if s in SKILLS else len(SKILLS), s))


def is_correct(completion: str, answer: str) -> bool:
    """The toy verifier: exact match of the stripped completion."""
    return completion.strip() == answer


def _toy_setup(tokenizer, max_new_tokens: int, batch_size: int) -> SamplingSetup:
    """The toy world's sampling: ``batch_size`` completions per call (a prompt's samples may span
    two), prompts with their BOS, generation stopping at the tokenizer's EOS."""
    return SamplingSetup(
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        generate_options={"eos_token_id": tokenizer.eos_token_id, "bos_token_id": tokenizer.bos_token_id},
    )


def sample_completions(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    temperature: float = 1.0,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = 512,
) -> list[str]:
    """One sampled completion per prompt (plain multinomial sampling: top_k=0, top_p=1), drawn
    from the caller's torch RNG (`curricula.rollouts.sample_prompts` with no seed)."""
    setup = _toy_setup(tokenizer, max_new_tokens, batch_size)
    samples = sample_prompts(model, tokenizer, list(prompts), 1, temperature, seed=None, setup=setup)
    return [s.completions[0] for s in samples]


def measure_pass_rates(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Mapping],
    samples_per_prompt: int = 8,
    temperature: float = 1.0,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = 512,
    seed: int = 0,
    threads: int | None = 1,
) -> PassRates:
    """Mean per-skill share of correct samples over ``examples`` (dicts with prompt, answer, skill).

    Each prompt is sampled ``samples_per_prompt`` times at ``temperature`` with top_k=0 and
    top_p=1.0, TRL's default GRPO sampling. Seeded: the same inputs give the same rates.
    Runs with ``threads`` torch threads (None: as set), see :func:`._torch_utils.num_threads`.
    """
    rates = per_prompt_pass_rates(
        model, tokenizer, examples, samples_per_prompt, seed, threads, temperature, max_new_tokens, batch_size
    )
    by_skill: dict[str, list[float]] = defaultdict(list)
    for ex, rate in zip(examples, rates, strict=True):
        by_skill[ex["skill"]].append(rate)
    order = _skill_order(by_skill)
    return PassRates(
        {s: sum(by_skill[s]) / len(by_skill[s]) for s in order},
        {s: len(by_skill[s]) for s in order},
        samples_per_prompt,
    )


def expected_pass_rates(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Mapping],
    temperature: float = 1.0,
) -> dict[str, float]:
    """Per-skill mean of :func:`answer_probabilities`."""
    probs = answer_probabilities(model, tokenizer, examples, temperature)
    acc: dict[str, list[float]] = defaultdict(list)
    for ex, p in zip(examples, probs, strict=True):
        acc[ex["skill"]].append(p)
    return {s: sum(acc[s]) / len(acc[s]) for s in _skill_order(acc)}


def format_pass_rate_table(
    rates: Mapping[str, float],
    n_prompts: Mapping[str, int] | None = None,
    samples_per_prompt: int | None = None,
) -> str:
    """A plain-text table: skill | pass rate | n prompts | samples."""
    n_prompts = n_prompts if n_prompts is not None else getattr(rates, "n_prompts", {})
    if samples_per_prompt is None:
        samples_per_prompt = getattr(rates, "samples_per_prompt", None)
    rows = [("skill", "pass rate", "n prompts", "samples")]
    for skill, rate in rates.items():
        n = n_prompts.get(skill)
        rows.append(
            (
                skill,
                f"{rate:.3f}",
                "-" if n is None else str(n),
                "-" if n is None or samples_per_prompt is None else str(n * samples_per_prompt),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [" | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def per_prompt_pass_rates(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Mapping],
    samples_per_prompt: int = 32,
    seed: int = 0,
    threads: int | None = 1,
    temperature: float = 1.0,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = 512,
) -> list[float]:
    """Each example's share of correct samples (``samples_per_prompt`` at ``temperature``, seeded)."""
    setup = _toy_setup(tokenizer, max_new_tokens, batch_size)
    with num_threads(threads):
        samples = sample_prompts(
            model, tokenizer, [ex["prompt"] for ex in examples], samples_per_prompt, temperature, seed, setup=setup
        )
    k = samples_per_prompt
    return [sum(is_correct(c, ex["answer"]) for c in s.completions) / k for ex, s in zip(examples, samples)]


def all_or_nothing_profile(pass_rates: Sequence[float], group_size: int = 8) -> dict[str, float]:
    """How all-or-nothing a set of prompts is: the share never solved (rate 0), always solved
    (rate 1) and in between, and the expected share of GRPO groups of ``group_size`` whose rewards
    are all equal (``p^g + (1-p)^g`` averaged over prompts: the groups that carry no signal)."""
    n = len(pass_rates)
    if n == 0:
        raise ValueError("no pass rates")
    return {
        "never": sum(p == 0 for p in pass_rates) / n,
        "always": sum(p == 1 for p in pass_rates) / n,
        "between": sum(0 < p < 1 for p in pass_rates) / n,
        "zero_variance_groups": sum(p**group_size + (1 - p) ** group_size for p in pass_rates) / n,
    }
