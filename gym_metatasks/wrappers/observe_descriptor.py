"""Put the task descriptor into the observation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from gym_metatasks.validation import check_int

OBSERVATION_KEY = "observation"
DESCRIPTOR_KEY = "task_descriptor"


class ObserveDescriptor(gym.ObservationWrapper[Any, Any, Any]):
    """Add the active task's descriptor to every observation.

    - ``mode="concat"``: a flat float32 ``Box``: the observation (a 1-D ``Box``, or a
      ``Discrete`` one-hot encoded) followed by the descriptor.
    - ``mode="dict"``: a flat ``Dict`` with keys ``"observation"`` and
      ``"task_descriptor"``; a ``Dict`` observation gains the ``"task_descriptor"`` key
      instead (never nested: SB3's ``MultiInputPolicy`` rejects nested dicts).

    The descriptor is read from ``info["task_descriptor"]`` at every reset, so it follows
    task switches. ``features`` keeps only some of its entries, in the order given (by
    name, from ``family.descriptor_names``, or by index), e.g. ``features=["gravity",
    "length"]`` on MetaCartPole-v0: the other task parameters stay hidden from the agent.

    :param env: an env whose ``reset`` info holds ``"task_descriptor"`` (every
        gym_metatasks env)
    :param mode: ``"concat"`` or ``"dict"``
    :param features: the descriptor entries to observe (default: all)
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        mode: Literal["concat", "dict"] = "concat",
        features: Sequence[str | int] | None = None,
    ):
        super().__init__(env)
        if mode not in ("concat", "dict"):
            raise ValueError(f"mode must be 'concat' or 'dict', got {mode!r}")
        inner_env: Any = env
        while isinstance(inner_env, gym.Wrapper):
            if isinstance(inner_env, ObserveDescriptor):
                raise ValueError(
                    f"env already observes the descriptor (an ObserveDescriptor in {env}); "
                    "applying it twice would add the descriptor twice"
                )
            inner_env = inner_env.env
        self.mode = mode
        family = getattr(env.unwrapped, "family", None)
        if family is None:
            raise TypeError(
                f"ObserveDescriptor needs a gym_metatasks env (with a task family), got {env}"
            )
        names: tuple[str, ...] = tuple(family.descriptor_names)
        self.feature_indices = _feature_indices(features, names)
        self.features = tuple(names[i] for i in self.feature_indices)
        full_space: spaces.Box = family.descriptor_space
        descriptor_space = spaces.Box(
            full_space.low[self.feature_indices],
            full_space.high[self.feature_indices],
            dtype=np.float32,
        )
        self._descriptor: NDArray[np.float32] = self._select(
            env.get_wrapper_attr("task_descriptor")
        )
        inner = env.observation_space
        if mode == "dict":
            if isinstance(inner, spaces.Dict):
                nested = [k for k, s in inner.spaces.items() if isinstance(s, spaces.Dict)]
                if nested or DESCRIPTOR_KEY in inner.spaces:
                    raise ValueError(
                        f"cannot add {DESCRIPTOR_KEY!r} to a Dict observation with nested "
                        f"dicts {nested} or an existing {DESCRIPTOR_KEY!r} key"
                    )
                self.observation_space = spaces.Dict(
                    {**inner.spaces, DESCRIPTOR_KEY: descriptor_space}
                )
            else:
                self.observation_space = spaces.Dict(
                    {OBSERVATION_KEY: inner, DESCRIPTOR_KEY: descriptor_space}
                )
        elif isinstance(inner, spaces.Discrete):
            self._one_hot = np.eye(int(inner.n), dtype=np.float32)
            self.observation_space = spaces.Box(
                np.concatenate([np.zeros(int(inner.n), np.float32), descriptor_space.low]),
                np.concatenate([np.ones(int(inner.n), np.float32), descriptor_space.high]),
                dtype=np.float32,
            )
        elif isinstance(inner, spaces.Box) and len(inner.shape) == 1:
            self.observation_space = spaces.Box(
                np.concatenate([inner.low.astype(np.float32), descriptor_space.low]),
                np.concatenate([inner.high.astype(np.float32), descriptor_space.high]),
                dtype=np.float32,
            )
        else:
            raise ValueError(
                f'mode="concat" needs a 1-D Box or a Discrete observation space, got {inner}; '
                'use mode="dict"'
            )

    def observation(self, observation: Any) -> Any:
        """The env's observation joined with the active task's descriptor."""
        if self.mode == "dict":
            if isinstance(observation, dict):
                return {**observation, DESCRIPTOR_KEY: self._descriptor}
            return {OBSERVATION_KEY: observation, DESCRIPTOR_KEY: self._descriptor}
        if isinstance(self.env.observation_space, spaces.Discrete):
            return np.concatenate([self._one_hot[int(observation)], self._descriptor])
        return np.concatenate([np.asarray(observation, dtype=np.float32), self._descriptor])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        if DESCRIPTOR_KEY not in info:
            raise KeyError(f"ObserveDescriptor: the env's reset info has no {DESCRIPTOR_KEY!r}")
        self._descriptor = self._select(info[DESCRIPTOR_KEY])
        return self.observation(observation), info

    def _select(self, descriptor: Any) -> NDArray[np.float32]:
        return np.asarray(descriptor, dtype=np.float32)[self.feature_indices]


def _feature_indices(features: Any, names: tuple[str, ...]) -> NDArray[np.intp]:
    """Indices into the descriptor of ``features`` (names or indices; ``None``: all)."""
    if features is None:
        return np.arange(len(names))
    if isinstance(features, (str, bytes)) or not isinstance(features, Sequence):
        raise TypeError(
            f"features must be a list of descriptor entry names or indices, got {features!r}"
        )
    if not features:
        raise ValueError("features must name at least one descriptor entry, got []")
    indices = []
    for k, feature in enumerate(features):
        if isinstance(feature, str):
            if feature not in names:
                raise ValueError(
                    f"features[{k}] {feature!r} is not a descriptor entry; allowed: {list(names)}"
                )
            indices.append(names.index(feature))
        elif isinstance(feature, (int, np.integer)) and not isinstance(feature, (bool, np.bool_)):
            indices.append(check_int(f"features[{k}]", feature, 0, len(names) - 1))
        else:
            raise TypeError(
                f"features[{k}] must be a descriptor entry name or an index in "
                f"[0, {len(names) - 1}], got {feature!r}"
            )
    repeated = sorted({names[i] for i in indices if indices.count(i) > 1})
    if repeated:
        raise ValueError(f"features names descriptor entries more than once: {repeated}")
    return np.asarray(indices, dtype=np.intp)
