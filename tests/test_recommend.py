"""MetaRecommend: the user model, its exact oracle against sampled sessions, and its input
checks."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import gym_metatasks
from gym_metatasks.envs import recommend_model as rm

ENV_ID = "MetaRecommend-v0"
# The catalog of v0; a change needs a new -vN id.
CATALOG_V0 = rm.Catalog(
    topic=(0, 0, 1, 1, 2, 2, 3, 3),
    quality=(0.834, 0.177, 0.888, 0.255, 0.717, 0.352, 0.882, 0.416),
)


@pytest.fixture(scope="module")
def family():
    return gym_metatasks.family(ENV_ID)


def sampled_returns(env, actions_of_state, episodes, seed):
    returns = np.zeros(episodes)
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(actions_of_state(obs)))
            returns[episode] += reward
            done = terminated or truncated
    return returns


def test_catalog_is_fixed_for_the_version(family):
    assert family.catalog == CATALOG_V0


def test_state_index_and_decode_are_inverse():
    states = [
        rm.state_index(last, streak, sat)
        for last in range(rm.NUM_TOPICS + 1)
        for streak in range(1, rm.MAX_STREAK + 1)
        for sat in range(1, rm.MAX_SATISFACTION + 1)
    ]
    assert states == list(range(rm.NUM_STATES))
    assert [rm.state_index(*rm.decode_state(s)) for s in states] == states
    assert rm.decode_state(rm.START_STATE) == (rm.NUM_TOPICS, 1, rm.START_SATISFACTION)


def test_click_probability_follows_the_documented_formula(family):
    task = family.task(3)
    probs = family.click_probabilities(3)
    catalog = family.catalog
    state = rm.state_index(last_topic=3, streak=2, satisfaction=4)
    for item in range(rm.NUM_ITEMS):
        topic, quality = catalog.topic[item], catalog.quality[item]
        s = task.quality_sensitivity
        appeal = s * quality + (1 - s) * (1 - quality)
        interest = task.interests[topic] * ((1 - task.boredom) ** 2 if topic == 3 else 1.0)
        assert probs[state, item] == pytest.approx(interest * (0.7 + 0.3 * appeal))


def test_model_rows_are_distributions_and_only_skips_or_satisfaction_one_end(family):
    model = family.model(family.test_task_ids[0])
    np.testing.assert_allclose(model.prob.sum(axis=2), 1.0)
    assert (model.prob >= 0).all()
    for state in np.nonzero(model.terminal.any(axis=(1, 2)))[0]:
        assert rm.decode_state(state)[2] == 1
    assert set(np.unique(model.reward)) == {0.0, 1.0}


def test_env_click_frequency_matches_the_model(family):
    task_id = family.test_task_ids[5]
    env = gym.make(ENV_ID, task_id=task_id)
    env.reset(seed=0)
    clicks = 0
    trials = 4000
    for k in range(trials):
        env.reset(seed=k)
        _, reward, _, _, info = env.step(2)
        assert info["is_success"] == (reward == 1.0)
        clicks += reward
    expected = family.click_probabilities(task_id)[rm.START_STATE, 2]
    assert clicks / trials == pytest.approx(expected, abs=4 * np.sqrt(0.25 / trials))
    env.close()


@pytest.mark.parametrize("index", [0, 7])
def test_exact_returns_match_sampled_sessions(family, index):
    task_id = family.test_task_ids[index]
    env = gym.make(ENV_ID, task_id=task_id)
    greedy = family.optimal_q_values(task_id)[family.horizon].argmax(axis=1)
    episodes = 2000
    returns = sampled_returns(env, lambda s: greedy[s], episodes, seed=0)
    exact = family.policy_return(task_id, greedy)
    assert returns.mean() == pytest.approx(exact, abs=4 * returns.std() / np.sqrt(episodes))
    assert exact <= family.optimal_return(task_id) + 1e-9
    rng = np.random.default_rng(0)
    random = sampled_returns(env, lambda s: rng.integers(rm.NUM_ITEMS), episodes, seed=10_000)
    assert random.mean() == pytest.approx(
        family.random_return(task_id), abs=4 * random.std() / np.sqrt(episodes)
    )
    env.close()


def test_optimal_beats_random_on_every_test_task(family):
    for task_id in family.test_task_ids:
        assert family.optimal_return(task_id) > family.random_return(task_id) + 0.5


def test_descriptor_is_the_side_information_and_hints_at_the_favourite_topic(family):
    ids = family.split_task_ids("all")
    descriptors = np.stack([family.descriptor(t) for t in ids])
    favourite = np.array([np.argmax(family.task(t).interests) for t in ids])
    assert [tuple(d) for d in descriptors[:3].astype(float).round(3)] == [
        family.task(t).side_info for t in ids[:3]
    ]
    # age leans to news, evening_use to film: informative ...
    age, evening = descriptors[:, 0], descriptors[:, 1]
    assert age[favourite == 0].mean() > age[favourite == 2].mean() + 0.1
    assert evening[favourite == 3].mean() > evening[favourite == 0].mean() + 0.1
    # ... but not sufficient: the nearest other user often has another favourite
    distances = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    same = favourite[distances.argmin(axis=1)] == favourite
    assert 0.4 < same.mean() < 0.95


def test_explicit_task_is_validated_and_stepped(family):
    params = dataclasses.asdict(family.task(3))
    env = gym.make(ENV_ID, task={**params, "boredom": 0.0})
    obs, info = env.reset(seed=0)
    assert info["task_id"] is None
    assert obs == rm.START_STATE
    assert env.unwrapped.task.boredom == 0.0
    env.close()


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("boredom", 1.5, ValueError, r"task.boredom must be in \[0.0, 1.0\], got 1.5"),
        ("quality_sensitivity", "high", TypeError, r"task.quality_sensitivity must be a real"),
        ("interests", (0.5, 0.5), ValueError, r"task.interests must have 4 values, got 2"),
        ("interests", (0.5, 0.5, -0.1, 0.5), ValueError, r"task.interests\[2\] must be in"),
        ("side_info", 0.3, TypeError, r"task.side_info must be a sequence of 6 reals"),
    ],
)
def test_bad_task_fields_name_parameter_value_and_allowed(family, field, value, error, message):
    params = {**dataclasses.asdict(family.task(3)), field: value}
    with pytest.raises(error, match=message):
        gym.make(ENV_ID, task=params)


def test_bad_actions_and_render_modes_are_refused():
    env = gym.make(ENV_ID, task_id=1)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be an int in \[0, 8\), got 8"):
        env.unwrapped.step(8)
    with pytest.raises(ValueError, match="render_mode must be one of"):
        gym_metatasks.MetaRecommendEnv(task_id=1, render_mode="rgb_array")
    env.close()


def test_ansi_render_shows_the_session(family):
    env = gym.make(ENV_ID, task_id=3, render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "satisfaction 3/5, last topic none\n"
    env.step(6)
    text = env.render()
    assert text.startswith("item 6 (film) ")
    env.close()


def test_make_vec_holds_one_user_per_sub_env(family):
    ids = family.test_task_ids[:3]
    envs = family.make_vec(ids)
    _, info = envs.reset(seed=0)
    np.testing.assert_array_equal(info["task_id"], ids)
    envs.close()
