"""Every bad input fails with an error naming the parameter, the value and what is allowed."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import gym_metatasks


@pytest.mark.parametrize(
    ("task_id", "error", "match"),
    [
        (-1, ValueError, r"task_id must be in \[0, 1000\), got -1"),
        (1000, ValueError, r"task_id must be in \[0, 1000\), got 1000"),
        (3.0, TypeError, r"task_id must be an int .* got 3.0 of type float"),
        ("3", TypeError, r"task_id must be an int .* got '3' of type str"),
        (True, TypeError, r"task_id must be an int .* got True of type bool"),
        (None, ValueError, r"task_id=None needs explicit parameters"),
    ],
)
def test_bad_task_ids(task_id, error, match):
    with pytest.raises(error, match=match):
        gym.make("MetaNav-v0", task_id=task_id)


def test_numpy_integer_task_ids_are_accepted():
    env = gym.make("MetaNav-v0", task_id=np.int64(3))
    assert env.unwrapped.task_id == 3
    assert type(env.unwrapped.task_id) is int
    env.close()


def test_default_task_is_task_zero():
    env = gym.make("MetaCartPole-v0")
    assert env.unwrapped.task_id == 0
    env.close()


def test_unknown_kwargs_are_refused_by_name():
    with pytest.raises(TypeError, match="hide_goal"):
        gym.make("MetaNav-v0", task_id=0, hide_goal=True)
    with pytest.raises(TypeError, match="size"):
        gym.make("MetaCartPole-v0", task_id=0, size=8)


def test_task_id_and_task_together_are_refused():
    task = gym_metatasks.family("MetaNav-v0").task(1)
    with pytest.raises(ValueError, match="either task_id or task"):
        gym.make("MetaNav-v0", task_id=1, task=task)


NAV_BASE = {"size": 8, "start": (0, 0), "goal": (3, 3), "walls": [(1, 1)], "slip": 0.1}


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"goal": (8, 3)}, ValueError, r"task.goal\[0\] \(row\) must be in \[0, 7\], got 8"),
        ({"goal": (1, 1)}, ValueError, r"task.goal \(1, 1\) is on a wall"),
        ({"goal": (0, 0)}, ValueError, r"task.goal \(0, 0\) must be neither the start"),
        ({"goal": (0, 1)}, ValueError, r"neither the start \(0, 0\) nor adjacent"),
        ({"start": (1, 1)}, ValueError, r"task.start \(1, 1\) is on a wall"),
        ({"slip": 1.5}, ValueError, r"task.slip must be in \[0.0, 1.0\], got 1.5"),
        ({"slip": -0.1}, ValueError, r"task.slip must be in \[0.0, 1.0\], got -0.1"),
        ({"slip": float("nan")}, ValueError, r"task.slip must be finite"),
        ({"slip": "low"}, TypeError, r"task.slip must be a real number"),
        ({"size": 5}, ValueError, r"task.size must be 8 \(the env's size\), got 5"),
        ({"walls": [(0, 1), (1, 0)]}, ValueError, r"unsolvable task"),
        (
            {"walls": [(9, 9)]},
            ValueError,
            r"task.walls\[0\]\[0\] \(row\) must be in \[0, 7\], got 9",
        ),
        ({"start": "a1"}, TypeError, r"task.start must be a \(row, col\) pair"),
    ],
)
def test_bad_explicit_nav_tasks(change, error, match):
    with pytest.raises(error, match=match):
        gym.make("MetaNav-v0", task={**NAV_BASE, **change})


def test_explicit_task_with_unknown_or_missing_fields():
    with pytest.raises(TypeError, match=r"unknown field\(s\) \['colour'\]"):
        gym.make("MetaNav-v0", task={**NAV_BASE, "colour": "red"})
    partial = dict(NAV_BASE)
    del partial["slip"]
    with pytest.raises(TypeError, match=r"missing field\(s\) \['slip'\]"):
        gym.make("MetaNav-v0", task=partial)
    with pytest.raises(TypeError, match=r"task must be a task id .* a NavTask or a dict"):
        gym.make("MetaNav-v0", task=[1, 2, 3])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"gravity": float("inf")}, r"task.gravity must be finite"),
        ({"gravity": float("nan")}, r"task.gravity must be finite"),
        (
            {"masspole": 5.0},
            r"task.masspole must be in \[0.025, 0.75\], got 5.0 \(the valid range: half the "
            r"lower to 1.5 times the upper bound of the sampling range \[0.05, 0.5\]\)",
        ),
        ({"length": -1.0}, r"task.length must be in \[0.125, 1.5\], got -1.0"),
    ],
)
def test_bad_explicit_physics_tasks(change, match):
    family = gym_metatasks.family("MetaCartPole-v0")
    task = {**dataclasses.asdict(family.default_task()), **change}
    with pytest.raises(ValueError, match=match):
        gym.make("MetaCartPole-v0", task=task)


def test_bad_frozen_lake_tasks():
    base = {"size": 4, "start": (0, 0), "goal": (3, 3), "holes": [(1, 1)], "success_rate": 0.5}
    with pytest.raises(ValueError, match=r"task.goal \(3, 3\) is a hole"):
        gym.make("MetaFrozenLake4x4-v0", task={**base, "holes": [(3, 3)]})
    with pytest.raises(ValueError, match="unsolvable task"):
        gym.make("MetaFrozenLake4x4-v0", task={**base, "holes": [(0, 1), (1, 0)]})
    with pytest.raises(ValueError, match=r"task.success_rate must be in \[0.0, 1.0\]"):
        gym.make("MetaFrozenLake4x4-v0", task={**base, "success_rate": 2})


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"task_id": 5000}, ValueError, r"options\['task_id'\] must be in \[0, 1000\), got 5000"),
        ({"task_id": "x"}, TypeError, r"options\['task_id'\] must be an int"),
        ({"task_id": None}, ValueError, r"options\['task_id'\]=None needs explicit parameters"),
        ({"taskid": 3}, ValueError, r"unknown key\(s\) \['taskid'\]"),
    ],
)
def test_bad_reset_options(options, error, match):
    env = gym.make("MetaNav-v0", task_id=2)
    with pytest.raises(error, match=match):
        env.reset(options=options)
    env.close()


def test_bad_task_setters_fail_immediately():
    env = gym.make("MetaNav-v0", task_id=2)
    with pytest.raises(ValueError, match=r"task_id must be in \[0, 1000\)"):
        env.unwrapped.task_id = -5
    with pytest.raises(ValueError, match="exactly one of task or task_id"):
        env.unwrapped.set_task()
    with pytest.raises(ValueError, match="is on a wall"):
        env.unwrapped.set_task(task={**NAV_BASE, "start": (1, 1)})
    _, info = env.reset()
    assert info["task_id"] == 2
    env.close()


def test_bad_sample_task_ids():
    family = gym_metatasks.family("MetaNav-v0")
    with pytest.raises(ValueError, match=r"n=201 exceeds the 200 tasks of the 'test' split"):
        family.sample_task_ids(201, split="test")
    with pytest.raises(ValueError, match="split must be one of"):
        family.sample_task_ids(3, split="valid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"n must be in \[0, 1000000\], got -1"):
        family.sample_task_ids(-1)


def test_bad_family_arguments():
    family = gym_metatasks.family("MetaNav-v0")
    with pytest.raises(TypeError, match="task must be a task id"):
        family.optimal_return(3.5)
    with pytest.raises(ValueError, match=r"horizon must be in \[1, 10000\], got 0"):
        family.optimal_return(3, horizon=0)
    with pytest.raises(ValueError, match=r"size must be in \[3, 32\], got 2"):
        gym.make("MetaNav-v0", size=2)
    with pytest.raises(ValueError, match="render_mode must be one of"):
        gym_metatasks.MetaNavEnv(render_mode="video")


def test_bad_actions():
    env = gym.make("MetaNav-v0", task_id=0, disable_env_checker=True)
    env.reset(seed=0)
    for action in (4, -1, 1.5, "up"):
        with pytest.raises(ValueError, match=r"action must be an int in \[0, 4\)"):
            env.step(action)
    env.close()


@pytest.mark.parametrize(
    ("env_id", "n"), [("MetaCartPole-v0", 2), ("MetaAcrobot-v0", 3), ("MetaMountainCar-v0", 3)]
)
def test_bad_physics_actions_are_refused_not_wrapped_around(env_id, n):
    """Acrobot's torque table would read action -1 as +1 torque; nothing relies on assert."""
    env = gym.make(env_id, task_id=0)
    env.reset(seed=0)
    state = np.array(env.unwrapped.state, copy=True)
    for action in (-1, n, 1.5, "1", None, np.array([0, 1])):
        with pytest.raises(ValueError, match=rf"action must be an int in \[0, {n}\), got"):
            env.step(action)
    np.testing.assert_array_equal(env.unwrapped.state, state)
    env.step(np.int64(n - 1))
    env.close()


@pytest.mark.parametrize("env_id", ["MetaNav-v0", "MetaCartPole-v0"])
def test_a_failed_first_reset_leaves_the_env_usable(env_id):
    env = gym.make(env_id, task_id=2)
    with pytest.raises(ValueError, match=r"options\['task_id'\] must be in"):
        env.reset(options={"task_id": 10**6})
    _, info = env.reset(seed=0)
    assert info["task_id"] == 2
    for _ in range(3):
        env.step(0)
    env.close()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (0, TypeError, "options must be a dict or None, got 0"),
        ([("task_id", 3)], TypeError, "options must be a dict or None"),
        ({"task": None}, ValueError, r"options\['task'\] must be a task .* got None"),
    ],
)
def test_reset_options_that_would_fall_back_to_task_zero_are_refused(options, error, match):
    env = gym.make("MetaNav-v0", task_id=2)
    env.reset(seed=0)
    with pytest.raises(error, match=match):
        env.reset(options=options)
    assert env.reset()[1]["task_id"] == 2
    env.close()
