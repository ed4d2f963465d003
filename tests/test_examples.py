"""The scripts in examples/ run with small budgets and do what their docstrings say."""

from __future__ import annotations

import functools
import math
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import gym_metatasks
from gym_metatasks import ObserveDescriptor

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@functools.cache
def example(name: str) -> dict[str, Any]:
    """The namespace of ``examples/<name>.py``, loaded once per process (the custom family
    registers its env class, which must stay the one class of that name)."""
    return runpy.run_path(str(EXAMPLES / f"{name}.py"))


def test_every_example_is_tested():
    tested = {"quickstart", "task_switching", "metadqn_held_out", "policy_return", "custom_family"}
    assert {path.stem for path in EXAMPLES.glob("*.py")} == tested


def test_quickstart_reports_the_tasks_oracle_returns():
    result = example("quickstart")["main"](["--task-id", "3"])
    assert result["optimal"] == 0.95  # the README's figure for MetaNav-v0 task 3
    assert result["random"] == pytest.approx(-0.327, abs=5e-4)
    expected = (result["return"] - result["random"]) / (result["optimal"] - result["random"])
    assert result["normalized"] == pytest.approx(expected)


def test_task_switching_switches_where_it_says():
    seen = example("task_switching")["main"]([])
    family = gym_metatasks.family("MetaNav-v0")
    assert seen["reset_option"] == 7
    assert seen["set_task"] == 9
    assert seen["vector"] == list(family.validation_task_ids[:3])
    assert all(family.split_of(task_id) == "train" for task_id in seen["resampled"])
    assert len(set(seen["resampled"])) > 1
    assert seen["observation_size"] == 64 + len(family.descriptor_names)


def test_metadqn_example_starts_near_optimal_on_a_held_out_task():
    result = example("metadqn_held_out")["main"](["--timesteps", "150"])
    family = gym_metatasks.family("MetaNav-v0")
    assert family.split_of(result["task_id"]) == "test"
    assert family.split_of(result["meta_init"]["source_task_id"]) == "train"
    assert result["start"] > 0.9
    assert -3.0 < result["after"] <= 1.0 + 1e-9


def test_policy_return_example_agrees_with_sampled_episodes():
    episodes = 400
    results = example("policy_return")["main"](["--episodes", str(episodes)])
    policies = {k: v for k, v in results.items() if k != "optimal"}
    assert len(policies) == 2
    for values in policies.values():
        # returns are 0 or 1 on MetaFrozenLake: 4 standard errors of a Bernoulli mean
        tolerance = 4 * math.sqrt(values["exact"] * (1 - values["exact"]) / episodes) + 1e-3
        assert abs(values["sampled"] - values["exact"]) < tolerance
        assert values["exact"] <= results["optimal"] + 1e-12


def corridor() -> dict[str, Any]:
    namespace = example("custom_family")
    namespace["register"]()
    return namespace


def test_custom_family_passes_gymnasium_and_sb3_env_checkers():
    corridor()
    # --8<-- [start:checkers]
    for task_id in (0, 5, 199):
        env = gym.make("MetaCorridor-v0", task_id=task_id, render_mode="ansi")
        gymnasium_check_env(env.unwrapped)
        sb3_check_env(gym.make("MetaCorridor-v0", task_id=task_id))
        env.close()
        # --8<-- [end:checkers]


def test_custom_family_optimal_return_is_the_shortest_walk_without_slip():
    ns = corridor()
    family = ns["shared_family"](ns["CorridorFamily"])
    for goal in (0, 4, 7, 11):
        distance = abs(goal - ns["START"])
        expected = ns["GOAL_REWARD"] + (distance - 1) * ns["STEP_REWARD"]
        assert family.optimal_return({"goal": goal, "slip": 0.0}) == pytest.approx(expected)


def test_custom_family_tasks_are_fixed_and_splits_disjoint():
    ns = corridor()
    shared = ns["shared_family"](ns["CorridorFamily"])
    fresh = ns["CorridorFamily"]()  # a second object: tasks come from the id alone
    assert [fresh.task(i) for i in range(20)] == [shared.task(i) for i in range(20)]
    splits = [set(shared.split_task_ids(s)) for s in ("train", "validation", "test")]
    assert not splits[0] & splits[1]
    assert not splits[0] & splits[2]
    assert not splits[1] & splits[2]
    assert all(shared.descriptor(i) in shared.descriptor_space for i in shared.test_task_ids)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"goal": 6, "slip": 0.1}, "task.goal must not be the start cell 6, got 6"),
        ({"goal": 12, "slip": 0.1}, "task.goal must be in [0, 11], got 12"),
        ({"goal": 2, "slip": 0.7}, "task.slip must be in [0.0, 0.5], got 0.7"),
    ],
)
def test_custom_family_refuses_bad_tasks_naming_the_field(task, message):
    corridor()
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        gym.make("MetaCorridor-v0", task=task)


def test_custom_family_switches_tasks_like_the_built_in_ones():
    corridor()
    env = gym.make("MetaCorridor-v0", task_id=2)
    _, info = env.reset(seed=0, options={"task_id": 5})
    assert info["task_id"] == 5
    env.unwrapped.set_task(task={"goal": 0, "slip": 0.0})
    _, info = env.reset()
    assert info["task_id"] is None
    walk = [env.step(0) for _ in range(6)]  # no slip: six steps left from cell 6 to cell 0
    assert [step[0] for step in walk] == [5, 4, 3, 2, 1, 0]
    assert [step[2] for step in walk] == [False] * 5 + [True]
    assert walk[-1][1] == 1.0
    assert walk[-1][4]["is_success"]
    env.close()


def test_custom_family_works_with_the_wrappers_and_vector_envs():
    ns = corridor()
    family = ns["shared_family"](ns["CorridorFamily"])
    observed = ObserveDescriptor(family.make(3))
    observation, _ = observed.reset(seed=0)
    assert observation.shape == (ns["LENGTH"] + 2,)
    assert observation[ns["START"]] == 1.0
    np.testing.assert_array_equal(observation[ns["LENGTH"] :], family.descriptor(3))
    envs = family.make_vec(family.test_task_ids[:2])
    _, infos = envs.reset(seed=0)
    assert list(infos["task_id"]) == list(family.test_task_ids[:2])
    envs.close()


def test_custom_family_tutorial_shows_what_the_example_prints(capsys):
    """The tutorial's output block is the example's output with its default arguments, and
    what it shows holds: the oracle matches sampling and Q-learning gets near the optimum."""
    result = corridor()["main"]([])
    printed = capsys.readouterr().out
    tutorial = (ROOT / "docs" / "guides" / "custom-family.md").read_text(encoding="utf-8")
    shown = re.search(r"\$ python examples/custom_family.py\n(.*?)```", tutorial, re.S)
    assert shown is not None
    assert shown.group(1) == printed
    family = result["family"]
    assert result["sampled"] == pytest.approx(result["exact"], abs=0.03)
    assert result["exact"] <= family.optimal_return(result["task_id"]) + 1e-12
    assert family.normalized_return(result["task_id"], result["learned"]) > 0.9


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["custom_family.py", "--episodes", "50", "--timesteps", "200"], "walk towards the goal"),
        (["quickstart.py"], "one random episode: return"),
    ],
)
def test_examples_run_as_scripts(argv, expected):
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert expected in completed.stdout
