"""Verifiable rewards: verifiers, their registry, the code sandbox and the TRL adapter.

Importing this package registers the built-in verifiers (``exact``, ``math``, ``format``,
``choice``, ``code``). See `rewards.base` for what a verifier is and `rewards.adapter` for
turning verifiers into TRL reward functions.
"""

import rewards.builtin  # noqa: F401 - registers the built-in verifiers
from rewards.adapter import VerifierSpec, make_reward_funcs
from rewards.base import UserInputError, VerifierError
from rewards.registry import UnknownVerifierError, get_verifier, list_verifiers, register_verifier

__all__ = [
    "UnknownVerifierError",
    "UserInputError",
    "VerifierError",
    "VerifierSpec",
    "get_verifier",
    "list_verifiers",
    "make_reward_funcs",
    "register_verifier",
]
