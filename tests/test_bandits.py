"""The recommendation baselines: LinUCB against a direct ridge regression, most-popular
against counted click rates, the population pretraining, persistence and the protocol."""

import numpy as np
import pytest

import gym_metatasks
from sb3_metadqn.baselines.linucb import LinUCB
from sb3_metadqn.baselines.most_popular import MostPopular
from sb3_metadqn.baselines.session_bandit import pretrain_bandit
from sb3_metadqn.evaluation.transfer import run_transfer
from sb3_metadqn.io.artifacts import ArtifactError

ENV_ID = "MetaRecommend-v0"
FAMILY = gym_metatasks.family(ENV_ID)


def test_linucb_statistics_are_the_ridge_regression_of_what_it_saw():
    task_id = FAMILY.validation_task_ids[0]
    model = LinUCB("BanditPolicy", FAMILY.make(task_id), seed=0)
    rng = np.random.default_rng(1)
    seen: dict[int, list] = {a: [] for a in range(8)}
    for _ in range(300):
        obs, action, reward = int(rng.integers(75)), int(rng.integers(8)), float(rng.integers(2))
        model.update(obs, action, reward)
        seen[action].append((model.features(np.array([obs]))[0], reward))
    observations = np.arange(75)
    x = model.features(observations)
    for action, rows in seen.items():
        features = np.array([f for f, _ in rows])
        rewards = np.array([r for _, r in rows])
        a = np.eye(model.n_features) + features.T @ features
        np.testing.assert_allclose(model.a_inv[action], np.linalg.inv(a), atol=1e-8)
        theta = np.linalg.solve(a, features.T @ rewards)
        np.testing.assert_allclose(model.scores(observations, explore=False)[:, action], x @ theta)
        width = np.sqrt(np.einsum("ni,ij,nj->n", x, np.linalg.inv(a), x))
        np.testing.assert_allclose(
            model.scores(observations, explore=True)[:, action], x @ theta + model.alpha * width
        )


def test_linucb_context_holds_the_users_descriptor():
    task_id = FAMILY.validation_task_ids[3]
    model = LinUCB("BanditPolicy", FAMILY.make(task_id), seed=0)
    x = model.features(np.array([4]))[0]
    assert x[0] == 1.0
    np.testing.assert_allclose(x[1:7], FAMILY.descriptor(task_id))
    assert x[7:].tolist() == [1.0 if k == 4 else 0.0 for k in range(75)]


def test_most_popular_recommends_the_best_counted_click_rate():
    model = MostPopular("BanditPolicy", FAMILY.make(FAMILY.validation_task_ids[0]), seed=0)
    for action, reward in [(3, 1.0), (3, 1.0), (5, 1.0), (5, 0.0), (1, 0.0)]:
        model.update(0, action, reward)
    np.testing.assert_allclose(model.popularity()[[1, 3, 5, 0]], [1 / 3, 3 / 4, 2 / 4, 1 / 2])
    actions, _ = model.predict(np.arange(75), deterministic=True)
    assert set(actions.tolist()) == {3}
    assert FAMILY.policy_return(FAMILY.validation_task_ids[0], model) == pytest.approx(
        FAMILY.policy_return(FAMILY.validation_task_ids[0], np.full(75, 3))
    )


def test_learn_counts_every_step_and_is_reproducible():
    task_id = FAMILY.validation_task_ids[1]
    runs = [MostPopular("BanditPolicy", FAMILY.make(task_id), seed=4).learn(300) for _ in range(2)]
    assert runs[0].impressions.sum() == 300
    np.testing.assert_array_equal(runs[0].clicks, runs[1].clicks)
    np.testing.assert_array_equal(runs[0].impressions, runs[1].impressions)


def test_population_model_starts_a_new_user_and_round_trips(tmp_path):
    population = pretrain_bandit(LinUCB, ENV_ID, sessions=30, seed=0, alpha=1.0)
    assert population.training["sessions"] == 30
    assert population.training["steps"] > 30
    assert population.training["cost"]["core_seconds"] > 0
    path = population.save(tmp_path / "linucb.safetensors")
    task_id = FAMILY.validation_task_ids[2]
    loaded = LinUCB.load(path, env=FAMILY.make(task_id))
    assert loaded.alpha == 1.0
    np.testing.assert_array_equal(loaded.b, population.b)
    user = LinUCB("BanditPolicy", FAMILY.make(task_id), seed=0, initial=loaded)
    np.testing.assert_array_equal(user.a_inv, population.a_inv)
    np.testing.assert_allclose(user.descriptor, FAMILY.descriptor(task_id))
    with pytest.raises(ArtifactError, match="holds a 'linucb', not a 'most-popular'"):
        MostPopular.load(path, env=FAMILY.make(task_id))
    with pytest.raises(TypeError, match="initial must be a MostPopular"):
        MostPopular("BanditPolicy", FAMILY.make(task_id), initial=user)


def test_population_pretraining_refuses_test_users():
    with pytest.raises(ValueError, match="test"):
        pretrain_bandit(MostPopular, ENV_ID, sessions=5, task_ids=[FAMILY.test_task_ids[0]])


def test_bad_arguments_name_the_parameter():
    env = FAMILY.make(0)
    with pytest.raises(ValueError, match="alpha must be in"):
        LinUCB("BanditPolicy", env, alpha=-1.0)
    with pytest.raises(ValueError, match="exploration_rate must be in"):
        MostPopular("BanditPolicy", env, exploration_rate=2.0)
    with pytest.raises(ValueError, match="needs Discrete observations"):
        LinUCB("BanditPolicy", gym_metatasks.family("MetaCartPole-v0").make(0))


@pytest.mark.parametrize("method", ["linucb", "most-popular"])
def test_bandit_methods_run_the_transfer_protocol(method, tmp_path):
    bandit = {"linucb": LinUCB, "most-popular": MostPopular}[method]
    population = pretrain_bandit(bandit, ENV_ID, sessions=20, seed=0)
    task_id = FAMILY.validation_task_ids[5]
    result = run_transfer(
        method, ENV_ID, task_id, 0, total_timesteps=200, eval_freq=100, artifact=population
    )
    assert result.steps == [0, 100, 200]
    start = bandit("BanditPolicy", FAMILY.make(task_id), initial=population)
    expected = FAMILY.normalized_return(task_id, FAMILY.policy_return(task_id, start))
    assert result.jumpstart == pytest.approx(expected)
    assert result.meta_training_core_seconds == population.training["cost"]["core_seconds"]
