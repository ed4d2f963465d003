"""Helpers shared by the test modules: env ids, task choices, tiny trainings, comparisons of
networks and writers of files that loaders must refuse. Fixtures live in ``conftest.py``."""

from __future__ import annotations

import dataclasses
import pickle
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gym_metatasks
from gym_metatasks.envs.grid import MOVES, move
from sb3_metadqn.nets import qnet

ALL_ENV_IDS = gym_metatasks.families()
GRID_ENV_IDS = [i for i in ALL_ENV_IDS if "Nav" in i or "FrozenLake" in i]
PHYSICS_ENV_IDS = [i for i in ALL_ENV_IDS if gym_metatasks.family(i).oracle == "reference"]

#: The family small enough for meta-training in unit tests.
TINY_ENV_ID = "MetaNav5x5-v0"


# ---------------------------------------------------------------------- tasks
def some_task_ids(env_id: str) -> list[int]:
    """The first and last train task and the first and last test task."""
    family = gym_metatasks.family(env_id)
    return [
        family.train_task_ids[0],
        family.train_task_ids[-1],
        family.test_task_ids[0],
        family.test_task_ids[-1],
    ]


def slippery_test_task_ids(family: Any) -> list[int]:
    """Test tasks of a grid family whose moves often go astray (slip > 0.1, or a frozen
    lake's success rate < 0.8): checks on them cover the stochastic dynamics."""
    return [
        t
        for t in family.test_task_ids
        if getattr(family.task(t), "slip", 0.0) > 0.1
        or getattr(family.task(t), "success_rate", 1.0) < 0.8
    ]


def shortest_path_actions(
    size: int, walls: frozenset[tuple[int, int]], goal: tuple[int, int]
) -> tuple[dict[tuple[int, int], int], np.ndarray]:
    """Breadth-first distances to the goal, and an action per cell that shortens it."""
    dist, frontier = {goal: 0}, [goal]
    while frontier:
        nxt = []
        for cell in frontier:
            for a in range(len(MOVES)):
                c = move(cell, a, size, walls)
                if c not in dist:  # moves are reversible: c is one step from cell
                    dist[c] = dist[cell] + 1
                    nxt.append(c)
        frontier = nxt
    actions = np.zeros(size * size, dtype=np.int64)
    for (r, c), d in dist.items():
        for a in range(len(MOVES)):
            if dist.get(move((r, c), a, size, walls), np.inf) == d - 1:
                actions[r * size + c] = a
                break
    return dist, actions


