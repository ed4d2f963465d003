"""WarmStartDQN with the bank baselines: NearestSource and SourceAverage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gym_metatasks
from sb3_metadqn import (
    ArtifactError,
    Initializer,
    MetaDQN,
    MetaLearner,
    NearestSource,
    SourceAverage,
    WarmStartDQN,
)
from sb3_metadqn.baselines.reptile import ReptileInit
from sb3_metadqn.core.source_bank import SourceBank
from sb3_metadqn.io import artifacts
from sb3_metadqn.nets import qnet
from tests.helpers import TINY_ENV_ID, layers_equal, random_transitions, td_error

FAMILY = gym_metatasks.family(TINY_ENV_ID)
TEST_TASK = FAMILY.test_task_ids[0]


def test_nearest_source_is_the_nearest_source_unchanged(tiny_learner: Any) -> None:
    baseline = NearestSource.of(tiny_learner)
    [nearest], _ = tiny_learner.nearest(FAMILY.descriptor(TEST_TASK))
    model = WarmStartDQN("MlpPolicy", FAMILY.make(TEST_TASK), initializer=baseline, seed=0)
    expected = qnet.index(tiny_learner.source_layers, nearest)
    assert layers_equal(qnet.get_layers(model.q_net), expected)
    assert layers_equal(qnet.get_layers(model.q_net_target), expected)
    assert model.meta_init is not None
    assert model.meta_init["initializer"] == "nearest-source"
    assert model.meta_init["source_task_id"] == tiny_learner.source_task_ids[nearest]
    assert model.exploration_initial_eps == model.exploration_final_eps == 0.05


def test_nearest_source_probe_picks_the_unmapped_source_with_the_lowest_td_error(
    tiny_learner: Any,
) -> None:
    """Against TD errors computed here: the 3 nearest sources as they are (no mapping) are
    scored on the task's transitions, and the WarmStartDQN starts from the lowest."""
    d = FAMILY.descriptor(TEST_TASK)
    distances = np.linalg.norm(tiny_learner.source_descriptors.numpy() - d, axis=1)
    nearest = [int(j) for j in np.argsort(distances, kind="stable")[:3]]
    transitions = random_transitions(FAMILY.make(TEST_TASK), 40, seed=1)
    expected = {
        tiny_learner.source_task_ids[j]: td_error(
            qnet.index(tiny_learner.source_layers, j), transitions, 0.99
        )
        for j in nearest
    }
    baseline = NearestSource.of(tiny_learner)
    layers, record = baseline.initial_parameters(
        d, candidates=3, transitions=transitions, gamma=0.99
    )
    assert list(record["probe_td_errors"]) == list(expected)
    assert list(record["probe_td_errors"].values()) == pytest.approx(list(expected.values()))
    best = min(expected, key=lambda t: expected[t])
    assert expected[best] < td_error(tiny_learner.shared_init, transitions, 0.99)
    assert record["source_task_id"] == best
    assert layers_equal(
        layers, qnet.index(tiny_learner.source_layers, tiny_learner.source_task_ids.index(best))
    )

    model = WarmStartDQN(
        "MlpPolicy",
        FAMILY.make(TEST_TASK),
        initializer=baseline,
        meta_candidates=3,
        meta_probe_steps=40,
        seed=1,
    )
    record = model.meta_init
    assert record is not None
    assert list(record["probe_td_errors"]) == list(expected)  # the same 3 candidates
    chosen = record["source_task_id"]
    assert chosen in expected  # a source as it is, never the shared initialization here
    assert layers_equal(
        qnet.get_layers(model.q_net),
        qnet.index(tiny_learner.source_layers, tiny_learner.source_task_ids.index(chosen)),
    )


def test_source_average_is_the_mean_of_the_k_nearest(tiny_learner: Any) -> None:
    baseline = SourceAverage.of(tiny_learner, k=3)
    indices, _ = tiny_learner.nearest(FAMILY.descriptor(TEST_TASK), 3)
    model = WarmStartDQN("MlpPolicy", FAMILY.make(TEST_TASK), initializer=baseline)
    expected = [(w[indices].mean(0), b[indices].mean(0)) for w, b in tiny_learner.source_layers]
    for (w, b), (ew, eb) in zip(qnet.get_layers(model.q_net), expected, strict=True):
        torch.testing.assert_close(w, ew)
        torch.testing.assert_close(b, eb)
    assert model.meta_init is not None
    assert model.meta_init["source_task_ids"] == [tiny_learner.source_task_ids[j] for j in indices]


