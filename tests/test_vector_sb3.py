"""Stable-Baselines3 vector envs of a family, and switching their tasks through wrappers."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.env_util import is_wrapped, make_vec_env
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import gym_metatasks
from gym_metatasks import ForwardTaskAttributes, ObserveDescriptor
from gym_metatasks.sb3_vec import TaskVecEnv
from sb3_metadqn import MetaDQN

NAV = "MetaNav-v0"


def unwrapped_task_ids(vec_env):
    return [env.unwrapped.task_id for env in vec_env.envs]


def test_sb3_vec_env_holds_a_task_per_sub_env():
    family = gym_metatasks.family(NAV)
    ids = list(family.test_task_ids[:3])
    vec_env = family.make_sb3_vec_env(ids, seed=0)
    assert isinstance(vec_env, TaskVecEnv)
    assert isinstance(vec_env.venv, DummyVecEnv)
    assert vec_env.num_envs == 3
    assert all(is_wrapped(env, Monitor) for env in vec_env.envs)
    assert unwrapped_task_ids(vec_env) == ids
    assert vec_env.get_attr("task_id") == ids
    obs = vec_env.reset()
    assert obs.shape == (3, 64)
    for k, task_id in enumerate(ids):
        row, col = family.task(task_id).start
        assert obs[k].argmax() == row * 8 + col
        assert vec_env.envs[k].unwrapped.task == family.task(task_id)
    vec_env.close()


def test_sb3_vec_env_repeats_one_task_or_cycles_a_list():
    family = gym_metatasks.family(NAV)
    vec_env = family.make_sb3_vec_env(5, n_envs=2)
    assert vec_env.get_attr("task_id") == [5, 5]
    vec_env = family.make_sb3_vec_env([3, 4], n_envs=5)
    assert vec_env.get_attr("task_id") == [3, 4, 3, 4, 3]


def test_sb3_vec_env_follows_make_vec_env_conventions(tmp_path):
    family = gym_metatasks.family("MetaCartPole-v0")
    first = family.make_sb3_vec_env([1, 2], seed=7, monitor_dir=str(tmp_path))
    second = family.make_sb3_vec_env([1, 2], seed=7)
    np.testing.assert_array_equal(first.reset(), second.reset())  # seeds of the first reset
    actions = [[env.action_space.sample() for _ in range(20)] for env in first.envs]
    assert actions == [[env.action_space.sample() for _ in range(20)] for env in second.envs]
    assert actions[0] != actions[1]  # seed + rank
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.monitor.csv", "1.monitor.csv"]
    assert first.get_attr("render_mode") == ["rgb_array", "rgb_array"]
    nav = gym_metatasks.family(NAV).make_sb3_vec_env([1, 2])
    nav.reset()
    frames = nav.get_images()
    np.testing.assert_array_equal(frames[0], nav.envs[0].unwrapped.render())
    for vec_env in (first, second, nav):
        vec_env.close()
    recommend = gym_metatasks.family("MetaRecommend-v0").make_sb3_vec_env(0)
    assert recommend.get_attr("render_mode") == [None]  # the family has no rgb_array


def test_sb3_vec_env_wrapper_class_goes_under_the_task_forwarding():
    family = gym_metatasks.family(NAV)
    vec_env = family.make_sb3_vec_env(
        [3, 4], wrapper_class=ObserveDescriptor, wrapper_kwargs={"features": ["goal_row"]}
    )
    assert vec_env.observation_space.shape == (65,)
    vec_env.set_attr("task_id", 9)
    obs = vec_env.reset()
    names = family.descriptor_names
    assert obs[:, -1].tolist() == [family.descriptor(9)[names.index("goal_row")]] * 2
    assert unwrapped_task_ids(vec_env) == [9, 9]


def test_set_attr_then_reset_changes_the_task_of_each_sub_env():
    family = gym_metatasks.family(NAV)
    vec_env = family.make_sb3_vec_env([3, 4, 5])
    vec_env.reset()
    vec_env.set_attr("task_id", 9)
    vec_env.set_attr("task_id", 11, indices=[2])
    vec_env.set_attr("task", family.as_task(12), indices=[1])
    assert vec_env.get_attr("task_id") == [3, 4, 5]  # effective at the next reset
    vec_env.reset()
    assert vec_env.get_attr("task_id") == [9, 12, 11]
    assert unwrapped_task_ids(vec_env) == [9, 12, 11]
    for k, task_id in enumerate([9, 12, 11]):
        np.testing.assert_array_equal(
            vec_env.envs[k].unwrapped.task_descriptor, family.descriptor(task_id)
        )
    # the task forwarding wrapper stores nothing of its own
    assert all("task_id" not in vars(env) for env in vec_env.envs)


def test_set_attr_refuses_bad_values_at_set_time():
    family = gym_metatasks.family(NAV)
    vec_env = family.make_sb3_vec_env([3, 4])
    with pytest.raises(TypeError, match=r"task_id must be one task for each sub-env, got \[5, 9\]"):
        vec_env.set_attr("task_id", [5, 9])
    with pytest.raises(ValueError, match=r"task_id must be in \[0, 1000\), got 5000"):
        vec_env.set_attr("task_id", 5000)
    with pytest.raises(TypeError, match=r"task_id must be an int in \[0, 1000\), got '7'"):
        vec_env.set_attr("task_id", "7")
    with pytest.raises(TypeError, match=r"unknown field\(s\) \['colour'\]"):
        vec_env.set_attr("task", {**family.task_to_dict(3), "colour": 1})
    vec_env.reset()
    assert unwrapped_task_ids(vec_env) == [3, 4]  # nothing was scheduled


def test_env_method_set_task_reaches_the_env_under_sb3_make_vec_env():
    """The route for vec envs built by SB3's make_vec_env: env_method looks the method up
    through the wrappers."""
    vec_env = make_vec_env(NAV, n_envs=2, env_kwargs={"task_id": 5})
    vec_env.env_method("set_task", 9)
    vec_env.env_method("set_task", 7, indices=[1])
    vec_env.reset()
    assert unwrapped_task_ids(vec_env) == [9, 7]
    assert vec_env.get_attr("task_id") == [9, 7]
    with pytest.raises(ValueError, match=r"task_id must be in \[0, 1000\), got 5000"):
        vec_env.env_method("set_task", 5000)


def test_forward_task_attributes_makes_set_attr_work_under_sb3_make_vec_env():
    vec_env = make_vec_env(
        NAV, n_envs=2, env_kwargs={"task_id": 5}, wrapper_class=ForwardTaskAttributes
    )
    vec_env.set_attr("task_id", 9)
    vec_env.reset()
    assert unwrapped_task_ids(vec_env) == [9, 9]
    with pytest.raises(TypeError, match="needs a gym_metatasks env"):
        ForwardTaskAttributes(gym.make("CartPole-v1"))


def test_set_tasks_works_on_sb3_and_gymnasium_vector_envs():
    family = gym_metatasks.family(NAV)
    sb3_env = make_vec_env(NAV, n_envs=2, env_kwargs={"task_id": 5})
    gym_env = family.make_vec([5, 6])
    for vec_env in (sb3_env, gym_env):
        gym_metatasks.set_tasks(vec_env, [family.as_task(8), 10])
    sb3_env.reset()
    assert unwrapped_task_ids(sb3_env) == [8, 10]
    _, info = gym_env.reset(seed=0)
    assert info["task_id"].tolist() == [8, 10]
    gym_env.close()


def test_set_tasks_checks_every_task_before_setting_any():
    sb3_env = make_vec_env(NAV, n_envs=2, env_kwargs={"task_id": 5})
    with pytest.raises(ValueError, match=r"tasks\[1\]: task_id must be in \[0, 1000\), got 5000"):
        gym_metatasks.set_tasks(sb3_env, [8, 5000])
    with pytest.raises(ValueError, match=r"one task per sub-env \(2\), got 1"):
        gym_metatasks.set_tasks(sb3_env, [8])
    with pytest.raises(TypeError, match="tasks must be a sequence"):
        gym_metatasks.set_tasks(sb3_env, 8)
    with pytest.raises(TypeError, match="envs must be a Gymnasium VectorEnv or an SB3 VecEnv"):
        gym_metatasks.set_tasks(gym.make(NAV), [8])
    sb3_env.reset()
    assert unwrapped_task_ids(sb3_env) == [5, 5]


def test_sb3_vec_env_bad_arguments():
    family = gym_metatasks.family(NAV)
    with pytest.raises(ValueError, match=r"task_ids\[1\] must be in \[0, 1000\), got 5000"):
        family.make_sb3_vec_env([3, 5000])
    with pytest.raises(TypeError, match="task_ids must be a task id or a sequence"):
        family.make_sb3_vec_env("3")
    with pytest.raises(ValueError, match="task_ids must name at least one task"):
        family.make_sb3_vec_env([])
    with pytest.raises(ValueError, match=r"n_envs must be in \[2, 1024\], got 1"):
        family.make_sb3_vec_env([3, 4], n_envs=1)
    with pytest.raises(ValueError, match=r"env_kwargs must not set \['task_id'\]"):
        family.make_sb3_vec_env(3, env_kwargs={"task_id": 4})
    with pytest.raises(TypeError, match="monitor_kwargs must be a dict or None"):
        family.make_sb3_vec_env(3, monitor_kwargs=["info"])


def test_sb3_vec_env_names_the_missing_dependency(monkeypatch):
    monkeypatch.setitem(sys.modules, "stable_baselines3.common.monitor", None)
    monkeypatch.delitem(sys.modules, "gym_metatasks.sb3_vec", raising=False)
    with pytest.raises(
        ImportError, match=r"make_sb3_vec_env \(gym_metatasks.sb3_vec\) needs stable-baselines3"
    ):
        gym_metatasks.family(NAV).make_sb3_vec_env(3)


def test_importing_gym_metatasks_does_not_import_sb3():
    code = "import sys, gym_metatasks; print(sorted(m for m in sys.modules if m.startswith(('stable_baselines3', 'torch'))))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_sb3_vec_env_passes_sb3_check_env_per_sub_env():
    vec_env = gym_metatasks.family("MetaFrozenLake-v0").make_sb3_vec_env(3)
    check_env(vec_env.envs[0])


def test_metadqn_learns_on_the_sb3_vec_env():
    family = gym_metatasks.family(NAV)
    vec_env = family.make_sb3_vec_env(801, n_envs=2, seed=0)
    vec_env.set_attr("task_id", 800)
    vec_env.reset()
    model = MetaDQN("MlpPolicy", vec_env, seed=0, learning_starts=50, train_freq=4)
    assert model.meta_init["task_id"] == 800
    model.learn(300)
    assert model.num_timesteps >= 300
    assert model._n_updates > 0
    assert unwrapped_task_ids(vec_env) == [800, 800]


def test_subproc_vec_env_switches_tasks_in_the_worker_processes():
    family = gym_metatasks.family(NAV)
    vec_env = family.make_sb3_vec_env([3, 4], vec_env_cls=SubprocVecEnv, seed=0)
    try:
        assert vec_env.get_attr("task_id") == [3, 4]
        vec_env.set_attr("task_id", 9, indices=[0])
        vec_env.env_method("set_task", family.as_task(11), indices=[1])
        with pytest.raises(TypeError, match=r"task_id must be one task for each sub-env"):
            vec_env.set_attr("task_id", [5, 9])
        vec_env.reset()
        assert vec_env.get_attr("task_id") == [9, 11]
        descriptors = vec_env.get_attr("task_descriptor")
        np.testing.assert_array_equal(descriptors[1], family.descriptor(11))
    finally:
        vec_env.close()


def test_metadqn_names_the_sb3_vec_env_when_given_a_gymnasium_vector_env():
    envs = gym_metatasks.family(NAV).make_vec([800, 800])
    with pytest.raises(TypeError, match=r"got a Gymnasium SyncVectorEnv.*make_sb3_vec_env"):
        MetaDQN("MlpPolicy", envs)
    envs.close()


def test_metadqn_refuses_a_task_id_that_never_reached_the_env():
    """SB3's own make_vec_env: set_attr stores task_id on the Monitor, not on the env."""
    vec_env = make_vec_env(NAV, n_envs=2, env_kwargs={"task_id": 5})
    vec_env.set_attr("task_id", 9)
    vec_env.reset()
    assert unwrapped_task_ids(vec_env) == [5, 5]
    with pytest.raises(ValueError, match="sub-env 0 reports task_id 9 but holds another task"):
        MetaDQN("MlpPolicy", vec_env)
    vec_env.set_attr("task_id", [5, 9])
    with pytest.raises(TypeError, match=r"report task_id \[\[5, 9\], \[5, 9\]\].*env_method"):
        MetaDQN("MlpPolicy", vec_env)
