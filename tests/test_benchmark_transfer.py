"""Smoke test of the transfer benchmark at a tiny budget."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.transfer import main, parse_args


def test_transfer_benchmark_smoke(tmp_path: Path) -> None:
    args = parse_args(
        ["--tasks", "1", "--seeds", "1", "--timesteps", "200", "--eval-freq", "100", "--eval-episodes", "1",
         "--workers", "1", "--output-dir", str(tmp_path)]
    )  # fmt: skip
    report = main(args)
    saved = json.loads((tmp_path / "transfer_MetaNav-v0.json").read_text())
    assert saved["summary"] == report["summary"]
    assert {r["method"] for r in saved["results"]} == {"metadqn", "scratch"}
    for result in saved["results"]:
        assert result["steps"] == [0, 100, 200]
        assert len(result["values"]) == 3
    assert saved["summary"]["metadqn"]["runs"] == 1
    assert "--tasks 1" in saved["command"]


def test_learn_throughput_benchmark_smoke(tmp_path: Path) -> None:
    from benchmarks.learn_throughput import main as throughput_main
    from benchmarks.learn_throughput import parse_args as throughput_args

    report = throughput_main(
        throughput_args(["--steps", "200", "--repeats", "1", "--output-dir", str(tmp_path)])
    )
    saved = json.loads((tmp_path / "learn_throughput_MetaNav-v0.json").read_text())
    assert saved["ratio"] == report["ratio"] > 0
    assert len(saved["steps_per_second"]["MetaDQN"]) == 1
