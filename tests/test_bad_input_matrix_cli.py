"""Bad command lines: each exits before any work with a message naming the option, the
value and what is allowed, without a traceback and without writing a file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sb3_metadqn.cli import main
from tests.helpers import TINY_ENV_ID

CLI_CASES: list[tuple[str, list[str], str]] = [
    ("mt-source-timesteps-neg", ["meta-train", TINY_ENV_ID, "--source-timesteps", "-5"], r"--source-timesteps: must be a positive int or None, got '-5'"),
    ("mt-source-timesteps-0", ["meta-train", TINY_ENV_ID, "--source-timesteps", "0"], r"--source-timesteps: must be a positive int"),
    ("mt-keep-0", ["meta-train", TINY_ENV_ID, "--keep-sources", "0"], r"--keep-sources: must be a positive int"),
    ("mt-keep-neg", ["meta-train", TINY_ENV_ID, "--keep-sources", "-1"], r"--keep-sources: must be a positive int"),
    ("mt-net-arch-0", ["meta-train", TINY_ENV_ID, "--net-arch", "0"], r"--net-arch: must be an int in \[1, 65536\], got '0'"),
    ("mt-net-arch-neg", ["meta-train", TINY_ENV_ID, "--net-arch", "64", "-5"], r"--net-arch: must be an int in \[1, 65536\], got '-5'"),
    ("mt-seed-neg", ["meta-train", TINY_ENV_ID, "--seed", "-1"], r"--seed: must be an int in \[0, 9223372036854775807\], got '-1'"),
    ("mt-seed-text", ["meta-train", TINY_ENV_ID, "--seed", "abc"], r"--seed: must be an int in"),
    ("mt-workers", ["meta-train", TINY_ENV_ID, "--num-workers", "-2"], r"--num-workers: must be a positive int or None, got '-2'"),
    ("mt-gamma-nan", ["meta-train", TINY_ENV_ID, "--gamma", "nan"], r"--gamma: must be a finite number in \[0, 1\), got 'nan'"),
    ("mt-rounds", ["meta-train", TINY_ENV_ID, "--rounds", "0"], r"--rounds: must be a positive int"),
    ("mt-chunk", ["meta-train", TINY_ENV_ID, "--chunk-size", "1.5"], r"--chunk-size: must be a positive int, got '1.5'"),
    ("mt-mapper-steps", ["meta-train", TINY_ENV_ID, "--mapper-steps", "-1"], r"--mapper-steps: must be an int >= 0"),
    ("mt-mapper-rank", ["meta-train", TINY_ENV_ID, "--mapper-rank", "0"], r"--mapper-rank: must be a positive int"),
    ("mt-mapper-lr", ["meta-train", TINY_ENV_ID, "--mapper-training-learning-rate", "inf"], r"--mapper-training-learning-rate: must be a finite number in \(0, 1\]"),
    ("mt-mapper-beta", ["meta-train", TINY_ENV_ID, "--mapper-training-beta", "-1"], r"--mapper-training-beta: must be a finite number >= 0"),
    ("mt-backend", ["meta-train", TINY_ENV_ID, "--backend", "gpu"], r"--backend: invalid choice"),
    ("mt-num-sources", ["meta-train", TINY_ENV_ID, "--num-sources", "1"], r"num_sources must be >= 2"),
    ("mt-env", ["meta-train", "NoSuch-v0"], r"env_id 'NoSuch-v0' is not registered"),
    ("mt-ray", ["meta-train", TINY_ENV_ID, "--backend", "ray", "--ray-address", "127.0.0.1:1"], r"ray_address='127.0.0.1:1': no Ray cluster answers"),
    ("ev-tasks-neg", ["evaluate", TINY_ENV_ID, "--tasks", "-1"], r"--tasks: must be a positive int, got '-1'"),
    ("ev-tasks-0", ["evaluate", TINY_ENV_ID, "--tasks", "0"], r"--tasks: must be a positive int, got '0'"),
    ("ev-tasks-many", ["evaluate", TINY_ENV_ID, "--tasks", "5000"], r"--tasks must be at most 200"),
    ("ev-seeds-0", ["evaluate", TINY_ENV_ID, "--seeds", "0"], r"--seeds: must be a positive int"),
    ("ev-timesteps", ["evaluate", TINY_ENV_ID, "--timesteps", "-5"], r"--timesteps: must be a positive int"),
    ("ev-eval-freq", ["evaluate", TINY_ENV_ID, "--eval-freq", "0"], r"--eval-freq: must be a positive int"),
    ("ev-eval-episodes", ["evaluate", TINY_ENV_ID, "--eval-episodes", "0"], r"--eval-episodes: must be a positive int"),
    ("ev-threshold-nan", ["evaluate", TINY_ENV_ID, "--threshold", "nan"], r"--threshold: must be a finite number in \[0, 1\], got 'nan'"),
    ("ev-output", ["evaluate", TINY_ENV_ID, "--output", "/proc/no/such/out.json"], r"--output='/proc/no/such' cannot be written"),
    ("ev-task-ids", ["evaluate", TINY_ENV_ID, "--methods", "scratch", "--task-ids", "3", "--timesteps", "10"], r"task_id must be a held-out task"),
    ("ev-artifact", ["evaluate", TINY_ENV_ID, "--artifact", "reptile"], r"--artifact must be METHOD=PATH"),
    ("ev-meta-learner", ["evaluate", TINY_ENV_ID, "--meta-learner", "/nonexistent.safetensors"], r"no artifact at path='/nonexistent.safetensors'"),
    ("tb-seed", ["train-baseline", "reptile", TINY_ENV_ID, "--seed", "-1"], r"--seed: must be an int in"),
    ("tb-iterations", ["train-baseline", "reptile", TINY_ENV_ID, "--set", "iterations=0"], r"--set iterations=0: iterations must be a positive int, got 0"),
    ("tb-net-arch", ["train-baseline", "reptile", TINY_ENV_ID, "--set", "net_arch=[0]"], r"--set net_arch=\[0\]: net_arch\[0\] must be an int in \[1, 65536\]"),
    ("tb-workers", ["train-baseline", "hypernetwork", TINY_ENV_ID, "--set", "num_workers=-2"], r"--set num_workers=-2: num_workers must be a positive int or None"),
    ("tb-unknown", ["train-baseline", "reptile", TINY_ENV_ID, "--set", "itrations=5"], r"--set itrations=5: .* has no option 'itrations'"),
    ("tb-type", ["train-baseline", "reptile", TINY_ENV_ID, "--set", "iterations=\"x\""], r"--set iterations=\"x\": iterations must be int"),
    ("tb-lr", ["train-baseline", "hypernetwork", TINY_ENV_ID, "--set", "learning_rate=NaN"], r"learning_rate"),
    ("demo-tasks", ["demo", "--tasks", "0"], r"--tasks: must be a positive int, got '0'"),
    ("demo-timesteps", ["demo", "--timesteps", "-5"], r"--timesteps: must be an int >= 0, got '-5'"),
    ("info-missing", ["info", "/nonexistent.safetensors"], r"no artifact at path='/nonexistent.safetensors'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "match"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_bad_command_lines_fail_before_any_work_naming_the_option(
    argv: list[str], match: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if argv[0] in ("meta-train", "train-baseline"):
        argv = [*argv, "--output", str(tmp_path / "out.safetensors")]
        if argv[0] == "meta-train":
            argv += ["--checkpoint-dir", str(tmp_path / "ck")]
    with pytest.raises(SystemExit) as info:
        main(argv)
    message = info.value.code if isinstance(info.value.code, str) else capsys.readouterr().err
    assert info.value.code not in (0, None)
    assert re.search(match, message), message
    assert "Traceback" not in message
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
