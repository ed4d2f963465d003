"""Argument checks shared by the agents: the parameter, the value and what is allowed."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int; ``ValueError`` naming ``name`` unless it is a positive int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
