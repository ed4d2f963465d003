"""Property tests over explicit task parameters."""

import gymnasium as gym
import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import gym_metatasks
from gym_metatasks.envs.grid import manhattan, reachable

SIZE = 5
cells = st.tuples(st.integers(0, SIZE - 1), st.integers(0, SIZE - 1))
nav_tasks = st.fixed_dictionaries(
    {
        "size": st.just(SIZE),
        "start": cells,
        "goal": cells,
        "walls": st.lists(cells, max_size=12),
        "slip": st.floats(0.0, 1.0),
    }
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def is_valid(task: dict) -> bool:
    walls = frozenset(task["walls"])
    return (
        task["start"] not in walls
        and task["goal"] not in walls
        and manhattan(task["start"], task["goal"]) >= 2
        and task["goal"] in reachable(task["start"], SIZE, walls)
    )


@SETTINGS
@given(nav_tasks)
def test_explicit_nav_tasks_are_accepted_exactly_when_valid(task):
    family = gym_metatasks.family("MetaNav5x5-v0")
    try:
        params = family.validate(task)
    except ValueError:
        assert not is_valid(task)
        return
    assert is_valid(task)
    assert params.walls == tuple(sorted(set(params.walls)))
    assert family.descriptor_space.contains(family.descriptor(params))
    optimal, random = family.optimal_return(params), family.random_return(params)
    assert np.isfinite(optimal)
    assert np.isfinite(random)
    assert optimal >= random - 1e-9
    assert optimal <= 1.0


@SETTINGS
@given(nav_tasks, st.integers(0, 2**31 - 1))
def test_valid_explicit_nav_tasks_run_and_stay_in_bounds(task, seed):
    assume(is_valid(task))
    env = gym.make("MetaNav5x5-v0", task=task)
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    walls = {r * SIZE + c for r, c in task["walls"]}
    for _ in range(30):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(4)))
        assert env.observation_space.contains(obs)
        assert int(np.argmax(obs)) not in walls
        assert info["is_success"] == terminated
        assert reward == (1.0 if terminated else -0.01)
        if terminated or truncated:
            break
    env.close()


@SETTINGS
@given(
    st.fixed_dictionaries(
        {
            "gravity": st.floats(4.9, 14.7),
            "masscart": st.floats(0.5, 2.0),
            "masspole": st.floats(0.05, 0.5),
            "length": st.floats(0.25, 1.0),
            "force_mag": st.floats(5.0, 15.0),
        }
    )
)
def test_in_bounds_physics_tasks_have_in_bounds_descriptors(task):
    family = gym_metatasks.family("MetaCartPole-v0")
    descriptor = family.descriptor(task)
    assert family.descriptor_space.contains(descriptor)
    for value, parameter in zip(descriptor, family.parameters, strict=True):
        expected = (task[parameter.name] - parameter.low) / (parameter.high - parameter.low)
        assert abs(value - expected) < 1e-6
