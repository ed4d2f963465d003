"""Argument checks shared by the agents: the parameter, the value and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int; ``ValueError`` naming ``name`` unless it is a positive int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_number(
    name: str, value: Any, low: float, high: float, *, open_low: bool = False
) -> float:
    """``value`` as a float in ``[low, high]`` (``(low, high]`` with ``open_low``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a number, got {value!r} of type {type(value).__name__}")
    number = float(value)
    low_ok = number > low if open_low else number >= low
    if not (math.isfinite(number) and low_ok and number <= high):
        interval = f"{'(' if open_low else '['}{low}, {high}]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return number


def check_int(name: str, value: Any, low: int, what: str = "") -> int:
    """``value`` as an int ``>= low``; ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {low}{what}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}{what}, got {value!r}")
    return int(value)


def check_learning_rate(value: Any) -> float | Callable[[float], float]:
    """A learning rate in ``(0, 1]``, or a schedule whose first value is one."""
    if callable(value):
        first = value(1.0)
        check_number(
            "learning_rate(1.0) (the schedule's first value)", first, 0.0, 1.0, open_low=True
        )
        return value
    return check_number("learning_rate", value, 0.0, 1.0, open_low=True)
