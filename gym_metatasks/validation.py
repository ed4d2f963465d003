"""Checks of user input shared by every family; each error names the parameter, the value
received and what is allowed."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

TaskT = TypeVar("TaskT")

#: The longest horizon the oracles accept: the exact ones hold a table per step left.
MAX_HORIZON = 10_000
#: The most task ids one call may draw.
MAX_SAMPLE_SIZE = 1_000_000
#: Seeds are what NumPy's ``SeedSequence`` and ``torch.manual_seed`` both take.
MAX_SEED = 2**63 - 1


def check_task_id(value: Any, num_tasks: int, *, name: str = "task_id") -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``[0, num_tasks)``.

    NumPy integers are accepted; ``bool``, floats (even integral ones), strings and
    ``None`` are refused with a ``TypeError``, out-of-range integers with a ``ValueError``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int in [0, {num_tasks}), got {value!r} "
            f"of type {type(value).__name__}"
        )
    task_id = int(value)
    if not 0 <= task_id < num_tasks:
        raise ValueError(f"{name} must be in [0, {num_tasks}), got {task_id}")
    return task_id


def check_real(name: str, value: Any, low: float, high: float) -> float:
    """Return ``value`` as a float if it is a finite real number in ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [{low}, {high}], got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite and in [{low}, {high}], got {number}")
    if not low <= number <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {number}")
    return number


def check_int(name: str, value: Any, low: int, high: int) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) in ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {number}")
    return number


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (NumPy's included); 0, 1 and strings are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_seed(name: str, value: Any, *, generator: bool = False) -> Any:
    """Return ``value`` if it is None or an int in ``[0, 2**63)`` (or, with ``generator``, a
    ``numpy.random.Generator``)."""
    if value is None or (generator and isinstance(value, np.random.Generator)):
        return value
    allowed = f"None, an int in [0, {MAX_SEED}]" + (" or a numpy Generator" if generator else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    if not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_render_mode(render_mode: Any, modes: list[str]) -> str | None:
    """Return ``render_mode`` if it is None or one of the env's ``modes``."""
    if render_mode is not None and render_mode not in modes:
        raise ValueError(f"render_mode must be one of {modes} or None, got {render_mode!r}")
    return render_mode


def check_cell(name: str, value: Any, size: int) -> tuple[int, int]:
    """Return ``value`` as a ``(row, col)`` tuple of ints inside a ``size x size`` grid."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a (row, col) pair, got {value!r}")
    row = check_int(f"{name}[0] (row)", value[0], 0, size - 1)
    col = check_int(f"{name}[1] (col)", value[1], 0, size - 1)
    return row, col


def check_cells(name: str, value: Any, size: int) -> tuple[tuple[int, int], ...]:
    """Return a sorted tuple of distinct ``(row, col)`` cells inside a ``size x size`` grid."""
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a collection of (row, col) pairs, got {value!r}")
    cells = [check_cell(f"{name}[{i}]", cell, size) for i, cell in enumerate(value)]
    return tuple(sorted(set(cells)))


def coerce_task(task_class: type[TaskT], value: Any, *, name: str = "task") -> TaskT:
    """Return ``value`` as an instance of the frozen dataclass ``task_class``.

    Accepts an instance (returned as is) or a mapping with exactly the dataclass's
    fields; the field values themselves are checked by the family.
    """
    if isinstance(value, task_class):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{name} must be a {task_class.__name__} or a dict with its fields, "
            f"got {type(value).__name__}"
        )
    fields = {field.name for field in dataclasses.fields(task_class)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - fields)
    missing = sorted(fields - set(value))
    if unknown:
        raise TypeError(
            f"{name} has unknown field(s) {unknown}; {task_class.__name__} has {sorted(fields)}"
        )
    if missing:
        raise TypeError(f"{name} is missing field(s) {missing} of {task_class.__name__}")
    return task_class(**value)
