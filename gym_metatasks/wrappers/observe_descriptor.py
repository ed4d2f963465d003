"""Put the task descriptor into the observation."""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

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
    task switches.

    :param env: an env whose ``reset`` info holds ``"task_descriptor"`` (every
        gym_metatasks env)
    :param mode: ``"concat"`` or ``"dict"``
    """

    def __init__(self, env: gym.Env[Any, Any], mode: Literal["concat", "dict"] = "concat"):
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
        descriptor_space: spaces.Box = family.descriptor_space
        self._descriptor: NDArray[np.float32] = np.asarray(
            env.get_wrapper_attr("task_descriptor"), dtype=np.float32
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
        self._descriptor = np.asarray(info[DESCRIPTOR_KEY], dtype=np.float32)
        return self.observation(observation), info
