"""Smoke test of benchmarks/env_throughput.py on a tiny budget."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import gym_metatasks
from benchmarks import env_throughput
from benchmarks.common import source_digest


def test_env_throughput_smoke(tmp_path: Path) -> None:
    args = env_throughput.Args(
        steps=300, repeats=1, warmup_steps=20, seed=3, output_dir=str(tmp_path), quiet=True
    )
    returned = env_throughput.main(args)

    data = json.loads((tmp_path / "env_throughput.json").read_text(encoding="utf-8"))
    assert data["rows"] == json.loads(json.dumps(returned["rows"]))
    assert (data["seed"], data["steps"], data["repeats"]) == (3, 300, 1)
    assert data["command"]
    assert data["equivalent_command"].startswith("python -m benchmarks.env_throughput ")
    for key in ("python", "numpy", "gymnasium", "torch", "platform", "cpu_count"):
        assert key in data["environment"]

    rows = data["rows"]
    assert [row["ours"] for row in rows] == list(env_throughput.PAIRS)
    for row in rows:
        pair = env_throughput.PAIRS[row["ours"]]
        assert row["original"] == pair.original
        assert row["ours_steps_per_s"] > 0
        assert row["original_steps_per_s"] > 0
        assert row["ratio"] == pytest.approx(row["ours_steps_per_s"] / row["original_steps_per_s"])
        targets = {"grid": 1.0, "physics": 0.9, "absolute": 100_000.0}
        assert row["target"] == targets[pair.kind]
        achieved = row["ours_steps_per_s"] if pair.kind == "absolute" else row["ratio"]
        assert row["passed"] == (achieved >= row["target"])
        assert len(row["ours_samples_steps_per_s"]) == len(row["original_samples_steps_per_s"]) == 1
    assert data["all_passed"] == all(row["passed"] for row in rows)
    # nothing edits gym_metatasks during the test: the digest taken at the end is the start's
    package_dir = Path(gym_metatasks.__file__).parent
    assert data["environment"]["gym_metatasks_path"] == str(package_dir)
    assert data["environment"]["gym_metatasks_sha256"] == source_digest(package_dir)
    assert data["source_changed_during_run"] is False
    assert "source changed during the run" not in env_throughput.format_table(data)
    assert (tmp_path / "env_throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with (tmp_path / "env_throughput.csv").open(encoding="utf-8", newline="") as file:
        table = list(csv.DictReader(file))
    assert [line["ours"] for line in table] == [row["ours"] for row in rows]
    for line, row in zip(table, rows, strict=True):
        assert float(line["ratio"]) == pytest.approx(row["ratio"])
        assert line["seed"] == "3"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "env_throughput.csv",
        "env_throughput.json",
        "env_throughput.png",
    ]


def test_a_source_edit_during_the_run_is_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest taken after the measurements differs from the one taken before (as when a
    file of gym_metatasks is saved mid-run): the result says so and the table warns."""
    monkeypatch.setattr(env_throughput, "source_digest", lambda package_dir: "edited")
    args = env_throughput.Args(
        steps=50, repeats=1, warmup_steps=5, pairs=("MetaNav-v0",), output_dir=str(tmp_path),
        quiet=True,
    )  # fmt: skip
    result = env_throughput.main(args)
    assert result["source_changed_during_run"] is True
    table = env_throughput.format_table(result)
    assert "WARNING: gym_metatasks' source changed during the run" in table


def test_env_throughput_parses_args() -> None:
    args = env_throughput.parse_args(
        ["--steps", "10", "--pairs", "MetaCartPole-v0", "MetaNav-v0", "--strict"]
    )
    assert args == env_throughput.Args(
        steps=10, pairs=("MetaCartPole-v0", "MetaNav-v0"), strict=True
    )
    assert env_throughput.parse_args([]) == env_throughput.Args()
