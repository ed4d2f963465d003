"""One progress convention: a named bar per phase on stderr, on request only.

Every trainer and ``run_transfer`` take ``progress_bar`` (SB3's name and default); with it
they name each phase on stderr, without it they print nothing at all. The commands that run
a long job share ``--progress/--no-progress``, on by default on a terminal outside CI.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable
from typing import Any

import pytest

import gym_metatasks
from sb3_metadqn import (
    LinUCB,
    TableBank,
    hypernetwork_train,
    meta_train,
    reptile_train,
)
from sb3_metadqn.baselines.session_bandit import pretrain_bandit
from sb3_metadqn.baselines.task_conditioned_oracle import pretrain_oracle
from sb3_metadqn.baselines.task_conditioned_pretraining import pretrain
from sb3_metadqn.cli import main
from sb3_metadqn.evaluation.transfer import run_transfer
from sb3_metadqn.progress import Progress, bars_by_default
from tests.helpers import TINY_ENV_ID

TINY_FAMILY = gym_metatasks.family(TINY_ENV_ID)
HELD_OUT = TINY_FAMILY.test_task_ids[0]
TINY_META = {
    "num_sources": 4, "rounds": 2, "chunk_size": 2, "source_timesteps": 20, "mapper_steps": 4,
    "keep_sources": 3, "backend": "serial",
}  # fmt: skip

#: (job, the phases it names). Each job is a tiny run of one trainer.
JOBS: dict[str, tuple[Callable[[bool], Any], list[str]]] = {
    "meta_train": (
        lambda bars: meta_train(TINY_ENV_ID, **TINY_META, progress_bar=bars),  # type: ignore[arg-type]
        ["sources round 1/2", "sources round 2/2", "mapper round 1/2", "mapper round 2/2",
         "mapper guard (greedy-action agreement)"],
    ),
    "meta_train validation guard": (
        lambda bars: meta_train(
            TINY_ENV_ID, **{**TINY_META, "rounds": 1}, guard="validation", progress_bar=bars  # type: ignore[arg-type]
        ),
        ["sources round 1/1", "mapper round 1/1", "mapper guard (validation tasks)"],
    ),
    "hypernetwork_train": (
        lambda bars: hypernetwork_train(
            TINY_ENV_ID, num_sources=4, chunk_size=2, steps=3, backend="serial", progress_bar=bars
        ),
        ["sources", "hypernetwork fit"],
    ),
    "reptile_train": (
        lambda bars: reptile_train(
            TINY_ENV_ID, iterations=2, meta_batch_size=2, inner_steps=5, progress_bar=bars
        ),
        ["reptile iterations"],
    ),
    "pretrain": (
        lambda bars: pretrain(TINY_ENV_ID, 100, progress_bar=bars),
        ["task-conditioned pretraining"],
    ),
    "pretrain_oracle": (
        lambda bars: pretrain_oracle(
            TINY_ENV_ID, 3, task_ids=list(TINY_FAMILY.train_task_ids[:2]), progress_bar=bars
        ),
        ["Q* of the train tasks", "task-conditioned oracle fit"],
    ),
    "TableBank.build": (
        lambda bars: TableBank.build(TINY_ENV_ID, num_sources=2, progress_bar=bars),
        ["source tables"],
    ),
    "pretrain_bandit": (
        lambda bars: pretrain_bandit(LinUCB, "MetaRecommend-v0", sessions=3, progress_bar=bars),
        ["population sessions"],
    ),
    "run_transfer": (
        lambda bars: run_transfer(
            "scratch", TINY_ENV_ID, HELD_OUT, 0, total_timesteps=60, eval_freq=30, progress_bar=bars
        ),
        [f"evaluation scratch task {HELD_OUT} seed 0"],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    "job",
    [
        pytest.param(j, marks=pytest.mark.slow) if "validation" in j else j  # 79 tasks: 16 s
        for j in JOBS
    ],
)
def test_each_long_job_names_its_phases_on_stderr_only_when_asked(
    job: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run, phases = JOBS[job]
    run(False)
    quiet = capsys.readouterr()
    assert (quiet.out, quiet.err) == ("", "")  # off: not a character
    run(True)
    shown = capsys.readouterr()
    assert shown.out == ""  # bars go to stderr; stdout stays for results
    named = {line.split(":")[0] for line in re.split(r"[\r\n]+", shown.err) if ":" in line}
    assert named >= set(phases), shown.err[-500:]


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "ci", "expected"),
    [(True, None, True), (True, "true", False), (True, "", True), (False, None, False)],
)
def test_bars_by_default_on_a_terminal_outside_ci(
    tty: bool, ci: str | None, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    assert bars_by_default() is expected


def test_write_keeps_lines_on_stdout_whether_bars_show_or_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for enabled in (False, True):
        progress = Progress(enabled)
        with progress.phase("phase", 2) as bar:
            progress.write(f"line {enabled}")
            bar.update(2)
    captured = capsys.readouterr()
    assert captured.out == "line False\nline True\n"
    assert "phase: 100%" in captured.err
    assert captured.err.count("phase:") >= 1


@pytest.mark.parametrize("command", ["meta-train", "train-baseline", "evaluate", "demo"])
def test_every_long_command_takes_the_same_progress_flags(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--progress, --no-progress a progress bar per named phase on stderr" in text


EVALUATE = [
    "evaluate", TINY_ENV_ID, "--methods", "scratch", "--tasks", "1", "--timesteps", "60",
    "--eval-freq", "30",
]  # fmt: skip


@pytest.mark.parametrize(
    ("tty", "ci", "flags", "shown"),
    [
        (True, None, [], True),  # a terminal: on
        (True, "1", [], False),  # CI: off
        (False, None, [], False),  # a pipe or a file: off
        (True, None, ["--no-progress"], False),
        (False, "1", ["--progress"], True),
    ],
)
def test_evaluate_shows_bars_by_terminal_ci_and_flags(
    tty: bool,
    ci: str | None,
    flags: list[str],
    shown: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    assert main([*EVALUATE, *flags]) == 0
    err = capsys.readouterr().err
    assert (f"evaluation scratch task {HELD_OUT} seed 0" in err) is shown


def test_demo_names_its_learning_phase(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--tasks", "1", "--timesteps", "40", "--progress"]) == 0
    captured = capsys.readouterr()
    task = gym_metatasks.family("MetaNav-v0").test_task_ids[0]
    assert f"task {task} (1/1): MetaDQN learning" in captured.err
    assert len(captured.out.splitlines()) == 3  # the header lines and one row, no bar
