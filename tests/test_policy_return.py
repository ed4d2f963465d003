"""family.policy_return: the exact expected return of a deterministic policy."""

import numpy as np
import pytest

import gym_metatasks
from gym_metatasks.envs.grid import MOVES, move
from tests.helpers import (
    GRID_ENV_IDS,
    PHYSICS_ENV_IDS,
    shortest_path_actions,
    slippery_test_task_ids,
)

EPISODES = 2000


def _sampled_returns(family, task_id, actions, episodes):
    env = family.make(task_id)
    returns = np.empty(episodes)
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            state = int(np.argmax(obs)) if np.ndim(obs) else int(obs)
            obs, reward, terminated, truncated, _ = env.step(int(actions[state]))
            total, done = total + reward, terminated or truncated
        returns[episode] = total
    env.close()
    return returns


@pytest.mark.parametrize("env_id", ["MetaNav-v0", "MetaFrozenLake-v0"])
@pytest.mark.parametrize("policy", ["greedy", "half-random"])
def test_policy_return_matches_sampled_episodes_on_slippery_tasks(env_id, policy):
    family = gym_metatasks.family(env_id)
    task_id = slippery_test_task_ids(family)[0]
    actions = family.optimal_q_values(task_id)[family.horizon].argmax(axis=1)
    if policy == "half-random":  # greedy in half the states, a random action elsewhere
        rng = np.random.default_rng(7)
        flip = rng.random(family.num_states) < 0.5
        actions[flip] = rng.integers(len(MOVES), size=int(flip.sum()))
    returns = _sampled_returns(family, task_id, actions, EPISODES)
    stderr = returns.std() / np.sqrt(EPISODES)
    assert stderr > 0  # outcomes vary: the comparison has something to check
    exact = family.policy_return(task_id, actions)
    assert abs(returns.mean() - exact) < 4 * stderr + 1e-9


def test_policy_and_optimal_returns_are_the_shortest_path_return_on_deterministic_tasks():
    family = gym_metatasks.family("MetaNav-v0")
    checked = 0
    for task_id in family.test_task_ids:
        task = family.task(task_id)
        if task.slip:
            continue
        dist, actions = shortest_path_actions(family.size, frozenset(task.walls), task.goal)
        path_return = 1.0 - 0.01 * (dist[task.start] - 1)
        assert family.policy_return(task_id, actions) == pytest.approx(path_return)
        assert family.optimal_return(task_id) == pytest.approx(path_return)
        # a policy that stays put (walks into the edge or a wall forever) never arrives
        stuck = np.full(family.num_states, -1)
        for r in range(family.size):
            for c in range(family.size):
                stuck[r * family.size + c] = next(
                    (a for a in range(4) if move((r, c), a, family.size, task.walls) == (r, c)),
                    -1,
                )
        if stuck[family.cell_index(task.start)] >= 0:
            stuck[stuck < 0] = 0
            assert family.policy_return(task_id, stuck) == pytest.approx(-0.01 * family.horizon)
        checked += 1
    assert checked > 50


@pytest.mark.parametrize("env_id", GRID_ENV_IDS)
def test_a_model_with_predict_is_asked_for_every_state_observation(env_id):
    family = gym_metatasks.family(env_id)
    task_id = family.test_task_ids[0]
    table = np.random.default_rng(3).integers(len(MOVES), size=family.num_states)
    env = family.make(task_id)
    seen = []

    class TablePolicy:
        def predict(self, observations, deterministic=False):
            assert deterministic
            seen.append(observations)
            states = observations.argmax(axis=1) if observations.ndim == 2 else observations
            return table[states], None

    assert family.policy_return(task_id, TablePolicy()) == family.policy_return(task_id, table)
    (batch,) = seen
    assert len(batch) == family.num_states
    for state, obs in enumerate(batch):
        assert env.observation_space.contains(obs.astype(env.observation_space.dtype))
        np.testing.assert_array_equal(obs, family.observation(state))
    first, _ = env.reset(seed=0)
    np.testing.assert_array_equal(first, family.observation(family.model(task_id).start))


def test_policy_return_refuses_bad_policies():
    family = gym_metatasks.family("MetaNav-v0")
    with pytest.raises(ValueError, match=r"shape \(64,\)"):
        family.policy_return(800, np.zeros(63, dtype=int))
    with pytest.raises(ValueError, match="int action"):
        family.policy_return(800, np.zeros(64))
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        family.policy_return(800, np.full(64, 4))


@pytest.mark.parametrize("env_id", PHYSICS_ENV_IDS)
def test_physics_families_have_no_exact_policy_return(env_id):
    family = gym_metatasks.family(env_id)
    with pytest.raises(NotImplementedError, match="sampled episodes"):
        family.policy_return(family.test_task_ids[0], np.zeros(4, dtype=int))
