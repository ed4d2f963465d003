import json
import subprocess
import sys

import gymnasium as gym
import pytest

import gym_metatasks
from tests.helpers import ALL_ENV_IDS


def test_families_are_registered():
    assert set(gym_metatasks.families()) >= {
        "MetaNav-v0",
        "MetaFrozenLake-v0",
        "MetaCartPole-v0",
        "MetaAcrobot-v0",
        "MetaMountainCar-v0",
    }
    for env_id in gym_metatasks.families():
        assert env_id in gym.registry


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_registered_time_limit_is_the_family_horizon(env_id):
    family = gym_metatasks.family(env_id)
    assert gym.spec(env_id).max_episode_steps == family.horizon
    env = gym.make(env_id)
    assert env.spec.max_episode_steps == family.horizon
    env.close()


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_env_holds_the_family_of_its_id(env_id):
    family = gym_metatasks.family(env_id)
    assert family.env_id == env_id
    env = gym.make(env_id)
    assert env.unwrapped.family == family
    assert env.unwrapped.family is family  # one object: one task and model cache
    assert env.unwrapped.family.env_id == env_id
    env.close()
    again = family.make(0)
    assert again.unwrapped.family is family
    again.close()


def test_registration_is_idempotent():
    before = len(gym.registry)
    gym_metatasks.register_envs()
    assert len(gym.registry) == before


def test_make_with_namespace_needs_no_import():
    code = (
        "import sys, gymnasium as gym\n"
        "assert 'gym_metatasks' not in sys.modules\n"
        "env = gym.make('gym_metatasks:MetaNav-v0', task_id=3)\n"
        "obs, info = env.reset(seed=0)\n"
        "print(info['task_id'], env.unwrapped.task.goal)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    expected_goal = gym_metatasks.family("MetaNav-v0").task(3).goal
    assert out[0] == "3"
    assert "".join(out[1:]) == str(expected_goal).replace(" ", "")


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_spec_to_json_round_trip(env_id):
    env = gym.make(env_id, task_id=5)
    text = env.spec.to_json()
    spec = gym.envs.registration.EnvSpec.from_json(text)
    assert spec.kwargs["task_id"] == 5
    assert json.loads(text)["id"] == env_id
    again = gym.make(spec)
    assert again.unwrapped.task == env.unwrapped.task
    env.close()
    again.close()


def test_family_lookup_accepts_namespaced_ids_and_overrides():
    assert gym_metatasks.family("gym_metatasks:MetaNav-v0") is gym_metatasks.family("MetaNav-v0")
    small = gym_metatasks.family("MetaNav-v0", size=5)
    assert small.size == 5
    # the 5x5 alias and the size override describe the same tasks
    assert small.task(7) == gym_metatasks.family("MetaNav5x5-v0").task(7)


def test_family_lookup_errors():
    with pytest.raises(ValueError, match="not registered"):
        gym_metatasks.family("NoSuchEnv-v0")
    with pytest.raises(ValueError, match="not a gym_metatasks family"):
        gym_metatasks.family("CartPole-v1")
    with pytest.raises(TypeError, match="env_id must be a str"):
        gym_metatasks.family(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword"):
        gym_metatasks.family("MetaNav-v0", colour="red")
