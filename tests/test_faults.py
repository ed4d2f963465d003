"""Faults: a killed or terminated meta-training run leaves no process behind and resumes
bit-identically; a pool worker whose parent dies ends; an unreachable Ray address fails fast."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import gym_metatasks
from sb3_metadqn.core.backends import check_ray_address
from tests.helpers import TINY_ENV_ID, alive, descendants, tensors_equal, tiny_meta_train

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
ROOT = Path(__file__).parents[1]
#: ``tiny_meta_train``'s settings as ``metadqn meta-train`` options.
TINY_OPTIONS = [
    "--num-sources", "8", "--rounds", "2", "--chunk-size", "4", "--source-timesteps", "100",
    "--mapper-steps", "20", "--keep-sources", "6", "--seed", "0",
]  # fmt: skip


def _start_meta_train(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``metadqn meta-train`` on a 2-worker pool whose jobs after the first sleep a minute;
    returns once the first chunk is on disk and both workers run."""
    checkpoint = tmp_path / "ck"
    script = (
        "import sys, sb3_metadqn.core.source_chunks as chunks, tests.helpers as h\n"
        "chunks.train_sources = h.slow_train_sources\n"
        "from sb3_metadqn.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    family = gym_metatasks.family(TINY_ENV_ID)
    first = int(family.sample_task_ids(8, split="train", rng=0)[0])
    argv = [
        *("meta-train", TINY_ENV_ID, "--output", str(tmp_path / "out.safetensors")),
        *("--checkpoint-dir", str(checkpoint), "--backend", "local", "--num-workers", "2"),
        *("--no-progress", *TINY_OPTIONS),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *argv],
        cwd=ROOT,
        env={**os.environ, "FAST_TASK": str(first)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    chunk = checkpoint / "sources" / "round000_chunk0000.safetensors"
    while time.monotonic() < deadline and not (chunk.exists() and len(descendants(proc.pid)) >= 2):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.2)
    assert chunk.exists(), "the first chunk never reached the checkpoint"
    time.sleep(1.0)  # round 1's job is running in a worker now
    return proc, checkpoint


def _is_resource_tracker(pid: int) -> bool:
    """Whether ``pid`` is multiprocessing's resource tracker (it lives as long as the
    process that started it; the tests here run inside that process)."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _wait_gone(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_or_terminated_meta_train_leaves_no_process_and_resumes_bit_identically(
    tmp_path: Path, tiny_learner: Any, sig: signal.Signals
) -> None:
    proc, checkpoint = _start_meta_train(tmp_path)
    family_tree = descendants(proc.pid)
    assert len(alive(family_tree)) >= 2  # the pool's workers (and the resource tracker)
    os.kill(proc.pid, sig)
    _, stderr_bytes = proc.communicate(timeout=30)
    assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 128 + signal.SIGTERM)
    assert _wait_gone(family_tree, 10) == set()
    if sig == signal.SIGTERM:
        stderr = stderr_bytes.decode()
        assert "terminated by SIGTERM" in stderr
        assert "Traceback" not in stderr
    assert not list(checkpoint.rglob("*.tmp"))
    assert not (tmp_path / "out.safetensors").exists()
    resumed = tiny_meta_train(checkpoint_dir=checkpoint)
    assert resumed.source_task_ids == tiny_learner.source_task_ids
    assert tensors_equal(resumed.tensors(), tiny_learner.tensors())


def test_pool_workers_end_when_the_process_that_started_them_is_killed(tmp_path: Path) -> None:
    """A process runs a job on a local pool and is SIGKILLed: its worker does not outlive it."""
    started = tmp_path / "started"  # made by the worker's first job: its setup has run
    script = (
        "import os, sys, time\n"
        "from sb3_metadqn.core.backends import LocalBackend\n"
        "backend = LocalBackend(1)\n"
        f"for _ in backend.run(os.mkdir, [{str(started)!r}]): pass\n"
        "for _ in backend.run(time.sleep, [60]): pass\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not started.exists():
        time.sleep(0.1)
    assert started.exists()
    time.sleep(0.5)
    workers = descendants(proc.pid)
    assert workers
    proc.kill()
    proc.wait()
    assert _wait_gone(workers, 10) == set()


@pytest.mark.slow
def test_closing_a_pool_with_a_running_job_ends_its_worker_at_once() -> None:
    from sb3_metadqn.core.backends import LocalBackend

    before = descendants(os.getpid())
    backend = LocalBackend(1)
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            list(backend.run(time.sleep, [60]))
        except Exception as error:
            errors.append(error)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not descendants(os.getpid()) - before:
        time.sleep(0.1)
    time.sleep(0.5)
    workers = {p for p in descendants(os.getpid()) - before if not _is_resource_tracker(p)}
    assert workers
    start = time.monotonic()
    backend.close()
    assert time.monotonic() - start < 10
    thread.join(10)
    assert errors  # the job did not finish: its worker was ended
    assert _wait_gone(workers, 10) == set()


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_an_unreachable_ray_address_fails_fast_naming_it(address: str) -> None:
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=rf"ray_address='{address}': no Ray cluster"):
        check_ray_address(address, timeout=2.0)
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("address", ["localhost", "host:port", ":80", "1.2.3.4:70000"])
def test_a_malformed_ray_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="ray_address must be 'host:port'"):
        check_ray_address(address)
