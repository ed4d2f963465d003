"""Argument checks shared by the package: the parameter, the value and what is allowed.

:data:`LIMITS` states once what every numeric parameter of the package may be, by name (one
name, one meaning): :func:`check_args` applies it to a function's arguments,
:func:`check_config` to a configuration dataclass (nested ones included), and the command
line turns it into its options' argument types (:mod:`sb3_metadqn.options`).

>>> check_args({"source_timesteps": -5})
Traceback (most recent call last):
...
ValueError: source_timesteps must be a positive int or None, got -5
>>> check_value("threshold", float("nan"))
Traceback (most recent call last):
...
ValueError: threshold must be a finite number in [0, 1], got nan
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gym_metatasks.validation import MAX_SEED

#: The widest hidden layer a network may ask for (a typo such as 64000 fails at once, not
#: after allocating gigabytes).
MAX_WIDTH = 65_536


@dataclass(frozen=True)
class Limit:
    """What a numeric parameter may be: an ``int`` or a finite ``float`` in ``[low, high]``
    (``open_low``/``open_high`` exclude an end), ``None`` too with ``optional``, and with
    ``sequence`` a list or tuple whose every entry is such a number."""

    kind: type[int] | type[float]
    low: float
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False
    optional: bool = False
    sequence: bool = False

    def allowed(self, *, entry: bool = False) -> str:
        """What is allowed, in words (``entry``: one entry of a sequence)."""
        if self.kind is int:
            if self.high == math.inf:
                text = "a positive int" if self.low == 1 else f"an int >= {int(self.low)}"
            else:
                text = f"an int in [{int(self.low)}, {int(self.high)}]"
        elif self.high == math.inf:
            text = f"a finite number {'>' if self.open_low else '>='} {self.low:g}"
        else:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            text = f"a finite number in {left}{self.low:g}, {self.high:g}{right}"
        if self.sequence and not entry:
            text = f"a list of entries each {text}"
        return f"{text} or None" if self.optional and not entry else text

    def check(self, name: str, value: Any) -> Any:
        """``value`` converted (ints to ``int``, floats to ``float``, sequences to tuples).

        :raises ValueError: naming ``name``, the value and what is allowed
        """
        if value is None and self.optional:
            return None
        if self.sequence:
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                raise ValueError(f"{name} must be {self.allowed()}, got {value!r}")
            return tuple(self.check_entry(f"{name}[{k}]", v) for k, v in enumerate(value))
        return self.check_entry(name, value, self.allowed())

    def check_entry(self, name: str, value: Any, allowed: str = "") -> int | float:
        """One number (an entry of a sequence) checked and converted; ``allowed`` replaces
        what the error says is allowed."""
        allowed = allowed or self.allowed(entry=True)
        integer = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        real = integer or isinstance(value, (float, np.floating))
        if not (integer if self.kind is int else real):
            raise ValueError(f"{name} must be {allowed}, got {value!r}")
        number = int(value) if self.kind is int else float(value)
        low_ok = number > self.low if self.open_low else number >= self.low
        high_ok = number < self.high if self.open_high else number <= self.high
        if not (math.isfinite(number) and low_ok and high_ok):
            raise ValueError(f"{name} must be {allowed}, got {value!r}")
        return number


_POSITIVE = Limit(int, 1)
_OPTIONAL_POSITIVE = Limit(int, 1, optional=True)
_COUNT = Limit(int, 0)
_WIDTHS = Limit(int, 1, MAX_WIDTH, sequence=True)
_WEIGHT = Limit(float, 0.0)
_RATE = Limit(float, 0.0, 1.0, open_low=True)

_POSITIVE_NAMES = (
    "rounds", "chunk_size", "iterations", "meta_batch_size", "steps", "batch_size",
    "batch_tasks", "checkpoint_every", "checkpoint_freq", "n_envs", "total_timesteps",
    "timesteps", "eval_freq", "eval_episodes", "tasks", "seeds", "rank", "embedding",
    "planner_channels", "planner_iterations", "neighbours", "embedding_dim", "meta_candidates",
    "k", "guard_episodes",
)  # fmt: skip

#: Every numeric parameter of the package by name: meta-training (:class:`MetaTrainConfig`,
#: :func:`meta_train`, the mapping network's configurations), the baselines' trainers, the
#: agents and the evaluation.
LIMITS: dict[str, Limit] = {
    # how much: steps, sources, rounds, sizes
    **dict.fromkeys(_POSITIVE_NAMES, _POSITIVE),
    **dict.fromkeys(
        ("num_sources", "source_timesteps", "keep_sources", "inner_steps", "num_workers"),
        _OPTIONAL_POSITIVE,
    ),
    **dict.fromkeys(("mapper_steps", "meta_probe_steps", "meta_probe_episodes", "verbose"), _COUNT),
    "seed": Limit(int, 0, MAX_SEED),
    # network shapes
    "net_arch": _WIDTHS,
    "embedding_net_arch": _WIDTHS,
    # rates and weights
    "gamma": Limit(float, 0.0, 1.0, open_high=True),
    "learning_rate": _RATE,
    "outer_step_size": _RATE,
    "anchor_rate": Limit(float, 0.0, 1.0, open_high=True),
    "action_anchor": _WEIGHT,
    "threshold": Limit(float, 0.0, 1.0),
    "source_q_limit": Limit(float, 0.0, open_low=True, optional=True),
    **dict.fromkeys(("ce_weight", "td_weight", "beta"), _WEIGHT),
}


def check_value(name: str, value: Any, limit: Limit | None = None) -> Any:
    """``value`` checked against ``limit`` (default: ``LIMITS[name]``) and converted."""
    return (limit or LIMITS[name]).check(name, value)


def check_args(values: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """Every value of ``values`` whose name has a :data:`LIMITS` entry checked (others
    pass as they are); the checked values. ``prefix`` goes before the names in errors."""
    return {
        name: LIMITS[name].check(prefix + name, value) if name in LIMITS else value
        for name, value in values.items()
    }


def check_config(config: Any, *, prefix: str = "") -> None:
    """Check every field of a configuration dataclass that has a :data:`LIMITS` entry, the
    fields of nested configurations too (named ``<field>.<name>``)."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_config(value, prefix=f"{prefix}{field.name}.")
        elif field.name in LIMITS:
            LIMITS[field.name].check(prefix + field.name, value)


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int; ``ValueError`` naming ``name`` unless it is a positive int."""
    return int(_POSITIVE.check(name, value))


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
