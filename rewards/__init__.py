"""Verifiable rewards: verifiers, their registry, the code sandbox and the TRL adapter.

Importing this package registers the built-in verifiers (``exact``, ``math``, ``format``,
``choice``, ``code``). See `rewards.base` for what a verifier is, `rewards.adapter` for
turning verifiers into TRL reward functions, `rewards.errors` for the error budget that stops a
run on a broken verifier, and `rewards.probes` for the check before training (`preflight`).
"""

import rewards.builtin  # noqa: F401 - registers the built-in verifiers
from rewards.adapter import VerifierSpec, make_reward_funcs
from rewards.base import UserInputError, VerifierError
from rewards.errors import (
    BrokenVerifierError,
    ErrorCounts,
    VerifierBudgetExceeded,
    VerifierPreflightError,
    check_error_budget,
    enforce_error_budgets,
)
from rewards.probes import preflight
from rewards.registry import UnknownVerifierError, get_verifier, list_verifiers, register_verifier

__all__ = [
    "BrokenVerifierError",
    "ErrorCounts",
    "UnknownVerifierError",
    "UserInputError",
    "VerifierBudgetExceeded",
    "VerifierError",
    "VerifierPreflightError",
    "VerifierSpec",
    "check_error_budget",
    "enforce_error_budgets",
    "get_verifier",
    "list_verifiers",
    "make_reward_funcs",
    "preflight",
    "register_verifier",
]
