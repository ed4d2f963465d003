"""The base environment of the grid families: steps through the task's tabular model and
renders its layout."""

from __future__ import annotations

import operator
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from gym_metatasks.envs.grid import ACTION_NAMES, MOVES, GridFamily
from gym_metatasks.envs.grid_render import HumanWindow, render_ansi, render_rgb
from gym_metatasks.meta_env import MetaTaskEnv
from gym_metatasks.validation import check_render_mode


class GridTaskEnv(MetaTaskEnv):
    """Base environment of the grid families: steps through the task's tabular model.

    Subclasses set ``symbols`` and ``palette``; the family gives the observations.
    """

    metadata: ClassVar[dict[str, Any]] = {  # type: ignore[misc]
        "render_modes": ["human", "ansi", "rgb_array"],
        "render_fps": 8,
    }
    symbols: ClassVar[str]
    palette: ClassVar[NDArray[np.uint8]]
    family: GridFamily[Any]

    def __init__(
        self, family: GridFamily[Any], task_id: Any, task: Any, render_mode: str | None
    ) -> None:
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.size = family.size
        self.action_space = spaces.Discrete(len(MOVES))
        self.observation_space = family.observation_space
        self._observe = family.observation
        self._state = 0
        self._last_action: int | None = None
        self._window: HumanWindow | None = None
        self._init_task(family, task_id, task)

    # ------------------------------------------------------------------ task
    def _apply_task(self, params: Any) -> None:
        model = self.family.model(params)
        table = []
        for s in range(model.num_states):
            row = []
            for a in range(model.num_actions):
                keep = model.prob[s, a] > 0
                cumulative = np.cumsum(model.prob[s, a][keep]).tolist()
                cumulative[-1] = float("inf")  # guard against rounding
                row.append(
                    (
                        tuple(cumulative),
                        tuple(int(x) for x in model.next_state[s, a][keep]),
                        tuple(float(x) for x in model.reward[s, a][keep]),
                        tuple(bool(x) for x in model.terminal[s, a][keep]),
                    )
                )
            table.append(row)
        self._table = table
        self._start = model.start
        self._goal = self.family.goal_state(params)
        self._layout = self.family.layout(params)

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self._switch_task_for_reset(options)
        self._state = self._start
        self._last_action = None
        if self.render_mode == "human":
            self.render()
        return self._observe(self._state), self._info(False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        try:
            a = operator.index(action)
        except TypeError:
            a = -1
        if not 0 <= a < len(MOVES):
            raise ValueError(f"action must be an int in [0, {len(MOVES)}), got {action!r}")
        cumulative, next_states, rewards, terminals = self._table[self._state][a]
        k = 0
        if len(cumulative) > 1:
            u = self.np_random.random()
            while u >= cumulative[k]:
                k += 1
        self._state = next_states[k]
        self._last_action = a
        if self.render_mode == "human":
            self.render()
        success = self._state == self._goal
        return self._observe(self._state), rewards[k], terminals[k], False, self._info(success)

    def render(self) -> Any:
        if self.render_mode is None:
            return None
        if self.render_mode == "ansi":
            action = "" if self._last_action is None else ACTION_NAMES[self._last_action]
            return render_ansi(self._layout, self._state, self.symbols, action)
        frame = render_rgb(self._layout, self._state, self.palette)
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = HumanWindow(type(self).__name__, self.metadata["render_fps"])
        self._window.show(frame)
        return None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
