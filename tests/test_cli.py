"""The ``metadqn`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import signal
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stable_baselines3 import DQN

import gym_metatasks
import sb3_metadqn
from sb3_metadqn import (
    MetaDQN,
    MetaLearner,
    MetaTrainConfig,
    TableBank,
    TabularQLearning,
    meta_train,
    pretrained,
)
from sb3_metadqn.agents.metadqn import FAMILY_PROBE
from sb3_metadqn.cli import Terminated, _on_sigterm, _parser, main
from sb3_metadqn.cli_evaluate import summary_line
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
    assert main(["info", str(out), "--json"]) == 0
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


def test_info_reads_every_registered_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    family = gym_metatasks.family(TINY_ENV_ID)
    bank = TableBank.build(TINY_ENV_ID, num_sources=2, seed=0)
    bank.save(tmp_path / "bank.safetensors")
    model = TabularQLearning("TabularPolicy", family.make(family.test_task_ids[0]), seed=0)
    model.learn(50)
    model.save(tmp_path / "tabular.safetensors")
    expected = {
        "bank.safetensors": ("table-bank", {"sources": 2}),
        "tabular.safetensors": ("tabular-q-learning", {"num_timesteps": 50}),
    }
    for name, (kind, fields) in expected.items():
        assert main(["info", str(tmp_path / name), "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert info["kind"] == kind
        assert {k: info[k] for k in fields} == fields


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


def _help_blocks(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """``--flag -> its help text`` (whitespace collapsed) of ``metadqn ARGV --help``."""
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out.split("options:", 1)[1]
    blocks = re.split(r"\n  (?=-)", text)
    return {block.split()[0].rstrip(","): " ".join(block.split()) for block in blocks[1:]}


def _fields(cls: type[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """(flag name, default) of every field, nested configs' fields under their field name."""
    out = []
    for field in dataclasses.fields(cls):
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            continue  # env_id, the positional argument
        default = (
            field.default if field.default is not dataclasses.MISSING else field.default_factory()
        )
        if dataclasses.is_dataclass(default):
            out += _fields(type(default), f"{prefix}{field.name}_")
        else:
            out.append((prefix + field.name, default))
    return out


