"""Switching tasks: reset options, setters (effective at the next reset) and vector envs."""

import gymnasium as gym
import numpy as np
import pytest

import gym_metatasks


def test_reset_option_switches_now():
    family = gym_metatasks.family("MetaNav-v0")
    env = gym.make("MetaNav-v0", task_id=1)
    _, info = env.reset(seed=0, options={"task_id": 9})
    assert info["task_id"] == 9
    assert env.unwrapped.task == family.task(9)
    np.testing.assert_array_equal(info["task_descriptor"], family.descriptor(9))
    # the switch persists over later plain resets
    _, info = env.reset()
    assert info["task_id"] == 9
    env.close()


def test_reset_option_with_explicit_task():
    family = gym_metatasks.family("MetaNav-v0")
    env = gym.make("MetaNav-v0", task_id=1)
    _, info = env.reset(options={"task": family.task(4)})
    assert info["task_id"] is None
    assert env.unwrapped.task == family.task(4)
    env.close()


@pytest.mark.parametrize("env_id", ["MetaNav-v0", "MetaCartPole-v0"])
def test_setters_take_effect_at_the_next_reset(env_id):
    family = gym_metatasks.family(env_id)
    env = gym.make(env_id, task_id=1)
    env.reset(seed=0)
    env.unwrapped.task_id = 7
    assert env.unwrapped.task_id == 1  # still the active task
    _, _, _, _, info = env.step(0)
    assert info["task_id"] == 1
    _, info = env.reset()
    assert info["task_id"] == 7
    assert env.unwrapped.task == family.task(7)
    env.unwrapped.set_task(task=family.task(3))
    _, info = env.reset()
    assert info["task_id"] is None
    assert env.unwrapped.task == family.task(3)
    env.unwrapped.task = family.task_to_dict(5)
    env.reset()
    assert env.unwrapped.task == family.task(5)
    env.close()


def test_physics_task_changes_the_dynamics():
    family = gym_metatasks.family("MetaCartPole-v0")
    env = gym.make("MetaCartPole-v0", task_id=0)
    env.reset(seed=0, options={"task_id": 11})
    assert env.unwrapped.gravity == family.task(11).gravity
    assert env.unwrapped.polemass_length == pytest.approx(
        family.task(11).masspole * family.task(11).length
    )
    env.close()


def test_physics_reset_passes_gymnasium_options_through():
    env = gym.make("MetaCartPole-v0", task_id=0)
    obs, _ = env.reset(seed=0, options={"low": 0.0, "high": 0.0, "task_id": 2})
    np.testing.assert_array_equal(obs, np.zeros(4, np.float32))
    assert env.unwrapped.task_id == 2
    env.close()


def test_vector_set_attr_schedules_tasks():
    envs = gym.make_vec("MetaNav-v0", num_envs=3, vectorization_mode="sync")
    envs.reset(seed=0)
    envs.set_attr("task_id", [3, 7, 9])
    _, info = envs.reset()
    assert info["task_id"].tolist() == [3, 7, 9]
    envs.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_family_make_vec_with_different_tasks(mode):
    family = gym_metatasks.family("MetaNav-v0")
    ids = family.test_task_ids[:3]
    envs = family.make_vec(ids, vectorization_mode=mode)
    obs, info = envs.reset(seed=0)
    assert obs.shape == (3, 64)
    assert info["task_id"].tolist() == list(ids)
    for i, task_id in enumerate(ids):
        np.testing.assert_array_equal(info["task_descriptor"][i], family.descriptor(task_id))
    assert list(envs.get_attr("task_id")) == list(ids)
    envs.set_attr("task_id", [1, 2, 3])
    for _ in range(3):
        envs.step(envs.action_space.sample())
    _, info = envs.reset(seed=1)
    assert info["task_id"].tolist() == [1, 2, 3]
    envs.close()


def test_make_vec_bad_input():
    family = gym_metatasks.family("MetaNav-v0")
    with pytest.raises(ValueError, match=r"task_ids\[1\] must be in"):
        family.make_vec([0, 5000])
    with pytest.raises(ValueError, match="vectorization_mode must be"):
        family.make_vec([0, 1], vectorization_mode="threads")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one task"):
        family.make_vec([])


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_gymnasium_vector_env_call_and_set_attr_take_task_objects(mode):
    family = gym_metatasks.family("MetaNav-v0")
    envs = family.make_vec([1, 2], vectorization_mode=mode)
    envs.reset(seed=0)
    envs.call("set_task", family.as_task(7))
    _, info = envs.reset()
    assert info["task_id"].tolist() == [7, 7]
    envs.set_attr("task", [family.as_task(8), 9])
    _, info = envs.reset()
    assert info["task_id"].tolist() == [8, 9]
    assert list(envs.get_attr("task")) == [family.task(8), family.task(9)]
    assert list(envs.call("get_task")) == [family.as_task(8), family.as_task(9)]
    envs.close()
