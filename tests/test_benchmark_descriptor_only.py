"""Smoke test of benchmarks/descriptor_only.py, checked against a direct computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import gym_metatasks
from benchmarks.descriptor_only import main, parse_args


def test_descriptor_only_smoke(tmp_path: Path) -> None:
    args = parse_args(
        ["--split", "validation", "--tasks", "2", "--neighbours", "1", "2", "--quiet",
         "--output-dir", str(tmp_path)]
    )  # fmt: skip
    result = main(args)
    saved = json.loads((tmp_path / "descriptor_only_MetaRecommend-v0_validation.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(result["rows"]))
    family = gym_metatasks.family("MetaRecommend-v0")
    train = list(family.train_task_ids)
    for row, task_id in zip(result["rows"], family.validation_task_ids[:2], strict=True):
        assert row["task_id"] == task_id
        nearest = min(
            train, key=lambda t: np.linalg.norm(family.descriptor(t) - family.descriptor(task_id))
        )
        policy = family.optimal_q_values(nearest)[family.horizon].argmax(axis=1)
        expected = family.normalized_return(task_id, family.policy_return(task_id, policy))
        assert row["neighbours_1"] == pytest.approx(expected)
        assert row["neighbours_2"] <= row["own_stationary"] + 1e-9
        assert row["own_stationary"] <= 1.0 + 1e-9
    assert (tmp_path / "descriptor_only_MetaRecommend-v0_validation.csv").exists()


def test_descriptor_only_refuses_families_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exact model"):
        main(parse_args(["--env-id", "MetaCartPole-v0", "--output-dir", str(tmp_path)]))
