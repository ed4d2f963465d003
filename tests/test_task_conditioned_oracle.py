"""The task-conditioned DQN fit to exact Q*: same supervision as the bank's sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import gym_metatasks
from gym_metatasks import ObserveDescriptor
from sb3_metadqn import TaskConditionedDQN
from sb3_metadqn.baselines.task_conditioned_oracle import pretrain_oracle
from sb3_metadqn.core.source_training import grid_task_data
from sb3_metadqn.evaluation.rollouts import greedy_actions
from tests.helpers import TINY_ENV_ID, tensors_equal

FAMILY = gym_metatasks.family(TINY_ENV_ID)
TASKS = list(FAMILY.train_task_ids[:4])


@pytest.fixture(scope="module")
def fitted() -> TaskConditionedDQN:
    return pretrain_oracle(TINY_ENV_ID, 1000, seed=0, task_ids=TASKS, batch_tasks=4)


def _q_values(model: TaskConditionedDQN, task_id: int) -> np.ndarray:
    env = ObserveDescriptor(FAMILY.make(task_id), mode="dict")
    states = np.stack(FAMILY.state_observations())
    obs = {
        "observation": states,
        "task_descriptor": np.tile(env.observation(states[0])["task_descriptor"], (len(states), 1)),
    }
    with torch.no_grad():
        tensor, _ = model.policy.obs_to_tensor(obs)
        return model.q_net(tensor).numpy()


def test_the_fit_approaches_q_star_on_its_tasks(fitted: TaskConditionedDQN) -> None:
    untrained = TaskConditionedDQN("MultiInputPolicy", FAMILY.make(TASKS[0]), seed=0)
    for task_id in TASKS:
        data = grid_task_data(TINY_ENV_ID, task_id, 0.99, 0)
        mask = data["fit_mask"]
        before = np.mean((_q_values(untrained, task_id)[mask] - data["q_star"][mask]) ** 2)
        after = np.mean((_q_values(fitted, task_id)[mask] - data["q_star"][mask]) ** 2)
        assert after < before / 10
    assert tensors_equal(fitted.q_net_target.state_dict(), fitted.q_net.state_dict())


def test_its_greedy_policy_beats_random_on_the_fitted_tasks(fitted: TaskConditionedDQN) -> None:
    for task_id in TASKS:
        env = ObserveDescriptor(FAMILY.make(task_id), mode="dict")
        value = FAMILY.policy_return(task_id, greedy_actions(fitted, env))
        assert FAMILY.normalized_return(task_id, value) > 0.9


def test_record_and_round_trip(fitted: TaskConditionedDQN, tmp_path: Path) -> None:
    record = fitted.pretraining
    assert record is not None
    assert record["supervision"] == "oracle"
    assert record["task_ids"] == TASKS
    assert record["core_seconds"] > 0
    path = fitted.save_pretrained(tmp_path / "tc-oracle.safetensors")
    test_task = FAMILY.test_task_ids[0]
    adapted = TaskConditionedDQN("MultiInputPolicy", FAMILY.make(test_task), pretrained=path)
    assert adapted.gamma == 0.99
    np.testing.assert_array_equal(_q_values(adapted, test_task), _q_values(fitted, test_task))


def test_same_seed_same_fit() -> None:
    a = pretrain_oracle(TINY_ENV_ID, 5, seed=1, task_ids=TASKS, batch_tasks=2)
    b = pretrain_oracle(TINY_ENV_ID, 5, seed=1, task_ids=TASKS, batch_tasks=2)
    assert tensors_equal(a.q_net.state_dict(), b.q_net.state_dict())


@pytest.mark.parametrize(
    ("env_id", "kwargs", "match"),
    [
        ("MetaCartPole-v0", {}, "needs a family with an exact model"),
        (TINY_ENV_ID, {"steps": 0}, "steps must be a positive int, got 0"),
        (TINY_ENV_ID, {"batch_tasks": -1}, "batch_tasks must be a positive int"),
        (TINY_ENV_ID, {"gamma": 1.0}, r"gamma must be a finite number in \[0, 1\), got 1.0"),
        (
            TINY_ENV_ID,
            {"learning_rate": 0},
            r"learning_rate must be a finite number in \(0, 1\], got 0",
        ),
        (TINY_ENV_ID, {"task_ids": [FAMILY.test_task_ids[0]]}, "must be train-split tasks"),
    ],
)
def test_bad_input(env_id: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pretrain_oracle(env_id, **{"steps": 1, **kwargs})


def test_an_interrupted_fit_resumes_to_the_same_network(tmp_path: Path, monkeypatch) -> None:
    from sb3_metadqn.baselines import task_conditioned_oracle

    monkeypatch.setattr(task_conditioned_oracle, "CHECKPOINT_EVERY", 4)
    whole = pretrain_oracle(TINY_ENV_ID, 10, task_ids=TASKS, batch_tasks=2)
    first = pretrain_oracle(TINY_ENV_ID, 10, task_ids=TASKS, batch_tasks=2, checkpoint_dir=tmp_path)
    assert (tmp_path / "state.safetensors").exists()  # the state after step 8
    resumed = pretrain_oracle(
        TINY_ENV_ID, 10, task_ids=TASKS, batch_tasks=2, checkpoint_dir=tmp_path
    )
    assert tensors_equal(first.q_net.state_dict(), whole.q_net.state_dict())
    assert tensors_equal(resumed.q_net.state_dict(), whole.q_net.state_dict())
    with pytest.raises(ValueError, match="another configuration"):
        pretrain_oracle(TINY_ENV_ID, 12, task_ids=TASKS, batch_tasks=2, checkpoint_dir=tmp_path)
