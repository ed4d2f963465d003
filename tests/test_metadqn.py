"""MetaDQN: initialization through the meta-learner, bad input, persistence, determinism."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers import TimeLimit
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env

import gym_metatasks
from gym_metatasks.wrappers import ObserveDescriptor
from sb3_metadqn import ArtifactError, MetaDQN
from sb3_metadqn.nets import qnet
from tests.helpers import (
    TINY_ENV_ID,
    layers_equal,
    random_transitions,
    td_error,
    write_pickle_bomb,
)

FAMILY = gym_metatasks.family(TINY_ENV_ID)
TEST_TASK = FAMILY.test_task_ids[0]


def test_initializes_q_net_and_target_from_the_map(tiny_learner: Any) -> None:
    model = MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner, seed=0)
    expected, record = tiny_learner.initial_parameters(FAMILY.descriptor(TEST_TASK))
    assert layers_equal(qnet.get_layers(model.q_net), expected)
    assert layers_equal(qnet.get_layers(model.q_net_target), expected)
    assert model.meta_init is not None
    assert model.meta_init["task_id"] == TEST_TASK
    assert model.meta_init["source_task_id"] == record["source_task_id"]
    assert model.meta_init["source_task_id"] in tiny_learner.source_task_ids
    assert model.meta_init["descriptor_distance"] == pytest.approx(record["descriptor_distance"])
    assert model.meta_learner is tiny_learner
    assert isinstance(model, DQN)


def test_meta_learner_from_a_path(tiny_artifact: Path) -> None:
    model = MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_artifact)
    assert model.meta_learner is not None
    assert model.meta_learner.num_sources == 6


def test_descriptor_read_through_wrappers_and_vec_envs(tiny_learner: Any) -> None:
    reference = MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner)
    wrapped = TimeLimit(gym.wrappers.RecordEpisodeStatistics(FAMILY.make(TEST_TASK)), 50)
    venv = make_vec_env(lambda: FAMILY.make(TEST_TASK), n_envs=2)
    for env in (wrapped, venv):
        model = MetaDQN("MlpPolicy", env, meta_learner=tiny_learner)
        assert model.meta_init == reference.meta_init


def test_string_env_id(tiny_learner: Any) -> None:
    model = MetaDQN("MlpPolicy", TINY_ENV_ID, meta_learner=tiny_learner)
    assert model.meta_init is not None
    assert model.meta_init["task_id"] == 0


def test_sub_envs_with_different_tasks_are_refused(tiny_learner: Any) -> None:
    tasks = list(FAMILY.test_task_ids[:2])
    venv = FAMILY.make_vec(tasks, vectorization_mode="sync")
    from stable_baselines3.common.vec_env import DummyVecEnv

    sb3_venv = DummyVecEnv([lambda t=t: FAMILY.make(t) for t in tasks])
    venv.close()
    with pytest.raises(ValueError, match="all sub-envs must hold the same task"):
        MetaDQN("MlpPolicy", sb3_venv, meta_learner=tiny_learner)


def test_task_descriptor_argument_overrides_and_serves_plain_envs(tiny_learner: Any) -> None:
    other = FAMILY.test_task_ids[1]
    model = MetaDQN(
        "MlpPolicy",
        FAMILY.make(TEST_TASK),
        meta_learner=tiny_learner,
        task_descriptor=FAMILY.descriptor(other),
    )
    expected, _ = tiny_learner.initial_parameters(FAMILY.descriptor(other))
    assert layers_equal(qnet.get_layers(model.q_net), expected)


class NoDescriptor(gym.Wrapper):  # type: ignore[type-arg]
    """Hides the family: a user's own env with the same spaces."""

    def __init__(self, env: gym.Env) -> None:  # type: ignore[type-arg]
        super().__init__(env)

    def get_wrapper_attr(self, name: str) -> Any:
        if name in ("task_descriptor", "family", "task_id"):
            raise AttributeError(name)
        return super().get_wrapper_attr(name)


def test_env_without_descriptor(tiny_learner: Any) -> None:
    env = NoDescriptor(FAMILY.make(TEST_TASK))
    with pytest.raises(ValueError, match="exposes no task_descriptor"):
        MetaDQN("MlpPolicy", env, meta_learner=tiny_learner)
    model = MetaDQN(
        "MlpPolicy", env, meta_learner=tiny_learner, task_descriptor=FAMILY.descriptor(TEST_TASK)
    )
    assert model.meta_init is not None
    assert model.meta_init["task_id"] is None
    with pytest.raises(ValueError, match="needs an env of a registered gym_metatasks family"):
        MetaDQN("MlpPolicy", env, task_descriptor=FAMILY.descriptor(TEST_TASK))


