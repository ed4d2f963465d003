import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import gym_metatasks
from gym_metatasks import ObserveDescriptor, ResampleTask


@pytest.mark.parametrize("env_id", ["MetaNav-v0", "MetaFrozenLake-v0", "MetaCartPole-v0"])
def test_observe_descriptor_concat(env_id):
    family = gym_metatasks.family(env_id)
    env = ObserveDescriptor(gym.make(env_id, task_id=3))
    dim = len(family.descriptor_names)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs[-dim:], family.descriptor(3))
    obs, *_ = env.step(0)
    assert env.observation_space.contains(obs)
    obs, _ = env.reset(options={"task_id": 8})
    np.testing.assert_array_equal(obs[-dim:], family.descriptor(8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env)
    env.close()


def test_observe_descriptor_concat_one_hot_encodes_discrete_observations():
    env = ObserveDescriptor(gym.make("MetaFrozenLake-v0", task_id=0))
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32
    assert obs[:64].sum() == 1.0
    assert obs[0] == 1.0  # start cell (0, 0)
    env.close()


@pytest.mark.parametrize("env_id", ["MetaNav-v0", "MetaFrozenLake-v0"])
def test_observe_descriptor_dict_is_flat_and_sb3_ready(env_id):
    family = gym_metatasks.family(env_id)
    env = ObserveDescriptor(gym.make(env_id, task_id=3), mode="dict")
    assert isinstance(env.observation_space, spaces.Dict)
    assert set(env.observation_space.spaces) == {"observation", "task_descriptor"}
    assert not any(isinstance(s, spaces.Dict) for s in env.observation_space.spaces.values())
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env)
    model = DQN("MultiInputPolicy", env, learning_starts=10, buffer_size=100, seed=0)
    model.learn(40)
    assert model.num_timesteps == 40
    assert model.replay_buffer is not None
    stored = model.replay_buffer.observations["task_descriptor"][:40, 0]  # (steps, D)
    np.testing.assert_array_equal(stored, np.tile(family.descriptor(3), (40, 1)))
    env.close()


def test_observe_descriptor_refuses_other_envs_and_modes():
    with pytest.raises(TypeError, match="needs a gym_metatasks env"):
        ObserveDescriptor(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="mode must be 'concat' or 'dict'"):
        ObserveDescriptor(gym.make("MetaNav-v0"), mode="stack")  # type: ignore[arg-type]


def test_observe_descriptor_features_by_name_and_index():
    family = gym_metatasks.family("MetaCartPole-v0")
    env = ObserveDescriptor(gym.make("MetaCartPole-v0", task_id=3), features=["length", 0])
    assert env.features == ("length", "gravity")
    space = family.descriptor_space
    assert env.observation_space.shape == (6,)
    np.testing.assert_array_equal(env.observation_space.low[4:], space.low[[3, 0]])
    np.testing.assert_array_equal(env.observation_space.high[4:], space.high[[3, 0]])
    obs, _ = env.reset(seed=0, options={"task_id": 11})
    np.testing.assert_array_equal(obs[4:], family.descriptor(11)[[3, 0]])
    assert env.observation_space.contains(obs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env)
    env.close()


def test_observe_descriptor_features_in_dict_mode():
    family = gym_metatasks.family("MetaNav-v0")
    env = ObserveDescriptor(
        gym.make("MetaNav-v0", task_id=3), mode="dict", features=["goal_row", "goal_col"]
    )
    assert env.observation_space["task_descriptor"].shape == (2,)
    obs, _ = env.reset(seed=0)
    names = family.descriptor_names
    expected = family.descriptor(3)[[names.index("goal_row"), names.index("goal_col")]]
    np.testing.assert_array_equal(obs["task_descriptor"], expected)
    assert env.observation_space.contains(obs)
    env.close()


