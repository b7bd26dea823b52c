"""Argument checks shared by the public entry points: each names the argument and its bad value."""

from __future__ import annotations

import math

from ._errors import ConfigurationError

__all__ = ["check_seconds"]


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
