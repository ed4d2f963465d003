"""Training checkpoints: one directory per run, resumed by a rerun with the same configuration.

A :class:`Checkpoint` holds the run's ``config.json`` (a directory holding another
configuration is refused) and named states, each one safetensors artifact written
atomically (:mod:`sb3_metadqn.io.artifacts`). Meta-training, Reptile, the hypernetwork and
both task-conditioned pretrainings (on rewards and on Q*) all checkpoint this way; :class:`PeriodicCheckpoint` saves
from inside an SB3 ``learn`` call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback

from gym_metatasks.atomic_io import write_atomic
from sb3_metadqn.io import artifacts

Tensors = dict[str, torch.Tensor]


class Checkpoint:
    """The checkpoint directory of a run (or nothing, for ``directory=None``: every save is
    skipped and every load finds nothing).

    :param directory: where to keep it; created, and checked to be writable, at once
    :param config: the run's configuration; a directory holding another one is refused
    :raises ValueError: naming the configuration keys that differ
    """

    def __init__(self, directory: Path | None, config: dict[str, Any]) -> None:
        self.directory = directory
        if directory is None:
            return
        artifacts.ensure_writable_directory(directory, "checkpoint_dir")
        config_path = directory / "config.json"
        text = json.dumps(config, sort_keys=True, indent=1)
        if config_path.exists():
            saved = _read_config(config_path)
            wanted = json.loads(text)
            if saved != wanted:
                differing = sorted(k for k in {*saved, *wanted} if saved.get(k) != wanted.get(k))
                raise ValueError(
                    f"checkpoint_dir={str(directory)!r} holds a run with another configuration "
                    f"(differs in {differing}); use a new directory"
                )
        else:
            write_atomic(config_path, text)

    def path(self, name: str) -> Path:
        """The file of the state called ``name``."""
        assert self.directory is not None
        return self.directory / f"{name}.safetensors"

    def save(self, name: str, tensors: Tensors, document: dict[str, Any]) -> None:
        """Write the state ``name`` atomically (nothing without a directory)."""
        if self.directory is not None:
            artifacts.write(self.path(name), tensors, document)

    def load(self, name: str, kind: str | None = None) -> tuple[Tensors, dict[str, Any]] | None:
        """The state ``name`` (None: no directory, or not saved yet).

        :param kind: the document's ``kind`` it must have
        :raises ArtifactError: when the file is not a complete artifact of that kind
        """
        if self.directory is None or not self.path(name).exists():
            return None
        path = self.path(name)
        try:
            tensors, document = artifacts.read(path)
            if kind is not None and document.get("kind") != kind:
                raise artifacts.ArtifactError(
                    f"{path} holds a {document.get('kind')!r}, not a {kind!r} checkpoint"
                )
        except artifacts.ArtifactError as error:
            raise artifacts.ArtifactError(
                f"{error}; delete {str(path)!r} and rerun: the run recomputes that state"
            ) from error
        return tensors, document

    # ------------------------------------------------------------------ module fits
    def save_training(
        self,
        step: int,
        module: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        extra: dict[str, Any],
        prefix: str = "mapper",
    ) -> None:
        """Save a module being fit, its optimizer and its sampling generator after ``step``
        (a round, or an optimizer step) as the state ``"state"``."""
        tensors = {f"{prefix}.{k}": v for k, v in module.state_dict().items()}
        optimizer_tensors, param_groups = optimizer_state(optimizer)
        tensors.update(optimizer_tensors)
        tensors["generator"] = generator.get_state()
        document = {"kind": "training-state", "round": step, "param_groups": param_groups, **extra}
        self.save("state", tensors, document)

    def load_training(
        self,
        module: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        prefix: str = "mapper",
    ) -> dict[str, Any] | None:
        """Restore what :meth:`save_training` saved; its document (``round`` is the step),
        or None when there is nothing to resume."""
        saved = self.load("state", kind="training-state")
        if saved is None:
            return None
        tensors, document = saved
        start = len(prefix) + 1
        weights = {k[start:]: v for k, v in tensors.items() if k.startswith(f"{prefix}.")}
        expected = {k: v.shape for k, v in module.state_dict().items()}
        problem = None
        if {k: v.shape for k, v in weights.items()} != expected:
            problem = f"its {prefix} tensors do not match the {type(module).__name__} of this run"
        elif "generator" not in tensors or not isinstance(document.get("param_groups"), list):
            problem = "the generator state or the optimizer's param_groups is missing"
        if problem is None:  # checked before anything is restored
            try:
                module.load_state_dict(weights)
                load_optimizer_state(optimizer, tensors, document["param_groups"])
                generator.set_state(tensors["generator"])
            except (RuntimeError, ValueError, KeyError, TypeError) as error:
                problem = str(error)
        if problem is not None:
            path = self.path("state")
            raise artifacts.ArtifactError(
                f"{str(path)!r} is not a training state of this run ({problem}); delete "
                f"{str(path)!r} and rerun: the run recomputes that state"
            )
        return document


def _read_config(path: Path) -> dict[str, Any]:
    """A checkpoint's ``config.json``, or a ``ValueError`` that names the file."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        saved = error
    if not isinstance(saved, dict):
        problem = saved if isinstance(saved, Exception) else f"a {type(saved).__name__}"
        raise ValueError(
            f"{str(path)!r} is not a run configuration (a JSON object): {problem}; delete the "
            f"directory {str(path.parent)!r} to start over, or use another checkpoint_dir"
        )
    return saved


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[Tensors, list[dict[str, Any]]]:
    """An optimizer's state as tensors ``optimizer.<index>.<key>`` and its param groups."""
    state = optimizer.state_dict()
    tensors = {
        f"optimizer.{index}.{key}": torch.as_tensor(value)
        for index, param_state in state["state"].items()
        for key, value in param_state.items()
    }
    return tensors, state["param_groups"]


def load_optimizer_state(
    optimizer: torch.optim.Optimizer, tensors: Tensors, param_groups: list[dict[str, Any]]
) -> None:
    """Restore what :func:`optimizer_state` gave."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


class PeriodicCheckpoint(BaseCallback):
    """Calls ``save`` at the start of a rollout (after the previous update) every ``freq``
    env steps of an SB3 ``learn`` call."""

    def __init__(self, save: Callable[[], None], freq: int) -> None:
        super().__init__()
        self._save, self._freq = save, freq
        self._last = -1

    def _on_training_start(self) -> None:
        self._last = self.model.num_timesteps

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps - self._last >= self._freq:
            self._save()
            self._last = self.model.num_timesteps

    def _on_step(self) -> bool:
        return True