# ---------------------------------------------------------------------- tiny training
def tiny_meta_train(**overrides: object) -> Any:
    """A meta-learner small enough for unit tests (seconds, not minutes)."""
    from sb3_metadqn import meta_train

    kwargs: dict[str, object] = {
        "num_sources": 8,
        "rounds": 2,
        "chunk_size": 4,
        "source_timesteps": 100,
        "mapper_steps": 20,
        "keep_sources": 6,
        "backend": "serial",
        "seed": 0,
    }
    kwargs.update(overrides)
    return meta_train(TINY_ENV_ID, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- comparisons
def layers_equal(a: qnet.Layers, b: qnet.Layers) -> bool:
    """Two networks (``[(W, b), ...]``) hold exactly the same parameters."""
    return all(
        torch.equal(w1, w2) and torch.equal(b1, b2) for (w1, b1), (w2, b2) in zip(a, b, strict=True)
    )


def tensors_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Two name-to-tensor mappings (state dicts, artifact tensors) are exactly the same:
    the same names, and every tensor equal."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------- files
def write_pickle_bomb(path: Path) -> Path:
    """A pickle at ``path`` that fails the test if anything unpickles it (loaders must
    refuse pickles without loading them)."""

    class Bomb:
        def __reduce__(self) -> Any:
            return (pytest.fail, ("the file was deserialized",))

    path.write_bytes(pickle.dumps(Bomb()))
    return path


# ---------------------------------------------------------------------- probe transitions
def random_transitions(env: Any, steps: int, seed: int) -> dict[str, torch.Tensor]:
    """``steps`` random-action transitions of a one-hot grid env (reset when an episode
    ends), in the form ``initial_parameters(..., transitions=)`` takes."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {k: [] for k in ("obs", "action", "reward", "next_obs", "done")}
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        action = int(rng.integers(env.action_space.n))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(rows, (obs, action, reward, next_obs, terminated), strict=True):
            rows[key].append(value)
        obs = env.reset()[0] if terminated or truncated else next_obs
    return {
        "obs": torch.as_tensor(np.array(rows["obs"], dtype=np.float32)),
        "action": torch.as_tensor(np.array(rows["action"])),
        "reward": torch.as_tensor(np.array(rows["reward"], dtype=np.float32)),
        "next_obs": torch.as_tensor(np.array(rows["next_obs"], dtype=np.float32)),
        "terminated": torch.as_tensor(np.array(rows["done"], dtype=np.float32)),
    }


def td_error(layers: qnet.Layers, transitions: dict[str, torch.Tensor], gamma: float) -> float:
    """Mean squared one-step TD error of a ReLU MLP on transitions, its own max as the
    target: written out here, apart from the package's batched forward pass."""

    def q(obs: torch.Tensor) -> torch.Tensor:
        for k, (w, b) in enumerate(layers):
            obs = obs @ w.T + b
            if k < len(layers) - 1:
                obs = torch.relu(obs)
        return obs

    with torch.no_grad():
        q_sa = q(transitions["obs"])[
            torch.arange(len(transitions["action"])), transitions["action"]
        ]
        best_next = q(transitions["next_obs"]).max(dim=1).values
        target = transitions["reward"] + gamma * (1.0 - transitions["terminated"]) * best_next
        return float(((q_sa - target) ** 2).mean())


# ---------------------------------------------------------------------- processes
def slow_train_sources(job: Any) -> Any:
    """``train_sources``, then a 60 s sleep unless the job starts with the task named by the
    environment variable ``FAST_TASK``: a run with this job function has its first chunk on
    disk within seconds and then stays busy, so a test can interrupt it mid-run."""
    import os
    import time

    from sb3_metadqn.core.source_training import train_sources

    result = train_sources(job)
    if str(job.task_ids[0]) != os.environ.get("FAST_TASK"):
        time.sleep(60)
    return result


def descendants(pid: int) -> set[int]:
    """The ids of every process descended from ``pid`` (read from ``/proc``, Linux)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        children = parents.get(frontier.pop(), [])
        found.update(children)
        frontier.extend(children)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` that still run (zombies, waiting to be reaped, do not count)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            running.add(pid)
    return running


def write_unchecked(path: Path, tensors: dict[str, torch.Tensor], document: dict[str, Any]) -> Path:
    """An artifact written as another program could write it: the package's format, but
    none of the checks its writer makes (a NaN tensor, a NaN in the document) - what readers
    must refuse."""
    import json

    from safetensors.torch import save

    from sb3_metadqn.io import artifacts

    header = {"format": artifacts.FORMAT, "format_version": artifacts.FORMAT_VERSION, **document}
    contiguous = {name: t.contiguous() for name, t in tensors.items()}
    path.write_bytes(save(contiguous, metadata={artifacts.METADATA_KEY: json.dumps(header)}))
    return path


# ---------------------------------------------------------------------- bad input
#: The package's own code, where a deliberate check raises.
PACKAGES = ("gym_metatasks", "sb3_metadqn")
#: Files a bad-input case may write itself before the call under test.
CASE_FILES = ("bad.safetensors", "m.safetensors", "bomb.pkl", "config.json")


@dataclasses.dataclass(frozen=True)
class BadInput:
    """A call that must fail: ``call(tmp_path)`` raises ``error`` whose message matches
    ``match`` (which names the parameter or the file)."""

    id: str
    call: Callable[[Path], Any]
    error: type[BaseException]
    match: str


def bad_inputs(
    prefix: str, call: Callable[[Path, Any], Any], table: list[tuple[Any, type[BaseException], str]]
) -> list[BadInput]:
    """One case per ``(value, error, match)`` row, calling ``call(tmp_path, value)``."""
    return [
        BadInput(f"{prefix}-{k}", lambda p, v=value, c=call: c(p, v), error, match)
        for k, (value, error, match) in enumerate(table)
    ]


def raised_by_package(error: BaseException | None) -> bool:
    """Whether ``error``, or the error it was raised from (Gymnasium re-raises the errors of
    an env's constructor with their message), was raised by the package's own code on
    purpose: its innermost frame is in ``gym_metatasks`` or ``sb3_metadqn``, not in NumPy,
    torch, the standard library or SB3."""
    while error is not None:
        frames = traceback.extract_tb(error.__traceback__)
        if frames and any(f"/{package}/" in frames[-1].filename for package in PACKAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


def check_bad_input(bad: BadInput, tmp_path: Path) -> None:
    """Run a case: the error, its message, where it was raised, and no file left behind."""
    with pytest.raises(bad.error) as info:
        bad.call(tmp_path)
    assert re.search(bad.match, str(info.value)), str(info.value)
    assert raised_by_package(info.value), traceback.format_exception(info.value)[-3:]
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in CASE_FILES]
    assert leftovers == []
