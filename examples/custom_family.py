"""A task family of your own: MetaCorridor, walk along a corridor to a hidden goal cell.

The tutorial "Add your own task family" (docs/guides/custom-family.md) builds this file
step by step. Tasks differ in the goal cell and in how slippery the floor is; the agent sees
only its own cell. Because every task has a small tabular model, ``TabularFamily`` gives the
exact oracle (optimal, random and any policy's expected return) for free.

``python examples/custom_family.py [--episodes N] [--timesteps N]``
"""

from __future__ import annotations

import argparse
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from gym_metatasks import ResampleTask, tabular
from gym_metatasks.family import Registration, shared_family
from gym_metatasks.meta_env import DEFAULT_TASK_ID, MetaTaskEnv
from gym_metatasks.tabular_family import TabularFamily
from gym_metatasks.task_rng import TaskRng
from gym_metatasks.validation import check_int, check_real, check_render_mode
from sb3_metadqn import TabularQLearning

# --8<-- [start:constants]
LENGTH = 12
START = LENGTH // 2
GOAL_REWARD = 1.0
STEP_REWARD = -0.05
#: Numbered tasks draw ``slip`` in ``[0, MAX_GENERATED_SLIP]``; explicit ones may go to
#: ``MAX_SLIP`` (the descriptor divides by it, so it stays in ``[0, 1]``).
MAX_GENERATED_SLIP = 0.3
MAX_SLIP = 0.5
LEFT, RIGHT = 0, 1
# --8<-- [end:constants]


# --8<-- [start:task]
# -- 1. The task: a frozen dataclass of everything that varies between tasks.
@dataclass(frozen=True)
class CorridorTask:
    """One MetaCorridor task.

    :param goal: the goal cell, in ``[0, LENGTH)``, not the start cell
    :param slip: probability that a step goes the other way, in ``[0, MAX_SLIP]``
    """

    goal: int
    slip: float


# --8<-- [end:task]


# --8<-- [start:family]
# -- 2. The family: generation, validation, descriptor and the exact model.
class CorridorFamily(TabularFamily[CorridorTask]):
    """The MetaCorridor task family (see :class:`MetaCorridorEnv`)."""

    name = "MetaCorridor"
    version = 0
    task_class = CorridorTask
    num_tasks = 200
    num_train_range = 160
    registrations = (Registration("MetaCorridor-v0"),)

    def default_horizon(self) -> int:
        return 3 * LENGTH

    def _generate(self, rng: TaskRng) -> CorridorTask:
        goal = rng.choice([cell for cell in range(LENGTH) if cell != START])
        return CorridorTask(goal, round(rng.uniform(0.0, MAX_GENERATED_SLIP), 3))

    def _validate(self, task: CorridorTask) -> CorridorTask:
        goal = check_int("task.goal", task.goal, 0, LENGTH - 1)
        if goal == START:
            raise ValueError(f"task.goal must not be the start cell {START}, got {goal}")
        return CorridorTask(goal, check_real("task.slip", task.slip, 0.0, MAX_SLIP))

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        return ("goal", "slip")

    def _descriptor(self, task: CorridorTask) -> NDArray[np.float32]:
        return np.array([task.goal / (LENGTH - 1), task.slip / MAX_SLIP], dtype=np.float32)

    @property
    def num_states(self) -> int:
        return LENGTH

    def observation(self, state: int) -> int:
        return state

    def _build_model(self, task: CorridorTask) -> tabular.TabularModel:
        outcomes: list[list[dict[int, tuple[float, float, bool]]]] = []
        for cell in range(LENGTH):
            if cell == task.goal:  # never stepped from: the episode ended on entering it
                outcomes.append([{cell: (1.0, 0.0, True)}] * 2)
                continue
            per_action = []
            for action in (LEFT, RIGHT):
                row: dict[int, tuple[float, float, bool]] = {}
                for direction, prob in ((action, 1.0 - task.slip), (1 - action, task.slip)):
                    after = min(max(cell + (1 if direction == RIGHT else -1), 0), LENGTH - 1)
                    reached = after == task.goal
                    reward = GOAL_REWARD if reached else STEP_REWARD
                    previous = row.get(after, (0.0, reward, reached))[0]
                    row[after] = (previous + prob, reward, reached)
                per_action.append(row)
            outcomes.append(per_action)
        return tabular.TabularModel.from_outcomes(outcomes, start=START)


# --8<-- [end:family]


