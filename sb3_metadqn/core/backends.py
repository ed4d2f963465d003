"""Where source-training jobs run: in this process, on a local process pool, or on Ray.

Every backend yields ``(job_index, result)`` pairs as jobs finish, so the caller can
checkpoint each one at once. Workers run torch with one thread, which makes a job's result
independent of the backend that ran it. Pool workers die with the process that started them
(even one killed by SIGKILL), and closing a pool whose jobs are still running ends them.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Literal, Protocol, get_args

import torch

from sb3_metadqn._checks import check_value

BackendName = Literal["local", "serial", "ray"]
BACKENDS: tuple[str, ...] = get_args(BackendName)


class Backend(Protocol):
    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Run ``fn(job)`` for every job; yield ``(index, result)`` in completion order."""
        ...

    def close(self) -> None: ...


#: Seconds between a pool worker's checks that the process that started it is alive.
PARENT_CHECK_SECONDS = 0.5
#: Seconds to wait for a Ray cluster's address to accept a connection.
RAY_CONNECT_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Pool worker initializer: end this worker when ``parent_pid`` is gone.

    On Linux the kernel sends SIGKILL when the parent exits (``PR_SET_PDEATHSIG``); a
    daemon thread that polls the parent's id covers the other systems and the moment
    before the request took effect.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _single_threaded(fn: Callable[[Any], Any], job: Any) -> Any:
    torch.set_num_threads(1)
    return fn(job)


class SerialBackend:
    """Jobs one after another in this process (torch limited to one thread meanwhile)."""

    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        threads = torch.get_num_threads()
        for index, job in enumerate(jobs):
            try:
                result = _single_threaded(fn, job)
            finally:
                torch.set_num_threads(threads)
            yield index, result

    def close(self) -> None:
        pass


class LocalBackend:
    """A pool of ``num_workers`` spawned processes (default: the machine's cores)."""

    def __init__(self, num_workers: int | None = None) -> None:
        self.num_workers = num_workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._futures: set[Future[Any]] = set()

    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.num_workers,
                mp_context=context,
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )
        pending: dict[Future[Any], int] = {
            self._pool.submit(_single_threaded, fn, job): index for index, job in enumerate(jobs)
        }
        self._futures.update(pending)
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    self._futures.discard(future)
                    yield pending.pop(future), future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Shut the pool down; workers still running a job (the run was interrupted) are
        terminated instead of finishing it."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        busy = any(not future.done() for future in self._futures)
        self._futures.clear()
        if busy:
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            for process in processes:
                process.join()
        pool.shutdown(wait=True, cancel_futures=True)


class RayBackend:
    """Ray tasks of one CPU each: a local Ray (``address=None``) or an existing cluster.

    Needs the ``ray`` extra (``pip install "sb3-metadqn[ray]"``).
    """

    def __init__(self, address: str | None = None, num_workers: int | None = None) -> None:
        try:
            import ray
        except ImportError as error:
            raise ImportError(
                "backend='ray' needs Ray: pip install \"sb3-metadqn[ray]\""
            ) from error
        self._ray = ray
        if not ray.is_initialized():
            if address is None:
                ray.init(num_cpus=num_workers, include_dashboard=False, log_to_driver=False)
            else:
                check_ray_address(address)
                ray.init(address=address, log_to_driver=False)
        self._remote = ray.remote(num_cpus=1)(_single_threaded)

    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        refs = {self._remote.remote(fn, job): index for index, job in enumerate(jobs)}
        try:
            while refs:
                done, _ = self._ray.wait(list(refs), num_returns=1)
                for ref in done:
                    yield refs.pop(ref), self._ray.get(ref)
        finally:
            for ref in refs:
                self._ray.cancel(ref)

    def close(self) -> None:
        pass


def check_ray_address(address: str, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """Check that a ``host:port`` Ray address (``ray://`` prefix allowed; ``"auto"`` is
    left to Ray) accepts a connection within ``timeout`` seconds: Ray itself retries an
    unreachable address for a long time.

    :raises ConnectionError: naming ``ray_address``, the address and the reason
    """
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"ray_address must be 'host:port' (or 'ray://host:port', 'auto'), got {address!r}"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConnectionError(
            f"ray_address={address!r}: no Ray cluster answers there within {timeout:g} s "
            f"({error}); start one with 'ray start --head' or leave ray_address unset for a "
            "local Ray"
        ) from error


def check_backend(name: Any, num_workers: Any = None, address: Any = None) -> None:
    """Check a backend's arguments before any work (a Ray address is tried when used).

    :raises ValueError: naming the argument, the value and what is allowed
    """
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    check_value("num_workers", num_workers)
    if address is not None and not isinstance(address, str):
        raise ValueError(f"ray_address must be a 'host:port' string or None, got {address!r}")
    if name == "ray" and address is not None:
        check_ray_address(address)


def make_backend(name: str, num_workers: int | None = None, address: str | None = None) -> Backend:
    """A backend by name (``"local"``, ``"serial"`` or ``"ray"``)."""
    check_backend(name, num_workers, address)
    if name == "local":
        return LocalBackend(num_workers)
    if name == "serial":
        return SerialBackend()
    if name == "ray":
        return RayBackend(address, num_workers)
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