@pytest.mark.parametrize(
    ("descriptor", "match"),
    [
        (np.zeros(5), r"task_descriptor must have shape \(30,\)"),
        (np.full(30, np.nan), "task_descriptor must be finite"),
        (np.full(30, np.inf), "task_descriptor must be finite"),
    ],
)
def test_bad_descriptor(tiny_learner: Any, descriptor: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MetaDQN(
            "MlpPolicy",
            FAMILY.make(TEST_TASK),
            meta_learner=tiny_learner,
            task_descriptor=descriptor,
        )


def test_meta_learner_of_another_family(tiny_learner: Any) -> None:
    env = gym_metatasks.family("MetaNav-v0").make(0)
    with pytest.raises(ArtifactError, match="is for family MetaNav-v0\\[size=5\\]"):
        MetaDQN("MlpPolicy", env, meta_learner=tiny_learner)


def test_other_spaces(tiny_learner: Any) -> None:
    env = ObserveDescriptor(FAMILY.make(TEST_TASK))
    with pytest.raises(ArtifactError, match="observation space"):
        MetaDQN("MlpPolicy", env, meta_learner=tiny_learner)


def test_other_net_arch(tiny_learner: Any) -> None:
    with pytest.raises(ArtifactError, match=r"net_arch=\[64, 64\].*net_arch=\[32\]"):
        MetaDQN(
            "MlpPolicy",
            FAMILY.make(TEST_TASK),
            meta_learner=tiny_learner,
            policy_kwargs={"net_arch": [32]},
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"meta_candidates": 0}, ValueError, "meta_candidates must be an int >= 1, got 0"),
        ({"meta_probe_steps": -1}, ValueError, "meta_probe_steps must be an int >= 0, got -1"),
        ({"anchor_rate": 1.0}, ValueError, r"anchor_rate must be a number in \[0, 1\), got 1.0"),
        ({"anchor_rate": -0.1}, ValueError, r"anchor_rate must be a number in \[0, 1\), got -0.1"),
        (
            {"anchor_rate": "0.1"},
            ValueError,
            r"anchor_rate must be a number in \[0, 1\), got '0.1'",
        ),
        (
            {"meta_learner": 3},
            TypeError,
            "meta_learner must be None, a path or a MetaLearner, got int",
        ),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), **kwargs)


def test_pickle_file_as_meta_learner(tmp_path: Path) -> None:
    path = write_pickle_bomb(tmp_path / "ml.pkl")
    with pytest.raises(ArtifactError, match="pickle"):
        MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=path)


def _nearest_sources(learner: Any, descriptor: Any, k: int) -> list[int]:
    """Indices of the ``k`` sources nearest to ``descriptor`` (Euclidean), by numpy."""
    distances = np.linalg.norm(learner.source_descriptors.numpy() - descriptor, axis=1)
    return [int(j) for j in np.argsort(distances, kind="stable")[:k]]


def test_probe_picks_the_mapped_candidate_with_the_lowest_td_error(tiny_learner: Any) -> None:
    """Against TD errors computed here: each of the 3 nearest sources, mapped to the task,
    is scored on the task's transitions, and the lowest wins (the shared initialization
    would win if it were lower still; on these transitions it is not)."""
    d = FAMILY.descriptor(TEST_TASK)
    transitions = random_transitions(FAMILY.make(TEST_TASK), 40, seed=1)
    candidates = {
        tiny_learner.source_task_ids[j]: tiny_learner.map_source(d, j)
        for j in _nearest_sources(tiny_learner, d, 3)
    }
    expected = {t: td_error(layers, transitions, 0.99) for t, layers in candidates.items()}
    shared = td_error(tiny_learner.shared_init, transitions, 0.99)
    layers, record = tiny_learner.initial_parameters(
        d, candidates=3, transitions=transitions, gamma=0.99
    )
    assert list(record["probe_td_errors"]) == list(expected)
    assert list(record["probe_td_errors"].values()) == pytest.approx(list(expected.values()))
    assert record["probe_td_error_shared_init"] == pytest.approx(shared)
    assert record["probe_transitions"] == 40
    best = min(expected, key=lambda t: expected[t])
    assert expected[best] < shared
    assert record["selection"] == "probe"
    assert record["source_task_id"] == best
    assert layers_equal(layers, candidates[best])


