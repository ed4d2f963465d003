"""The README's shell commands run as written, in order, in a fresh directory.

Every ``metadqn ...`` line of the README's ``bash`` blocks (``make`` lines aside) runs with a
tiny budget appended: options the command documents (``--num-sources``, ``--set KEY=VALUE``,
``--timesteps``, ...), which override the README's values because a later option wins. The
outputs and checkpoint directories each command names must exist afterwards. The default run
calls the command line in this process; a ``slow`` run starts each line in ``bash``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sb3_metadqn.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"

#: Options appended to each README command, by subcommand (and method for train-baseline).
TINY_BUDGETS: dict[tuple[str, ...], list[str]] = {
    ("meta-train",): [
        "--num-sources", "4", "--chunk-size", "2", "--mapper-steps", "4", "--keep-sources", "3",
        "--backend", "serial", "--no-progress",
    ],
    ("info",): [],
    ("evaluate",): [
        "--tasks", "1", "--seeds", "1", "--timesteps", "100", "--eval-freq", "50",
        "--no-progress",
    ],
    ("train-baseline", "reptile"): [
        "--set", "iterations=2", "meta_batch_size=2", "inner_steps=5", "--no-progress",
    ],
    ("train-baseline", "hypernetwork"): [
        "--set", "num_sources=4", "chunk_size=2", "steps=3", "backend=serial", "--no-progress",
    ],
    ("train-baseline", "task-conditioned"): [
        "--set", "total_timesteps=200", "--no-progress",
    ],
    ("train-baseline", "meta-tabular"): ["--set", "num_sources=3", "--no-progress"],
}  # fmt: skip


def readme_commands(text: str) -> list[list[str]]:
    """The argument vectors of the ``metadqn`` and ``python -m`` lines of every ``bash``
    block, in order (``\\`` continuations joined, ``make`` lines left out)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["metadqn"] or words[:2] == ["python", "-m"]:
                commands.append(words)
    return commands


def tiny(words: list[str]) -> list[str]:
    """The command's arguments after ``metadqn`` with its tiny budget appended."""
    if words[:3] == ["python", "-m", "sb3_metadqn"]:
        words = ["metadqn", *words[3:]]
    assert words[0] == "metadqn", f"no tiny budget for {shlex.join(words)}: add one here"
    argv = words[1:]
    key = (argv[0], argv[1]) if argv[0] == "train-baseline" else (argv[0],)
    assert key in TINY_BUDGETS, f"no tiny budget for {shlex.join(words)}: add one here"
    return [*argv, *TINY_BUDGETS[key]]


def named_paths(argv: list[str]) -> list[str]:
    """What the command says it writes: its ``--output`` and ``--checkpoint-dir``."""
    return [
        argv[i + 1] for i, word in enumerate(argv[:-1]) if word in ("--output", "--checkpoint-dir")
    ]


#: The README's RL Zoo commands run by the zoo's own scripts (``python -m sb3_metadqn.zoo``);
#: the others are ``metadqn`` commands.
ZOO = ["python", "-m", "sb3_metadqn.zoo"]
ALL_COMMANDS = readme_commands(README.read_text(encoding="utf-8"))
COMMANDS = [words for words in ALL_COMMANDS if words[:3] != ZOO]
ZOO_COMMANDS = [words for words in ALL_COMMANDS if words[:3] == ZOO]


def test_the_readme_holds_the_command_sequences() -> None:
    subcommands = [c[1] for c in COMMANDS]
    assert subcommands.count("meta-train") == 1
    assert subcommands.count("train-baseline") == 4
    assert subcommands.count("evaluate") == 2
    assert all(c[0] != "make" for c in COMMANDS)


def test_extraction_joins_continuations_and_skips_make_lines() -> None:
    text = (
        "```bash\nmake demo   # set-up\nmetadqn evaluate X --methods a \\\n    b\n```\n"
        "```python\nmetadqn = 1\n```\n```bash\npython -m benchmarks.transfer --env-id X\n```\n"
    )
    assert readme_commands(text) == [
        ["metadqn", "evaluate", "X", "--methods", "a", "b"],
        ["python", "-m", "benchmarks.transfer", "--env-id", "X"],
    ]


def test_checkpoint_directories_are_not_shared_between_commands() -> None:
    """A directory holding another run's configuration is refused, so a sequence run in
    order needs one per command."""
    directories = [
        c[i + 1] for c in COMMANDS for i, w in enumerate(c[:-1]) if w == "--checkpoint-dir"
    ]
    assert directories
    assert len(set(directories)) == len(directories), directories


def test_readme_commands_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for words in COMMANDS:
        argv = tiny(words)
        assert main(argv) == 0, shlex.join(words)
        out = capsys.readouterr().out
        for path in named_paths(argv):
            assert Path(path).exists(), f"{shlex.join(words)} did not write {path}"
        if argv[0] == "info":
            assert out.startswith("kind:")
        if argv[0] == "evaluate":
            assert "mean jumpstart" in out
            assert "nan" not in out


@pytest.mark.slow
def test_readme_commands_run_verbatim_in_bash(tmp_path: Path) -> None:
    """The same sequence through ``bash`` and the installed ``metadqn`` script."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for words in COMMANDS:
        argv = tiny(words)
        line = shlex.join(["metadqn", *argv])
        proc = subprocess.run(
            ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{line}\n{proc.stderr[-2000:]}"
        for path in named_paths(argv):
            assert (tmp_path / path).exists(), f"{line} did not write {path}"


def test_the_readme_holds_the_zoo_commands() -> None:
    scripts = [words[3] for words in ZOO_COMMANDS]
    assert {"train", "enjoy", "record_video"} <= set(scripts)


@pytest.mark.slow
def test_readme_zoo_commands_run_verbatim_in_bash(tmp_path: Path) -> None:
    """The README's zoo block in order, each with a small ``-n`` appended (the zoo's
    argparse keeps the last value)."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SDL_VIDEODRIVER": "dummy",
    }
    env.pop("DISPLAY", None)
    for words in ZOO_COMMANDS:
        line = shlex.join([sys.executable, *words[1:], "-n", "200"])
        proc = subprocess.run(
            ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"{line}\n{proc.stderr[-2000:]}"
    assert list((tmp_path / "logs").rglob("*.zip"))