# --8<-- [start:env]
# -- 3. The env: MetaTaskEnv handles the task (ids, switching, descriptor, info keys).
class MetaCorridorEnv(MetaTaskEnv):
    """
    ## Description
    Walk along a corridor of 12 cells from the middle to a goal cell the agent cannot see.
    Tasks differ in the goal cell and in the floor's ``slip``.

    ## Action Space
    ``Discrete(2)``: 0 left, 1 right; with probability ``slip`` the step goes the other way.

    ## Observation Space
    ``Discrete(12)``: the agent's cell.

    ## Rewards
    ``+1`` on entering the goal, ``-0.05`` on every other step.

    ## Episode End
    Termination on entering the goal; truncation after 36 steps.

    ## Information
    ``task_id``, ``task_descriptor`` (``(goal / 11, slip / 0.5)``) and ``is_success``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}  # type: ignore[misc]
    family: CorridorFamily

    def __init__(
        self,
        task_id: Any = DEFAULT_TASK_ID,
        task: CorridorTask | dict[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Discrete(LENGTH)
        self._state = START
        self._init_task(shared_family(CorridorFamily), task_id, task)

    def _apply_task(self, params: CorridorTask) -> None:
        self._model = self.family.model(params)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self._switch_task_for_reset(options)
        self._state = self._model.start
        return self._state, self._info(False)

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        try:
            a = operator.index(action)
        except TypeError:
            a = -1
        if a not in (LEFT, RIGHT):
            raise ValueError(f"action must be 0 (left) or 1 (right), got {action!r}")
        prob = self._model.prob[self._state, a]
        k = int(self.np_random.choice(len(prob), p=prob))
        reward = float(self._model.reward[self._state, a, k])
        terminated = bool(self._model.terminal[self._state, a, k])
        self._state = int(self._model.next_state[self._state, a, k])
        return self._state, reward, terminated, False, self._info(terminated)

    def render(self) -> str | None:
        if self.render_mode is None:
            return None
        cells = [
            "A" if c == self._state else "G" if c == self.task.goal else "." for c in range(LENGTH)
        ]
        return "".join(cells) + "\n"


# --8<-- [end:env]


# --8<-- [start:register]
# -- 4. Registration: string entry points belong in a package ("my_pkg.corridor:Env");
# a script registers the class itself.
def register() -> None:
    """Register ``MetaCorridor-v0`` with Gymnasium (idempotent)."""
    if "MetaCorridor-v0" not in gym.registry:
        gym.register(
            id="MetaCorridor-v0",
            entry_point=MetaCorridorEnv,
            max_episode_steps=CorridorFamily().default_horizon(),
            disable_env_checker=True,
        )


# --8<-- [end:register]


def sampled_return(env: gym.Env[Any, Any], policy: NDArray[np.int64], episodes: int) -> float:
    """Mean return of an action-per-state policy over sampled episodes (seeds 0, 1, ...)."""
    total = 0.0
    for seed in range(episodes):
        observation, _ = env.reset(seed=seed)
        done = False
        while not done:
            observation, reward, terminated, truncated, _ = env.step(int(policy[observation]))
            total += float(reward)
            done = terminated or truncated
    return total / episodes


# --8<-- [start:use]
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=2000, help="sampled episodes")
    parser.add_argument("--timesteps", type=int, default=3000, help="Q-learning steps")
    args = parser.parse_args(argv)
    register()
    family = shared_family(CorridorFamily)
    task_id = family.test_task_ids[0]
    print(f"{family!r}: {len(family.train_task_ids)} train, {len(family.test_task_ids)} test")
    print(f"task {task_id}: {family.task(task_id)}, descriptor {family.descriptor(task_id)}")

    env = gym.make("MetaCorridor-v0", task_id=task_id)
    towards_goal = RIGHT if family.task(task_id).goal > START else LEFT
    policy = np.full(LENGTH, towards_goal, dtype=np.int64)
    exact = family.policy_return(task_id, policy)
    sampled = sampled_return(env, policy, args.episodes)
    print(
        f"walk towards the goal: exact {exact:.3f}, sampled {sampled:.3f} "
        f"({args.episodes} episodes); optimal {family.optimal_return(task_id):.3f}, "
        f"random {family.random_return(task_id):.3f}"
    )

    agent = TabularQLearning("TabularPolicy", env, seed=0).learn(args.timesteps)
    learned = family.policy_return(task_id, agent)  # exact, from the agent's greedy actions
    print(f"TabularQLearning after {args.timesteps} steps: exact return {learned:.3f}")

    resampled = ResampleTask(gym.make("MetaCorridor-v0"), split="train", seed=0)
    goals = [round(float(resampled.reset()[1]["task_descriptor"][0]), 2) for _ in range(5)]
    print(f"ResampleTask: goal descriptors of 5 train tasks {goals}")
    env.close()
    resampled.close()
    return {
        "task_id": task_id,
        "exact": exact,
        "sampled": sampled,
        "learned": learned,
        "family": family,
    }


# --8<-- [end:use]


if __name__ == "__main__":
    main()
