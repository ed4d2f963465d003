"""The return probe: MetaDQN's choice among its k nearest mapped sources by greedy episodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

import gym_metatasks
from sb3_metadqn import MetaDQN, NearestSource, WarmStartDQN
from sb3_metadqn.agents.probe import greedy_episode_returns
from sb3_metadqn.nets import qnet
from tests.helpers import TINY_ENV_ID, layers_equal

FAMILY = gym_metatasks.family(TINY_ENV_ID)
TEST_TASK = FAMILY.test_task_ids[0]


def _returns_here(learner: Any, starts: list[Any], episodes: int, seed: int) -> list[float]:
    """Each start's mean return over ``episodes`` greedy episodes, played here."""
    model = MetaDQN(
        "MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=learner, seed=seed, learning_starts=10
    )
    assert model.env is not None
    out = []
    for layers in starts:
        qnet.set_layers(model.q_net, layers)
        played, _ = greedy_episode_returns(
            model.env, episodes, lambda obs: model.predict(obs, deterministic=True)[0], seed
        )
        out.append(float(np.mean(played)))
    return out


def test_the_candidate_with_the_highest_probe_return_wins(tiny_learner: Any) -> None:
    """Against returns played here: the 4 nearest sources, mapped, each play the same 2
    greedy episodes, and the start is the first of those with the highest mean return."""
    d = FAMILY.descriptor(TEST_TASK)
    starts = tiny_learner.candidate_starts(d, 4)
    expected = _returns_here(tiny_learner, [layers for layers, _ in starts], 2, seed=3)
    model = MetaDQN(
        "MlpPolicy",
        FAMILY.make(TEST_TASK),
        meta_learner=tiny_learner,
        meta_candidates=4,
        meta_probe_episodes=2,
        seed=3,
    )
    record = model.meta_init
    assert record is not None
    assert record["selection"] == "probe_return"
    assert record["candidates"] == 4
    assert list(record["probe_returns"].values()) == pytest.approx(expected)
    assert list(record["probe_returns"]) == [str(r["source_task_id"]) for _, r in starts]
    best = int(np.argmax(expected))
    assert record["source_task_id"] == starts[best][1]["source_task_id"]
    assert layers_equal(qnet.get_layers(model.q_net), starts[best][0])
    assert layers_equal(qnet.get_layers(model.q_net_target), starts[best][0])
    assert record["probe_episodes"] == 2
    assert record["probe_env_steps"] >= 4 * 2  # every episode takes at least one step


def test_probe_steps_are_counted_and_learning_starts_after_them(tiny_learner: Any) -> None:
    model = MetaDQN(
        "MlpPolicy",
        FAMILY.make(TEST_TASK),
        meta_learner=tiny_learner,
        meta_candidates=2,
        meta_probe_episodes=1,
        seed=0,
        learning_starts=10,
    )
    assert model.meta_init is not None
    horizon = FAMILY.make(TEST_TASK).spec.max_episode_steps  # type: ignore[union-attr]
    assert 2 <= model.meta_init["probe_env_steps"] <= 2 * horizon
    assert model.num_timesteps == 0  # the probe is not part of learn()'s budget
    model.learn(48)
    assert model.num_timesteps == 48


def test_same_seed_same_choice_and_the_probe_is_saved(tiny_learner: Any, tmp_path: Path) -> None:
    def build() -> MetaDQN:
        return MetaDQN(
            "MlpPolicy",
            FAMILY.make(TEST_TASK),
            meta_learner=tiny_learner,
            meta_candidates=3,
            meta_probe_episodes=1,
            seed=5,
        )

    a, b = build(), build()
    assert a.meta_init == b.meta_init
    a.save(tmp_path / "model.safetensors")
    loaded = MetaDQN.load(tmp_path / "model.safetensors", env=FAMILY.make(TEST_TASK))
    assert (loaded.meta_candidates, loaded.meta_probe_episodes) == (3, 1)
    assert loaded.meta_init == a.meta_init


def test_the_probe_works_on_vec_envs_with_several_copies(tiny_learner: Any) -> None:
    env = make_vec_env(lambda: FAMILY.make(TEST_TASK), n_envs=3)
    model = MetaDQN(
        "MlpPolicy", env, meta_learner=tiny_learner, meta_candidates=2, meta_probe_episodes=2
    )
    assert model.meta_init is not None
    assert model.meta_init["probe_env_steps"] % 3 == 0


