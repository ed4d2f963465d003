"""The ``metadqn`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sb3_metadqn import MetaLearner
from sb3_metadqn.cli import main
from tests.helpers import TINY_ENV_ID, write_pickle_bomb


def test_meta_train_then_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ml.safetensors"
    argv = [
        "meta-train", TINY_ENV_ID, "--output", str(out), "--num-sources", "4", "--rounds", "1",
        "--chunk-size", "4", "--source-timesteps", "20", "--mapper-steps", "3", "--keep-sources", "3",
        "--backend", "serial", "--no-progress", "--no-planner",
    ]  # fmt: skip
    assert main(argv) == 0
    learner = MetaLearner.load(out)
    assert learner.training["config"]["planner"] is False
    assert learner.training["command"] == "metadqn " + " ".join(argv)
    assert learner.num_sources == 3
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["env_id"] == TINY_ENV_ID
    assert info["sources"] == 3
    assert info["planner"] is False


def test_evaluate_prints_jumpstart_and_steps(
    tiny_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    argv = [
        "evaluate", TINY_ENV_ID, "--meta-learner", str(tiny_artifact), "--tasks", "1", "--timesteps", "200",
        "--eval-freq", "100", "--output", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "jumpstart" in text
    assert "metadqn:" in text
    assert "scratch:" in text
    results = json.loads(out.read_text())
    assert {r["method"] for r in results} == {"metadqn", "scratch"}
    assert all(r["steps"] == [0, 100, 200] for r in results)


def test_info_of_a_bad_file_fails_cleanly(tmp_path: Path) -> None:
    bad = write_pickle_bomb(tmp_path / "x.safetensors")
    proc = subprocess.run(
        [sys.executable, "-m", "sb3_metadqn", "info", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "pickle" in proc.stderr
    assert "deserialized" not in proc.stderr  # refused without loading it


def test_module_entry_point_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sb3_metadqn", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert "meta-train" in proc.stdout
    assert "evaluate" in proc.stdout
    assert "info" in proc.stdout


def test_unwritable_output_fails_before_training(tmp_path: Path) -> None:
    """meta_train creates its checkpoint directory as it starts: the output path is
    checked before that, so the directory never appears."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = [
        "meta-train", TINY_ENV_ID, "--output", str(blocker / "x" / "ml.safetensors"),
        "--checkpoint-dir", str(tmp_path / "ck"), "--backend", "serial", "--no-progress",
        # a tiny run, should the check ever come after the training
        "--num-sources", "2", "--rounds", "1", "--chunk-size", "2", "--source-timesteps", "5",
        "--mapper-steps", "1", "--keep-sources", "2",
    ]  # fmt: skip
    with pytest.raises(SystemExit, match="cannot be written"):
        main(argv)
    assert sorted(tmp_path.iterdir()) == [blocker]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["info", "no/such/file.safetensors"], r"metadqn info: error: no artifact at path="),
        (
            ["evaluate", "NoSuch-v0"],
            r"metadqn evaluate: error: env_id 'NoSuch-v0' is not registered",
        ),
        (
            ["evaluate", "MetaNav-v0", "--methods", "scratch", "--task-ids", "99999"],
            r"metadqn evaluate: error: task_id must be in \[0, ",
        ),
    ],
)
def test_bad_input_exits_with_the_message_not_a_traceback(argv: list[str], match: str) -> None:
    with pytest.raises(SystemExit, match=match):
        main(argv)