def _spelt(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(map(str, value))
    return json.dumps(value) if isinstance(value, dict) else str(value)


def test_meta_train_help_documents_every_config_field_with_its_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = _help_blocks(["meta-train"], capsys, monkeypatch)
    fields = _fields(MetaTrainConfig)
    assert len(fields) >= 25  # MetaTrainConfig's own fields and the mapping network's
    for name, default in fields:
        flag = "--" + name.replace("_", "-")
        assert flag in blocks, f"{flag} missing from metadqn meta-train --help"
        block = blocks[flag]
        assert block.endswith(f"(default: {_spelt(default)})"), block
        words = block.split("(default:")[0].split()
        assert [w for w in words if not w.startswith("--") and not w.isupper()], block  # help


def test_meta_train_help_documents_the_run_arguments_of_meta_train(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = _help_blocks(["meta-train"], capsys, monkeypatch)
    config = {f.name for f in dataclasses.fields(MetaTrainConfig)}
    run = [
        p for p in meta_train.__code__.co_varnames[: meta_train.__code__.co_kwonlyargcount + 1]
        if p not in config and p != "verbose"
    ]  # fmt: skip
    assert run == ["backend", "num_workers", "ray_address", "checkpoint_dir", "progress_bar"]
    for name in run[:-1]:
        assert "(default: " in blocks["--" + name.replace("_", "-")]
    # progress_bar is the command's --progress/--no-progress, shared with every long command
    assert "--progress-bar" not in blocks
    assert "on when stderr is a terminal" in blocks["--progress"]


def test_train_baseline_help_lists_each_methods_set_keys(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        main(["train-baseline", "--help"])
    epilog = " ".join(capsys.readouterr().out.split("--set keys of each method:")[1].split())
    assert "reptile: iterations, meta_batch_size, inner_method," in epilog
    assert "meta-tabular: num_sources, method, timesteps," in epilog


@pytest.mark.parametrize(
    ("setting", "match"),
    [
        ("iteratons=5", r"--set iteratons=5: method 'reptile' has no option 'iteratons'; allowed: iterations, "),
        ("iterations=five", r'--set iterations="five": iterations must be int'),
        ("inner_method=sgd", r"--set inner_method=\"sgd\": inner_method must be one of 'auto', 'oracle', 'dqn'"),
        ("net_arch=[64,0.5]", r"--set net_arch=\[64, 0.5\]: net_arch must be a list of int"),
    ],
)  # fmt: skip
def test_train_baseline_refuses_a_bad_set_key_before_writing_anything(
    tmp_path: Path, setting: str, match: str
) -> None:
    argv = [
        "train-baseline", "reptile", TINY_ENV_ID, "--output", str(tmp_path / "out" / "r.safetensors"),
        "--checkpoint-dir", str(tmp_path / "ck"), "--set", "iterations=1", setting,
    ]  # fmt: skip
    with pytest.raises(SystemExit, match=match):
        main(argv)
    assert list(tmp_path.iterdir()) == []


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


@pytest.mark.parametrize(
    ("argv", "env_id", "tasks"),
    [([], "MetaNav-v0", 2), (["MetaFrozenLake-v0"], "MetaFrozenLake-v0", 3)],
)
def test_demo_prints_each_test_tasks_source_and_scores(
    argv: list[str], env_id: str, tasks: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first command (``make demo`` runs ``metadqn demo``) on a tiny budget:
    a row per held-out task whose numbers are recomputed here through another path (the
    exact return of each model's greedy policy by ``family.policy_return``). On the
    default MetaNav-v0 the warm start is already optimal; on the third MetaFrozenLake-v0
    task the 200 steps move the score, so the last column is told apart from the start."""
    timesteps = 200
    assert main(["demo", *argv, "--tasks", str(tasks), "--timesteps", str(timesteps)]) == 0
    header, columns, *rows = capsys.readouterr().out.splitlines()
    assert header == (
        f"MetaDQN on {env_id}: held-out test tasks, greedy normalized return (1 = optimal)"
    )
    assert columns.split() == ["task", "source", "DQN", "init", "MetaDQN", "init", "after", "200"]

    family = gym_metatasks.family(env_id)
    learner = pretrained.load(env_id)

    def score(task_id: int, model: Any) -> float:
        return float(family.normalized_return(task_id, family.policy_return(task_id, model)))

    assert [int(row.split()[0]) for row in rows] == list(family.test_task_ids[:tasks])
    for row in rows:
        task, source, dqn_init, metadqn_init, after = row.split()
        task_id = int(task)
        distances = np.linalg.norm(
            learner.source_descriptors.numpy() - family.descriptor(task_id), axis=1
        )
        nearest = [learner.source_task_ids[j] for j in np.argsort(distances, kind="stable")]
        start = MetaDQN("MlpPolicy", family.make(task_id), seed=0).meta_init
        assert start is not None
        assert int(source) == start["source_task_id"]
        k, _ = FAMILY_PROBE.get(env_id, (1, 0))  # the family's probe picks among its k nearest
        assert int(source) in nearest[:k]
        assert float(dqn_init) == pytest.approx(
            score(task_id, DQN("MlpPolicy", family.make(task_id), seed=0)), abs=5e-4
        )
        assert float(metadqn_init) == pytest.approx(
            score(task_id, MetaDQN("MlpPolicy", family.make(task_id), seed=0)), abs=5e-4
        )
        trained = MetaDQN("MlpPolicy", family.make(task_id), seed=0).learn(timesteps)
        assert float(after) == pytest.approx(score(task_id, trained), abs=5e-4)


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [("--tasks", "0", "a positive int"), ("--tasks", "two", "a positive int"),
     ("--timesteps", "-5", "an int >= 0"), ("--timesteps", "1e3", "an int >= 0")],
)  # fmt: skip
def test_demo_refuses_bad_budgets_naming_the_option(
    option: str, value: str, allowed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", option, value])
    assert exit_info.value.code == 2  # argparse's usage error, before any work
    err = capsys.readouterr().err
    assert f"metadqn demo: error: argument {option}: must be {allowed}, got {value!r}" in err


# ---------------------------------------------------------------------- discoverability
ROOT = Path(__file__).resolve().parent.parent
#: ``metadqn SUBCOMMAND ...`` (not the zoo's ``--algo metadqn``, an algorithm name)
MENTION = re.compile(r"(?<![\w.-])(?<!--algo )metadqn ((?:--)?[a-z][a-z-]*)([^`'\"\n]*)")


def _subcommands() -> dict[str, Any]:
    parser = _parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"": parser, **sub.choices}


def _mentions() -> list[tuple[str, str, list[str]]]:
    """(where, subcommand, flags) of every ``metadqn SUBCOMMAND ... --flag`` in the package's
    messages and docstrings, the README and the Makefile."""
    files = [*sorted((ROOT / "sb3_metadqn").rglob("*.py")), ROOT / "README.md", ROOT / "Makefile"]
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in MENTION.finditer(line):
                word, rest = match.groups()
                flags = re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest)
                if word.startswith("--"):
                    word, flags = "", [word, *flags]
                found.append((f"{path.relative_to(ROOT)}:{number}", word, flags))
    return found


def test_every_command_and_option_a_message_or_doc_names_exists() -> None:
    commands = _subcommands()
    mentions = _mentions()
    assert len(mentions) > 30
    assert any(word == "demo" and "--meta-learner" in flags for _, word, flags in mentions)
    for where, word, flags in mentions:
        assert word in commands, f"{where}: metadqn {word} is no command"
        known = set(commands[word]._option_string_actions) | {"--version"}
        unknown = [f for f in flags if f not in known]
        assert not unknown, f"{where}: metadqn {word} has no option {unknown}"


def test_version_names_the_package_and_the_libraries_results_depend_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"metadqn {sb3_metadqn.__version__} (")
    for name in ("gymnasium", "stable-baselines3", "torch", "numpy"):
        assert f"{name} {metadata.version(name)}" in line
    assert f"gym_metatasks {gym_metatasks.__version__}" in line


def test_info_takes_a_family_id_for_its_embedded_meta_learner(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = (ROOT / "sb3_metadqn" / "pretrained" / "MetaNav-v0.safetensors").read_bytes()
    learner = pretrained.load("MetaNav-v0")
    assert main(["info", "MetaNav-v0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(learner.info()))
    assert main(["info", "MetaNav-v0"]) == 0
    text = capsys.readouterr().out
    lines = dict(line.split(":", 1) for line in text.splitlines())
    assert len(text.splitlines()) < 30  # a summary, not the record
    assert lines["kind"].strip() == "meta-learner"
    assert lines["family"].strip() == "MetaNav-v0 (MetaNav-v0[size=8])"
    assert lines["file"].strip() == (
        f"embedded meta-learner MetaNav-v0, {len(data):,} bytes, sha256 "
        f"{hashlib.sha256(data).hexdigest()}"
    )
    training = learner.training
    assert lines["sources"].strip() == (
        f"{learner.num_sources} kept of {training['bank_sources']} trained"
    )
    figures = training["mapper_selection"]
    assert lines["mapper guard"].strip() == (
        f"greedy-action agreement over bank pairs: fitted {figures['fitted_agreement']:.3f}, "
        f"identity {figures['identity_agreement']:.3f}; kept {figures['kept']}"
    )
    assert (
        lines["meta-training"]
        .strip()
        .startswith(f"{training['cost']['core_seconds']:,.1f} core-seconds (mapper ")
    )
    assert lines["command"].strip() == training["command"]


@pytest.mark.parametrize(
    ("env_id", "measured"),
    [
        ("MetaCartPole-v0", "40 tasks x 5 episodes"),  # sampled episodes, no probe
        ("MetaRecommend-v0", "80 tasks, exact; probe 10 sources x 3 episodes"),
    ],
)
def test_info_of_a_validation_guarded_learner_states_its_validation_figures(
    env_id: str, measured: str, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = pretrained.load(env_id).training["mapper_selection"]
    assert main(["info", env_id]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("mapper guard:")]
    assert (
        f"validation return (normalized, {measured}): fitted {figures['fitted_return']:.3f}, "
        f"identity {figures['identity_return']:.3f}; kept {figures['kept']}"
    ) in line


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ("MetaNav5x5-v0", r"no embedded meta-learner for MetaNav5x5-v0; embedded: \[.*"
         r"'MetaNav-v0'.*\]; pass the path of an artifact instead"),
        ("nav.safetensors", r"no artifact at path='nav.safetensors'; a family id names its "
         r"embedded meta-learner \(MetaAcrobot-v0, .*MetaNav-v0"),
    ],
)  # fmt: skip
def test_info_of_an_unknown_target_says_what_it_takes(target: str, match: str) -> None:
    with pytest.raises(SystemExit, match="metadqn info: error: " + match):
        main(["info", target])


def test_demo_without_an_embedded_learner_points_at_its_own_option(
    tiny_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", TINY_ENV_ID, "--tasks", "1", "--timesteps", "0"])
    message = str(exit_info.value.code)
    assert message.startswith(f"metadqn demo: error: no embedded meta-learner for {TINY_ENV_ID}")
    assert message.endswith("pass --meta-learner ml.safetensors")
    argv = ["demo", TINY_ENV_ID, "--tasks", "1", "--timesteps", "0"]
    assert main([*argv, "--meta-learner", str(tiny_artifact)]) == 0  # the hint works
    row = capsys.readouterr().out.splitlines()[2].split()
    learner = MetaLearner.load(tiny_artifact)
    assert int(row[1]) in learner.source_task_ids


def test_evaluate_without_an_embedded_learner_points_at_meta_learner() -> None:
    with pytest.raises(SystemExit, match=r"metadqn evaluate: error: .*--meta-learner"):
        main(["evaluate", TINY_ENV_ID, "--methods", "metadqn", "--tasks", "1"])


def _rows(steps: list[int | None]) -> list[dict[str, Any]]:
    return [
        {"jumpstart": 0.5, "steps_to_threshold": s, "meta_training_core_seconds": 12.0}
        for s in steps
    ]


def test_evaluate_summary_never_prints_nan() -> None:
    assert summary_line("scratch", _rows([None, None, None]), 0.9) == (
        "scratch: mean jumpstart 0.500; 0.9 not reached in 3 runs; meta-training 12 core-s"
    )
    assert summary_line("metadqn", _rows([100, None, 300, 500]), 0.9) == (
        "metadqn: mean jumpstart 0.500; reached 0.9 in 3/4 runs, median 300 steps; "
        "meta-training 12 core-s"
    )


def test_evaluate_prints_not_reached_when_no_run_reaches_the_threshold(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [
        "evaluate", TINY_ENV_ID, "--methods", "scratch", "--tasks", "2", "--timesteps", "20",
        "--eval-freq", "10", "--threshold", "1.0", "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "nan" not in out
    assert out.splitlines()[-1].startswith("scratch: mean jumpstart ")
    assert "1.0 not reached in 2 runs" in out.splitlines()[-1]


def test_train_baseline_set_is_repeatable_and_a_later_key_wins() -> None:
    args = _parser().parse_args(
        ["train-baseline", "reptile", TINY_ENV_ID, "--output", "r.safetensors",
         "--set", "iterations=500", "inner_steps=5", "--set", "iterations=2"]
    )  # fmt: skip
    assert args.set == ["iterations=500", "inner_steps=5", "iterations=2"]


@pytest.mark.parametrize("command", ["meta-train", "train-baseline", "evaluate", "demo", "info"])
def test_the_sigterm_message_names_checkpoint_dir_only_for_commands_that_take_it(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are set in the main thread only")
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(Terminated):
            _on_sigterm(command)(signal.SIGTERM, None)
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err
    assert err.startswith(f"metadqn {command}: terminated by SIGTERM")
    takes_it = "--checkpoint-dir" in _subcommands()[command]._option_string_actions
    assert ("--checkpoint-dir" in err) is takes_it


def test_info_counts_the_sources_left_out_by_each_test() -> None:
    from sb3_metadqn.cli_info import summary

    record = {"bank_sources": 16, "sources_below_min_return": 2, "sources_above_q_limit": 1}
    info = {"kind": "meta-learner", "env_id": "MetaMountainCar-v0", "sources": 13}
    lines = summary({**info, "training": record}, "mc.safetensors", b"")
    (line,) = [x for x in lines if x.startswith("sources:")]
    assert line.split(":", 1)[1].strip() == (
        "13 kept of 16 trained (2 below min_source_return, 1 above source_q_limit)"
    )
