"""The meta-learners embedded in the package."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import gym_metatasks
from sb3_metadqn import MetaDQN, pretrained
from sb3_metadqn.agents.metadqn import FAMILY_PROBE
from sb3_metadqn.evaluation.rollouts import greedy_return
from sb3_metadqn.nets import qnet
from tests.helpers import layers_equal, tensors_equal

SHIPPED = [
    "MetaAcrobot-v0",
    "MetaCartPole-v0",
    "MetaFrozenLake-v0",
    "MetaMountainCar-v0",
    "MetaNav-v0",
    "MetaRecommend-v0",
]


def test_shipped_families_are_available() -> None:
    assert set(SHIPPED) <= set(pretrained.available())


@pytest.mark.parametrize("env_id", SHIPPED)
def test_embedded_meta_learner_loads_and_matches_the_family(env_id: str) -> None:
    family = gym_metatasks.family(env_id)
    learner = pretrained.load(env_id)
    assert learner.family_key == family.key
    assert learner.descriptor_names == list(family.descriptor_names)
    assert learner.training["command"].startswith("metadqn meta-train " + env_id)
    assert learner.training["mapper_selection"]["kept"] in ("fitted", "identity")
    assert set(learner.source_task_ids) <= set(family.train_task_ids)
    assert learner.training["cost"]["core_seconds"] > 0


@pytest.mark.parametrize("env_id", SHIPPED)
def test_default_meta_learner_is_the_embedded_one(env_id: str) -> None:
    family = gym_metatasks.family(env_id)
    task_id = family.test_task_ids[0]
    model = MetaDQN("MlpPolicy", family.make(task_id))
    embedded = pretrained.load(env_id)
    assert model.meta_learner is not None
    assert model.meta_learner.source_task_ids == embedded.source_task_ids
    assert tensors_equal(model.meta_learner.tensors(), embedded.tensors())
    assert model.meta_init is not None
    if env_id in FAMILY_PROBE:  # the family's probe picked one of its k nearest, mapped
        k, _ = FAMILY_PROBE[env_id]
        starts = embedded.candidate_starts(family.descriptor(task_id), k)
        chosen = model.meta_init["source_task_id"]
        expected = next(layers for layers, r in starts if r["source_task_id"] == chosen)
    else:
        expected, _ = embedded.initial_parameters(family.descriptor(task_id))
    assert layers_equal(qnet.get_layers(model.q_net), expected)


def test_metadqn_serves_a_new_recommend_user_out_of_the_box() -> None:
    family = gym_metatasks.family("MetaRecommend-v0")
    task_id = family.test_task_ids[4]
    model = MetaDQN("MlpPolicy", gym.make("MetaRecommend-v0", task_id=task_id), seed=0)
    assert family.split_of(model.meta_init["source_task_id"]) == "train"
    start = family.policy_return(task_id, model)
    assert family.random_return(task_id) < start <= family.optimal_return(task_id)
    model.learn(300)
    assert model.num_timesteps == 300


def test_no_embedded_meta_learner_for_other_configurations() -> None:
    with pytest.raises(ValueError, match="no embedded meta-learner for MetaFrozenLake4x4-v0"):
        pretrained.load("MetaFrozenLake4x4-v0")
    for env_id, config in (("MetaNav5x5-v0", {}), ("MetaNav-v0", {"size": 6})):
        family = gym_metatasks.family(env_id, **config)
        with pytest.raises(
            ValueError, match=r"no embedded meta-learner for .*MetaNav-v0\[size=[56]\]"
        ):
            MetaDQN("MlpPolicy", family.make(family.test_task_ids[0]))


@pytest.mark.slow
def test_embedded_metanav_jumpstart() -> None:
    """Greedy normalized return before any update on test tasks, as the issue requires."""
    family = gym_metatasks.family("MetaNav-v0")
    scores = []
    for task_id in family.test_task_ids[:8]:
        env = family.make(task_id)
        model = MetaDQN("MlpPolicy", env, seed=0)
        scores.append(family.normalized_return(task_id, greedy_return(model, env, 3, seed=0)))
    assert np.mean(scores) >= 0.8, scores
