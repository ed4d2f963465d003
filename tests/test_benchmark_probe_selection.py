"""Smoke test of the probe-selection benchmark, and that it reads off MetaDQN's own choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gym_metatasks
from benchmarks.probe_selection import main, parse_args, setting_outcome
from sb3_metadqn import MetaDQN

ENV_ID = "MetaMountainCar-v0"


def test_probe_selection_reads_off_what_metadqn_picks(tmp_path: Path) -> None:
    args = parse_args(
        ["--env-id", ENV_ID, "--tasks", "1", "--candidates", "1", "3", "--episodes", "1", "2",
         "--jumpstart-episodes", "2", "--output-dir", str(tmp_path), "--quiet"]
    )  # fmt: skip
    report = main(args)
    stem = tmp_path / f"probe_selection_{ENV_ID}_validation"
    saved = json.loads(stem.with_suffix(".json").read_text())
    assert saved["chosen"] == report["chosen"]
    assert stem.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "meta_probe_episodes" in stem.with_suffix(".csv").read_text()
    settings = {(s["meta_candidates"], s["meta_probe_episodes"]) for s in saved["settings"]}
    assert settings == {(1, 0), (3, 1), (3, 2)}
    family = gym_metatasks.family(ENV_ID)
    task = family.validation_task_ids[0]
    candidates = saved["per_task"][str(task)]
    assert len(candidates) == 3
    for episodes in (1, 2):
        model = MetaDQN(
            "MlpPolicy", family.make(task), seed=0, buffer_size=1_000,
            meta_candidates=3, meta_probe_episodes=episodes,
        )  # fmt: skip
        assert model.meta_init is not None
        chosen = model.meta_init["source_task_id"]
        jumpstart, steps = setting_outcome(candidates, 3, episodes)
        assert steps == model.meta_init["probe_env_steps"]
        picked = next(c for c in candidates if c["source_task_id"] == chosen)
        assert jumpstart == pytest.approx(picked["jumpstart"])
        returns = [c["probe"][str(episodes)]["mean_return"] for c in candidates]
        assert list(model.meta_init["probe_returns"].values()) == pytest.approx(returns)


def test_probe_selection_refuses_bad_grids(tmp_path: Path) -> None:
    args = parse_args(["--candidates", "0", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="candidates must be integers >= 1"):
        main(args)