@pytest.mark.parametrize(
    ("k", "match"),
    [(0, "k must be a positive int, got 0"), (7, "k must be <= the bank's 6 sources, got 7")],
)
def test_source_average_bad_k(tiny_learner: Any, k: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SourceAverage.of(tiny_learner, k=k)


def test_one_initialization_refuses_probe_arguments(tiny_learner: Any) -> None:
    with pytest.raises(ValueError, match="a source-average gives one initialization"):
        WarmStartDQN(
            "MlpPolicy",
            FAMILY.make(TEST_TASK),
            initializer=SourceAverage.of(tiny_learner, k=2),
            meta_probe_steps=10,
        )


def test_warm_start_needs_an_initializer() -> None:
    with pytest.raises(ValueError, match="WarmStartDQN needs initializer="):
        WarmStartDQN("MlpPolicy", FAMILY.make(TEST_TASK))
    with pytest.raises(TypeError, match="initializer must be None, a path or a Initializer"):
        WarmStartDQN("MlpPolicy", FAMILY.make(TEST_TASK), initializer=3)  # type: ignore[arg-type]


def test_test_split_sources_are_refused(tiny_learner: Any) -> None:
    bank = tiny_learner.bank
    ids = list(bank.task_ids)
    ids[0] = TEST_TASK
    leaky = SourceBank(
        task_ids=ids,
        descriptors=bank.descriptors,
        layers=bank.layers,
        provenance=bank.provenance,
        shared_init=bank.shared_init,
    )
    with pytest.raises(ValueError, match=rf"\[{TEST_TASK}\] are not .*held out for evaluation"):
        NearestSource(bank=leaky, **tiny_learner.common_arguments())


def test_bank_baselines_share_the_learners_bank_and_are_not_meta_learners(
    tiny_learner: Any,
) -> None:
    nearest = NearestSource.of(tiny_learner)
    average = SourceAverage.of(tiny_learner, k=2)
    assert nearest.bank is tiny_learner.bank
    assert average.bank is tiny_learner.bank
    assert not isinstance(nearest, MetaLearner)
    assert not isinstance(average, MetaLearner)


def test_metadqn_refuses_a_bank_baseline_as_its_meta_learner(
    tiny_learner: Any, tmp_path: Path
) -> None:
    nearest = NearestSource.of(tiny_learner)
    with pytest.raises(
        TypeError, match=r"meta_learner must be a MetaLearner .*got a NearestSource.*WarmStartDQN"
    ):
        MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=nearest)
    nearest.save(tmp_path / "nearest.safetensors")
    with pytest.raises(ArtifactError, match="holds a 'nearest-source', not a 'meta-learner'"):
        MetaDQN("MlpPolicy", FAMILY.make(TEST_TASK), meta_learner=tmp_path / "nearest.safetensors")


def test_nearest_and_farthest_sources_match_numpy_distances(tiny_learner: Any) -> None:
    bank = tiny_learner.bank
    descriptor = FAMILY.descriptor(TEST_TASK)
    distances = np.linalg.norm(bank.descriptors.numpy() - descriptor, axis=1)
    d = torch.as_tensor(descriptor, dtype=torch.float32)
    nearest, near_distances = bank.nearest(d, k=2)
    farthest, far_distances = bank.farthest(d, k=2)
    assert nearest == list(np.argsort(distances, kind="stable")[:2])
    assert farthest == list(np.argsort(-distances, kind="stable")[:2])
    assert near_distances == pytest.approx(distances[nearest].tolist(), rel=1e-5)
    assert far_distances == pytest.approx(distances[farthest].tolist(), rel=1e-5)


def test_a_nearest_source_artifact_with_the_old_identity_mapper_still_loads(
    tiny_learner: Any, tmp_path: Path
) -> None:
    """Version 0.1.0 wrote NearestSource as its learner's bank plus an identity mapping network."""
    path = tmp_path / "old-nearest.safetensors"
    artifacts.write(
        path, tiny_learner.tensors(), {**tiny_learner.document(), "kind": "nearest-source"}
    )
    loaded = Initializer.load(path)
    assert isinstance(loaded, NearestSource)
    descriptor = FAMILY.descriptor(TEST_TASK)
    j = tiny_learner.nearest(descriptor)[0][0]
    assert layers_equal(loaded.initial_parameters(descriptor)[0], tiny_learner.bank.source(j))


def test_artifacts_round_trip_by_kind(tiny_learner: Any, tmp_path: Path) -> None:
    nearest = NearestSource.of(tiny_learner)
    average = SourceAverage.of(tiny_learner, k=2)
    nearest.save(tmp_path / "nearest.safetensors")
    average.save(tmp_path / "average.safetensors")
    loaded = Initializer.load(tmp_path / "average.safetensors")
    assert isinstance(loaded, SourceAverage)
    assert loaded.k == 2
    assert isinstance(Initializer.load(tmp_path / "nearest.safetensors"), NearestSource)
    with pytest.raises(ArtifactError, match="holds a 'nearest-source', not a 'meta-learner'"):
        MetaLearner.load(tmp_path / "nearest.safetensors")
    with pytest.raises(ArtifactError, match="holds a 'nearest-source', not a 'source-average'"):
        SourceAverage.load(tmp_path / "nearest.safetensors")
    with pytest.raises(ArtifactError, match="holds a 'source-average', not a 'reptile-init'"):
        ReptileInit.load(tmp_path / "average.safetensors")
    descriptor = FAMILY.descriptor(TEST_TASK)
    assert layers_equal(
        loaded.initial_parameters(descriptor)[0], average.initial_parameters(descriptor)[0]
    )


def test_warm_start_model_saves_its_initializer(tiny_learner: Any, tmp_path: Path) -> None:
    model = WarmStartDQN(
        "MlpPolicy",
        FAMILY.make(TEST_TASK),
        initializer=SourceAverage.of(tiny_learner, k=2),
        learning_starts=10,
        seed=0,
    )
    model.learn(30)
    model.save(tmp_path / "model.zip")
    loaded = WarmStartDQN.load(tmp_path / "model.zip", env=FAMILY.make(TEST_TASK))
    assert isinstance(loaded.initializer, SourceAverage)
    assert loaded.meta_init == model.meta_init
    assert layers_equal(qnet.get_layers(loaded.q_net), qnet.get_layers(model.q_net))