def test_probe_arguments_reach_the_meta_learner(tiny_learner: Any) -> None:
    model = MetaDQN(
        "MlpPolicy",
        FAMILY.make(TEST_TASK),
        meta_learner=tiny_learner,
        meta_candidates=3,
        meta_probe_steps=40,
        seed=1,
    )
    record = model.meta_init
    assert record is not None
    d = FAMILY.descriptor(TEST_TASK)
    nearest = _nearest_sources(tiny_learner, d, 3)
    assert list(record["probe_td_errors"]) == [tiny_learner.source_task_ids[j] for j in nearest]
    assert record["probe_transitions"] == 40
    if record["selection"] == "shared_init":
        expected = tiny_learner.shared_init
    else:
        expected = tiny_learner.map_source(
            d, tiny_learner.source_task_ids.index(record["source_task_id"])
        )
    assert layers_equal(qnet.get_layers(model.q_net), expected)


def test_save_load_round_trip_and_plain_dqn_load(tiny_learner: Any, tmp_path: Path) -> None:
    model = MetaDQN(
        "MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner, seed=0, learning_starts=10
    )
    model.learn(60)
    model.save(tmp_path / "model")
    loaded = MetaDQN.load(tmp_path / "model", env=FAMILY.make(TEST_TASK))
    assert loaded.meta_init == model.meta_init
    assert loaded.meta_learner is not None
    assert loaded.meta_learner.source_task_ids == tiny_learner.source_task_ids
    assert layers_equal(qnet.get_layers(loaded.q_net), qnet.get_layers(model.q_net))
    plain = DQN.load(tmp_path / "model.zip")
    assert layers_equal(qnet.get_layers(plain.q_net), qnet.get_layers(model.q_net))
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    again = MetaDQN.load(buffer)
    assert again.meta_init == model.meta_init
    loaded.learn(20, reset_num_timesteps=False)  # training goes on from the saved step
    assert loaded.num_timesteps == 80
    assert not layers_equal(qnet.get_layers(loaded.q_net), qnet.get_layers(model.q_net))


def test_same_seed_same_init_and_learning_curve(tiny_learner: Any) -> None:
    def run() -> tuple[qnet.Layers, list[float]]:
        model = MetaDQN(
            "MlpPolicy",
            FAMILY.make(TEST_TASK),
            meta_learner=tiny_learner,
            seed=3,
            learning_starts=20,
        )
        init = qnet.get_layers(model.q_net)
        model.learn(200)
        return init, [float(v) for w, b in qnet.get_layers(model.q_net) for v in (w.sum(), b.sum())]

    (init_a, curve_a), (init_b, curve_b) = run(), run()
    assert layers_equal(init_a, init_b)
    assert curve_a == curve_b


def test_learn_has_a_default_budget() -> None:
    import inspect

    assert inspect.signature(MetaDQN.learn).parameters["total_timesteps"].default == 20_000


def test_warm_start_exploration_defaults_are_overridable(tiny_learner: Any) -> None:
    model = MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner)
    assert model.exploration_initial_eps == 0.05
    model = MetaDQN(
        "MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner, exploration_initial_eps=1.0
    )
    assert model.exploration_initial_eps == 1.0


def test_meta_init_is_logged(tiny_learner: Any) -> None:
    from stable_baselines3.common.logger import KVWriter, Logger

    class Capture(KVWriter):
        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []

        def write(self, key_values: dict[str, Any], key_excluded: Any, step: int = 0) -> None:
            self.records.append(dict(key_values))

    capture = Capture()
    model = MetaDQN(
        "MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner, learning_starts=10
    )
    model.set_logger(Logger(folder=None, output_formats=[capture]))
    model.learn(30)
    model.logger.dump(step=30)
    logged = {k: v for record in capture.records for k, v in record.items()}
    assert logged["meta_init/source_task_id"] == model.meta_init["source_task_id"]  # type: ignore[index]
    assert logged["meta_init/descriptor_distance"] == pytest.approx(
        model.meta_init["descriptor_distance"]
    )  # type: ignore[index]


def _distance(a: qnet.Layers, b: qnet.Layers) -> float:
    return float(
        sum(
            ((w1 - w2) ** 2).sum() + ((b1 - b2) ** 2).sum()
            for (w1, b1), (w2, b2) in zip(a, b, strict=True)
        )
    )