def test_observe_descriptor_features_bad_input():
    def make():
        return gym.make("MetaCartPole-v0")

    with pytest.raises(
        ValueError,
        match=r"features\[1\] 'lenght' is not a descriptor entry; "
        r"allowed: \['gravity', 'masscart', 'masspole', 'length', 'force_mag'\]",
    ):
        ObserveDescriptor(make(), features=["gravity", "lenght"])
    with pytest.raises(ValueError, match=r"features\[0\] must be in \[0, 4\], got 5"):
        ObserveDescriptor(make(), features=[5])
    with pytest.raises(TypeError, match=r"features\[0\] must be a descriptor entry name"):
        ObserveDescriptor(make(), features=[1.0])
    with pytest.raises(TypeError, match="features must be a list"):
        ObserveDescriptor(make(), features="gravity")
    with pytest.raises(ValueError, match="at least one"):
        ObserveDescriptor(make(), features=[])
    with pytest.raises(ValueError, match=r"more than once: \['gravity'\]"):
        ObserveDescriptor(make(), features=["gravity", 0])


def test_resample_task_draws_from_the_split_reproducibly():
    family = gym_metatasks.family("MetaNav-v0")

    def draws(seed):
        env = ResampleTask(gym.make("MetaNav-v0"), split="test", seed=seed)
        ids = [env.reset()[1]["task_id"] for _ in range(30)]
        env.close()
        return ids

    ids = draws(5)
    assert ids == draws(5)
    assert ids != draws(6)
    assert set(ids) <= set(family.test_task_ids)
    assert len(set(ids)) > 10


def test_resample_task_reset_seed_reseeds_the_sampler():
    env = ResampleTask(gym.make("MetaNav-v0"), seed=1)
    first = [env.reset(seed=3)[1]["task_id"]] + [env.reset()[1]["task_id"] for _ in range(5)]
    again = [env.reset(seed=3)[1]["task_id"]] + [env.reset()[1]["task_id"] for _ in range(5)]
    assert first == again
    env.close()


def test_resample_task_respects_explicit_task_options():
    env = ResampleTask(gym.make("MetaNav-v0"), split="train", seed=0)
    _, info = env.reset(options={"task_id": 900})
    assert info["task_id"] == 900
    env.close()


def test_resample_task_checkpoint_round_trip_through_json():
    env = ResampleTask(gym.make("MetaNav-v0"), split="train", seed=0)
    for _ in range(7):
        env.reset()
    checkpoint = json.loads(json.dumps(env.get_checkpoint()))
    expected = [env.reset()[1]["task_id"] for _ in range(10)]
    restored = ResampleTask(gym.make("MetaNav-v0"), split="train", seed=123)
    restored.load_checkpoint(checkpoint)
    assert restored.num_draws == 7
    assert [restored.reset()[1]["task_id"] for _ in range(10)] == expected
    env.close()
    restored.close()


def test_resample_task_bad_input():
    with pytest.raises(ValueError, match="split must be one of"):
        ResampleTask(gym.make("MetaNav-v0"), split="dev")
    with pytest.raises(ValueError, match=r"task_ids\[0\] must be in"):
        ResampleTask(gym.make("MetaNav-v0"), task_ids=[1000])
    with pytest.raises(ValueError, match="at least one task id"):
        ResampleTask(gym.make("MetaNav-v0"), task_ids=[])
    env = ResampleTask(gym.make("MetaNav-v0"), split="train")
    other = ResampleTask(gym.make("MetaNav-v0"), split="test")
    with pytest.raises(ValueError, match="other task ids"):
        env.load_checkpoint(other.get_checkpoint())
    with pytest.raises(ValueError, match="missing key"):
        env.load_checkpoint({"version": 1})
    broken = env.get_checkpoint()
    broken["bit_generator"] = {"bit_generator": "MT19937"}
    with pytest.raises(
        ValueError, match=r"checkpoint\[.bit_generator.\] is not a valid PCG64 state"
    ):
        env.load_checkpoint(broken)
