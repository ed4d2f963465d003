"""Gymnasium's and SB3's env checkers on every registered id, warnings as errors."""

import re
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from tests.helpers import ALL_ENV_IDS, some_task_ids

# Warnings the Gymnasium originals raise too: CartPole's velocities are unbounded.
INHERITED_WARNINGS = {"MetaCartPole-v0": "Box observation space m..imum value is -?infinity"}

CASES = [(env_id, task_id) for env_id in ALL_ENV_IDS for task_id in some_task_ids(env_id)[::3]]


@pytest.mark.parametrize(("env_id", "task_id"), CASES)
def test_gymnasium_check_env(env_id, task_id):
    env = gym.make(env_id, task_id=task_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if env_id in INHERITED_WARNINGS:
            warnings.filterwarnings("ignore", message=f".*{INHERITED_WARNINGS[env_id]}")
        gym_check_env(env.unwrapped, skip_render_check=False)
    env.close()


@pytest.mark.parametrize(("env_id", "task_id"), CASES)
def test_sb3_check_env(env_id, task_id):
    env = gym.make(env_id, task_id=task_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env, warn=True)
    env.close()


def test_the_inherited_warning_is_gymnasiums_own():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(gym.make("CartPole-v1").unwrapped)
    pattern = re.compile(INHERITED_WARNINGS["MetaCartPole-v0"])
    assert sum(bool(pattern.search(str(w.message))) for w in caught) == 2


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_spaces_are_the_same_for_every_task(env_id):
    family_envs = [gym.make(env_id, task_id=t) for t in some_task_ids(env_id)]
    first = family_envs[0]
    for env in family_envs[1:]:
        assert env.observation_space == first.observation_space
        assert env.action_space == first.action_space
        env.close()
    first.close()