def _fast_learner(tiny_learner: Any, **kwargs: Any) -> MetaDQN:
    """MetaDQN on the test task, learning from step 20 at a high rate."""
    return MetaDQN(
        "MlpPolicy",
        FAMILY.make(TEST_TASK),
        meta_learner=tiny_learner,
        seed=0,
        learning_starts=20,
        **kwargs,
    )


def test_anchor_rate_keeps_adaptation_near_the_warm_start(tiny_learner: Any) -> None:
    def moved(anchor_rate: float) -> float:
        model = _fast_learner(tiny_learner, learning_rate=1e-2, anchor_rate=anchor_rate)
        init = qnet.get_layers(model.q_net)
        model.learn(300)
        return _distance(qnet.get_layers(model.q_net), init)

    free, anchored = moved(0.0), moved(0.5)
    assert free > 0
    assert anchored < 0.1 * free


def test_anchor_is_saved_and_loaded(tiny_learner: Any, tmp_path: Path) -> None:
    model = MetaDQN(
        "MlpPolicy",
        FAMILY.make(TEST_TASK),
        meta_learner=tiny_learner,
        seed=0,
        learning_starts=10,
        anchor_rate=0.01,
    )
    init = qnet.get_layers(model.q_net)
    model.learn(60)
    model.save(tmp_path / "model")
    loaded = MetaDQN.load(tmp_path / "model", env=FAMILY.make(TEST_TASK))
    assert loaded.anchor_rate == 0.01
    assert loaded._anchor is not None
    assert all(
        torch.equal(saved, start)
        for saved, start in zip(loaded._anchor, [t for layer in init for t in layer], strict=True)
    )


def test_anchor_pulls_after_every_gradient_step(
    tiny_learner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = MetaDQN(
        "MlpPolicy",
        FAMILY.make(TEST_TASK),
        meta_learner=tiny_learner,
        seed=0,
        learning_starts=10,
        train_freq=8,
        gradient_steps=3,
        anchor_rate=0.2,
    )
    pulls = []
    pull = model._pull_to_anchor
    monkeypatch.setattr(model, "_pull_to_anchor", lambda *a: pulls.append(1) or pull(*a))
    model.learn(100)
    assert model._n_updates > 3
    assert len(pulls) == model._n_updates


def test_action_anchor_keeps_the_start_greedy_actions(tiny_learner: Any) -> None:
    observations = torch.eye(FAMILY.make(TEST_TASK).observation_space.shape[0])

    def changed(action_anchor: float) -> float:
        model = _fast_learner(
            tiny_learner, learning_rate=3e-2, anchor_rate=0.0, action_anchor=action_anchor
        )
        with torch.no_grad():
            start = model.q_net(observations).argmax(1)
        model.learn(400)
        with torch.no_grad():
            return float((model.q_net(observations).argmax(1) != start).float().mean())

    free, anchored = changed(0.0), changed(10.0)
    assert free > 0.1
    assert anchored < 0.5 * free


def test_action_anchor_adds_its_gradient_before_every_step(
    tiny_learner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = MetaDQN(
        "MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner, seed=0,
        learning_starts=10, train_freq=8, gradient_steps=3, action_anchor=1.0,
    )  # fmt: skip
    calls = []
    add = model._add_action_anchor
    monkeypatch.setattr(model, "_add_action_anchor", lambda *a: calls.append(1) or add(*a))
    model.learn(100)
    assert model._n_updates > 3
    assert len(calls) == model._n_updates


def test_action_anchor_is_checked_and_saved(tiny_learner: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"action_anchor must be a finite number >= 0, got -1"):
        MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner, action_anchor=-1)
    model = MetaDQN(
        "MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner, action_anchor=2.5
    )
    model.save(tmp_path / "model")
    assert MetaDQN.load(tmp_path / "model").action_anchor == 2.5


def test_action_anchor_defaults_to_the_value_chosen_for_the_family(tiny_learner: Any) -> None:
    from sb3_metadqn.agents.metadqn import FAMILY_ACTION_ANCHOR

    nav = gym_metatasks.family("MetaNav-v0")
    model = MetaDQN("MlpPolicy", nav.make(nav.test_task_ids[0]))
    assert model.action_anchor == FAMILY_ACTION_ANCHOR["MetaNav-v0"] > 0
    assert MetaDQN("MlpPolicy", nav.make(800), action_anchor=0.5).action_anchor == 0.5
    own = MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner)
    assert tiny_learner.env_id not in FAMILY_ACTION_ANCHOR
    assert own.action_anchor == 0.0
