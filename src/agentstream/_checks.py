"""Argument checks shared by the public entry points: each names the argument and its bad value."""

from __future__ import annotations

import math

from ._errors import ConfigurationError

__all__ = ["check_duration", "check_seconds"]


def check_seconds(name: str, value: object, *, allow_zero: bool = False) -> float | None:
    """Return `value` as float seconds, or None for None; refuse anything else that is not finite.

    Raises:
        ConfigurationError: `value` is a bool, not a number, not finite, negative, or zero when
            `allow_zero` is false.

    """
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigurationError(
            f"{name} must be a finite number of seconds {bound} or None, got {value!r}"
        )
    return float(value)


def check_duration(name: str, value: object) -> float:
    """Return `value` as float seconds; refuse None and anything not finite and > 0.

    Raises:
        ConfigurationError: `value` is None, a bool, not a number, not finite, or not > 0.

    """
    seconds = check_seconds(name, value) if value is not None else None
    if seconds is None:
        raise ConfigurationError(f"{name} must be a finite number of seconds > 0, got None")
    return seconds
