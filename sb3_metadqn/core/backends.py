"""Where source-training jobs run: in this process, on a local process pool, or on Ray.

Every backend yields ``(job_index, result)`` pairs as jobs finish, so the caller can
checkpoint each one at once. Workers run torch with one thread, which makes a job's result
independent of the backend that ran it.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Literal, Protocol, get_args

import torch

BackendName = Literal["local", "serial", "ray"]
BACKENDS: tuple[str, ...] = get_args(BackendName)


class Backend(Protocol):
    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Run ``fn(job)`` for every job; yield ``(index, result)`` in completion order."""
        ...

    def close(self) -> None: ...


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

    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.num_workers, mp_context=context)
        pending: dict[Future[Any], int] = {
            self._pool.submit(_single_threaded, fn, job): index for index, job in enumerate(jobs)
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


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


def make_backend(name: str, num_workers: int | None = None, address: str | None = None) -> Backend:
    """A backend by name (``"local"``, ``"serial"`` or ``"ray"``)."""
    if name == "local":
        return LocalBackend(num_workers)
    if name == "serial":
        return SerialBackend()
    if name == "ray":
        return RayBackend(address, num_workers)
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