def test_nearest_source_probes_the_sources_as_they_are(tiny_learner: Any) -> None:
    d = FAMILY.descriptor(TEST_TASK)
    initializer = NearestSource.of(tiny_learner)
    starts = initializer.candidate_starts(d, 3)
    assert all(
        layers_equal(
            layers,
            tiny_learner.bank.source(tiny_learner.source_task_ids.index(r["source_task_id"])),
        )
        for layers, r in starts
    )
    model = WarmStartDQN(
        "MlpPolicy",
        FAMILY.make(TEST_TASK),
        initializer=initializer,
        meta_candidates=3,
        meta_probe_episodes=1,
        seed=0,
    )
    assert model.meta_init is not None
    chosen = [
        layers for layers, r in starts if r["source_task_id"] == model.meta_init["source_task_id"]
    ]
    assert layers_equal(qnet.get_layers(model.q_net), chosen[0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"meta_probe_episodes": -1}, "meta_probe_episodes must be an int >= 0, got -1"),
        ({"meta_probe_episodes": 1.5}, "meta_probe_episodes must be an int >= 0, got 1.5"),
        (
            {"meta_candidates": 3, "meta_probe_episodes": 1, "meta_probe_steps": 10},
            "two probes: pass one of them",
        ),
        ({"meta_candidates": 3}, "pass meta_probe_episodes > 0"),
    ],
)
def test_bad_probe_arguments(tiny_learner: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner, **kwargs)


def test_initializers_without_a_bank_refuse_the_probe(tiny_learner: Any) -> None:
    from sb3_metadqn import SourceAverage

    with pytest.raises(ValueError, match="source-average gives one initialization"):
        WarmStartDQN(
            "MlpPolicy",
            FAMILY.make(TEST_TASK),
            initializer=SourceAverage.of(tiny_learner, k=2),
            meta_candidates=2,
            meta_probe_episodes=1,
        )


def test_metadqn_takes_the_probe_chosen_for_the_family(tiny_learner: Any) -> None:
    from sb3_metadqn.agents.metadqn import FAMILY_PROBE

    cartpole = gym_metatasks.family("MetaCartPole-v0")
    model = MetaDQN("MlpPolicy", cartpole.make(cartpole.test_task_ids[0]))
    candidates, episodes = FAMILY_PROBE["MetaCartPole-v0"]
    assert (model.meta_candidates, model.meta_probe_episodes) == (candidates, episodes)
    assert model.meta_init is not None
    assert model.meta_init["candidates"] == candidates
    assert model.meta_init["probe_env_steps"] > 0
    # a probe the user asks for, or none, overrides the family's
    plain = MetaDQN("MlpPolicy", cartpole.make(400), meta_candidates=1, meta_probe_episodes=0)
    assert plain.meta_init is not None
    assert "probe_env_steps" not in plain.meta_init
    td = MetaDQN("MlpPolicy", cartpole.make(400), meta_probe_steps=20)
    assert td.meta_probe_episodes == 0
    assert td.meta_candidates == 1
    own = MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tiny_learner)
    assert tiny_learner.env_id not in FAMILY_PROBE
    assert (own.meta_candidates, own.meta_probe_episodes) == (1, 0)


def test_the_transfer_protocol_counts_the_probe_steps(tiny_learner: Any) -> None:
    """A probed start's curve begins after the probe: every evaluation step, and so the
    steps to threshold, include the probe's env steps."""
    from sb3_metadqn.evaluation.transfer import run_transfer

    def run(**probe: int) -> Any:
        return run_transfer(
            "metadqn", TINY_ENV_ID, TEST_TASK, 0, total_timesteps=200, eval_freq=100,
            dqn_kwargs={"learning_starts": 50, **probe}, artifact=tiny_learner, threshold=0.0,
        )  # fmt: skip

    probed = run(meta_candidates=3, meta_probe_episodes=1)
    steps = probed.meta_init["probe_env_steps"]
    assert probed.probe_env_steps == steps > 0
    assert probed.steps == [steps, steps + 100, steps + 200]
    expected = next((probed.steps[k] for k in range(3) if min(probed.values[k:]) >= 0.0), None)
    assert probed.steps_to_threshold == expected
    plain = run()
    assert plain.probe_env_steps == 0
    assert plain.steps == [0, 100, 200]
