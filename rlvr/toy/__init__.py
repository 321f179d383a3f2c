"""The toy world: a tiny character-level LM, synthetic skills of graded difficulty, and a cached
warm-up that leaves the model with a spread of per-skill pass rates, so that curriculum filtering
has something to filter. Nothing comes from the Hugging Face Hub: the built world ships with the
package (``rlvr/toy/shipped_world/``, verified by SHA-256 on load), because builds differ by CPU.

    >>> from rlvr.toy import build_toy_world, toy_dataset
    >>> path = build_toy_world()          # the shipped world; source="built" builds one (~1.5 min)
    >>> train = toy_dataset("train")      # columns: id, prompt, answer, skill

``python -m rlvr.toy`` loads the world and prints its pass-rate table; ``--rebuild`` builds it from
the recipe into the cache instead.
"""

from .encoding import answer_probabilities
from .evaluate import (
    DEFAULT_MAX_NEW_TOKENS,
    PassRates,
    expected_pass_rates,
    format_pass_rate_table,
    is_correct,
    measure_pass_rates,
    sample_completions,
)
from .model import build_model
from .shipped import SHIPPED_DIR, RecipeMismatchError, ToyWorldError, verify_world
from .tasks import SKILLS, make_examples, split_of
from .tokenizer import build_tokenizer
from .training import WARMUP_RECIPE, warmup
from .world import (
    build_toy_world,
    default_cache_dir,
    eval_examples,
    is_built,
    load_pass_rates,
    measure_world,
    recipe_hash,
    shipped_toy_world,
    toy_dataset,
    toy_world_dir,
)

__all__ = [
    "SHIPPED_DIR",
    "RecipeMismatchError",
    "ToyWorldError",
    "shipped_toy_world",
    "verify_world",
    "DEFAULT_MAX_NEW_TOKENS",
    "SKILLS",
    "WARMUP_RECIPE",
    "PassRates",
    "answer_probabilities",
    "build_model",
    "build_tokenizer",
    "build_toy_world",
    "default_cache_dir",
    "eval_examples",
    "expected_pass_rates",
    "format_pass_rate_table",
    "is_built",
    "is_correct",
    "load_pass_rates",
    "make_examples",
    "measure_pass_rates",
    "measure_world",
    "recipe_hash",
    "sample_completions",
    "split_of",
    "toy_dataset",
    "toy_world_dir",
    "warmup",
]
