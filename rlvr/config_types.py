"""rlvr's name for the strict, typed config builder, which lives in `rewards.config_types` (the
bottom layer, so that the curricula's and compat's configs are built by the same code)."""

from rewards.config_types import (
    ConfigError,
    build_dataclass,
    check_known_keys,
    close_names,
    coerce_value,
    describe,
    did_you_mean,
    type_hints,
    unknown_key_message,
    unknown_keys_message,
)

__all__ = [
    "ConfigError",
    "build_dataclass",
    "check_known_keys",
    "close_names",
    "coerce_value",
    "describe",
    "did_you_mean",
    "type_hints",
    "unknown_key_message",
    "unknown_keys_message",
]
