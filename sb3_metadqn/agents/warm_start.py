"""WarmStartDQN: SB3's DQN whose Q-network starts from an initializer's parameters for the
env's task (the shared machinery of MetaDQN, the task-conditioned DQN and the warm-start
baselines)."""

from __future__ import annotations

import io
import os
import pathlib
import zipfile
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.dqn.policies import DQNPolicy

from gym_metatasks.atomic_io import write_atomic
from sb3_metadqn.agents.anchors import ANCHOR_ENTRY, Anchored, check_anchor_args, read_anchor
from sb3_metadqn.agents.meta_init import LogsMetaInit
from sb3_metadqn.agents.model_file import (
    check_same_task,
    is_model_file,
    load_model_file,
    save_model_file,
)
from sb3_metadqn.agents.probe import best_by_return, check_probe_args, probe_transitions
from sb3_metadqn.agents.task_env import check_sb3_env, env_family_key, read_task
from sb3_metadqn.core.initializer import Initializer
from sb3_metadqn.io import artifacts
from sb3_metadqn.io.artifacts import ArtifactError
from sb3_metadqn.nets import qnet

INITIALIZER_ENTRY = "initializer.safetensors"
DEFAULT_TOTAL_TIMESTEPS = 20_000
SelfWarmStartDQN = TypeVar("SelfWarmStartDQN", bound="WarmStartDQN")


class WarmStartDQN(LogsMetaInit, Anchored, DQN):
    """Deep Q-Network whose Q-network and target network start from the parameters an
    :class:`~sb3_metadqn.Initializer` gives for the env's task descriptor.

    Exploration defaults differ from DQN's because the network starts warm:
    ``exploration_initial_eps=0.05``, ``exploration_final_eps=0.05``; an agent that starts at
    epsilon=1 throws its head start away. Pass DQN's values to compare like for like.

    After construction, ``model.meta_init`` records what the initialization did (initializer
    kind, source task id, descriptor distance, probe scores) and ``model.initializer`` is the
    initializer used.

    Everything of :class:`stable_baselines3.DQN` keeps working; the additions are:

    :param initializer: an :class:`~sb3_metadqn.Initializer` (``MetaLearner``,
        ``NearestSource``, ``SourceAverage``, ``ReptileInit``, ``HyperNetworkInit``) or the
        path of one's artifact
    :param task_descriptor: the task's descriptor, for envs that do not expose
        ``task_descriptor``; overrides the env's when given
    :param meta_candidates: how many nearest bank sources the probe compares (1: nearest
        only; initializers with a source bank only)
    :param meta_probe_steps: random-action env steps collected before learning to compare
        candidates by TD error (0: no such probe)
    :param meta_probe_episodes: greedy episodes each candidate plays on the env before
        learning, the same episodes for each (the env seeded with ``seed``, 0 when None); the
        one with the highest mean return wins (0: no such probe). Its env steps are recorded
        in ``meta_init["probe_env_steps"]``; they are not counted in ``num_timesteps``
    :param anchor_rate: in ``[0, 1)``; after every gradient step the distance between the
        Q-network's parameters and their initial values shrinks by the factor
        ``1 - anchor_rate``: a decoupled L2-SP penalty that keeps adaptation near the warm
        start (0: plain fine-tuning).
        The initial parameters are saved with the model, so a loaded model stays anchored.
    :param action_anchor: weight (>= 0) of the greedy-action anchor
        (:mod:`sb3_metadqn.agents.anchors`): before every gradient step, the gradient
        of a cross-entropy that keeps the warm start's greedy action on a replay batch is
        added (0: none). It keeps the start's action ranking on visited states where
        ``anchor_rate`` only keeps the parameters near.
    """

    initializer: Initializer | None
    meta_init: dict[str, Any] | None
    _meta_fields: ClassVar[tuple[str, ...]] = (
        "initializer",
        "_initializer_arg",
        "_meta_loading",
        "_anchor",
        "_anchor_hook",
        "_anchored_optimizer",
        "_action_anchor_hook",
    )
    #: the constructor argument that names the initializer, and the type it must have
    _initializer_name: ClassVar[str] = "initializer"
    _initializer_type: ClassVar[type[Initializer]] = Initializer  # type: ignore[type-abstract]

    def __init__(
        self,
        policy: str | type[DQNPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 32,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 4,
        gradient_steps: int = 1,
        replay_buffer_class: Any = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        target_update_interval: int = 10000,
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float = 0.05,
        exploration_final_eps: float = 0.05,
        max_grad_norm: float = 10,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
        *,
        initializer: Initializer | str | os.PathLike[str] | None = None,
        task_descriptor: Any = None,
        meta_candidates: int = 1,
        meta_probe_steps: int = 0,
        meta_probe_episodes: int = 0,
        anchor_rate: float = 0.0,
        action_anchor: float = 0.0,
    ) -> None:
        check_probe_args(meta_candidates, meta_probe_steps, meta_probe_episodes)
        check_anchor_args(anchor_rate, action_anchor)
        check_sb3_env(env, type(self).__name__)
        kind = self._initializer_type
        if isinstance(initializer, Initializer) and not isinstance(initializer, kind):
            raise TypeError(
                f"{self._initializer_name} must be a {kind.__name__} (or None, or a path), got a "
                f"{type(initializer).__name__}; it is an initializer of its own: use "
                f"WarmStartDQN(policy, env, initializer=...) for it"
            )
        if initializer is not None and not isinstance(initializer, (kind, str, os.PathLike)):
            raise TypeError(
                f"{self._initializer_name} must be None, a path or a {kind.__name__}, got "
                f"{type(initializer).__name__}"
            )
        self._initializer_arg = initializer
        self.task_descriptor = (
            None
            if task_descriptor is None
            else np.asarray(task_descriptor, dtype=np.float64).tolist()
        )
        self.meta_candidates = meta_candidates
        self.meta_probe_steps = meta_probe_steps
        self.meta_probe_episodes = meta_probe_episodes
        self.anchor_rate = float(anchor_rate)
        self._anchor: list[torch.Tensor] | None = None
        self._anchor_hook = None
        self._anchored_optimizer = None
        self.action_anchor = float(action_anchor)
        self._action_anchor_hook = None
        self.initializer = None
        self.meta_init = None
        self._meta_loading = False
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            target_update_interval=target_update_interval,
            exploration_fraction=exploration_fraction,
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
            max_grad_norm=max_grad_norm,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    # ------------------------------------------------------------------ initialization
    def _setup_model(self) -> None:
        super()._setup_model()
        if self._meta_loading:
            return  # the saved parameters and record are restored by load()
        self._warm_start()

    def _warm_start(self) -> None:
        """Put the initializer's parameters for the env's task into ``q_net`` and
        ``q_net_target``, keep them as the anchor and record the choice in ``meta_init``
        (subclasses that start from something else override this)."""
        initializer = self._resolve_initializer()
        probes = self.meta_probe_steps > 0 or self.meta_probe_episodes > 0
        if not initializer.selects_by_probe and (self.meta_candidates > 1 or probes):
            raise ValueError(
                "meta_candidates, meta_probe_steps and meta_probe_episodes choose among bank "
                f"sources; a {initializer.kind} gives one initialization (got meta_candidates="
                f"{self.meta_candidates}, meta_probe_steps={self.meta_probe_steps}, "
                f"meta_probe_episodes={self.meta_probe_episodes})"
            )
        arch = qnet.architecture(self.q_net)
        initializer.check_compatible(
            arch, self.observation_space, self.action_space, env_family_key(self.env)
        )
        descriptor, task_id = read_task(self.env, self.task_descriptor, type(self).__name__)
        transitions = None
        if self.meta_probe_steps > 0 and self.env is not None:
            transitions = probe_transitions(self.env, self.meta_probe_steps, self.action_space)
        if self.meta_probe_episodes > 0 and self.env is not None:
            layers, record = best_by_return(
                self.env,
                initializer.candidate_starts(descriptor, self.meta_candidates),
                self.meta_probe_episodes,
                self._load_layers,
                lambda obs: self.predict(obs, deterministic=True)[0],
                seed=0 if self.seed is None else self.seed,
            )
        else:
            layers, record = initializer.initial_parameters(
                descriptor,
                candidates=self.meta_candidates,
                transitions=transitions,
                gamma=self.gamma,
            )
        self._load_layers(layers)
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self._anchor = [p.detach().clone() for p in self.q_net.parameters()]
        self.initializer = initializer
        self.meta_init = {
            "initializer": initializer.kind,
            "initializer_env_id": initializer.env_id,
            "task_id": task_id,
            **record,
        }
        if self.verbose >= 1:
            print(f"{type(self).__name__} initialization: {self.meta_init}")

    def _load_layers(self, layers: qnet.Layers) -> None:
        qnet.set_layers(self.q_net, [(w.to(self.device), b.to(self.device)) for w, b in layers])

    def _resolve_initializer(self) -> Initializer:
        """The initializer argument as an object (subclasses supply a default for None)."""
        arg = self._initializer_arg
        if isinstance(arg, Initializer):
            return arg
        if arg is not None:
            return self._initializer_type.load(arg)
        raise ValueError(
            f"{type(self).__name__} needs {self._initializer_name}=: an Initializer "
            "(MetaLearner, NearestSource, SourceAverage, ReptileInit, HyperNetworkInit) or the "
            "path of one's artifact"
        )

    # ------------------------------------------------------------------ learning
    def learn(
        self: SelfWarmStartDQN,
        total_timesteps: int = DEFAULT_TOTAL_TIMESTEPS,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfWarmStartDQN:
        """DQN's ``learn`` with a default ``total_timesteps`` of 20,000 (and the class name
        as the default TensorBoard run name)."""
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name or type(self).__name__,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    # ------------------------------------------------------------------ persistence
    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), *self._meta_fields]

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Any = None,
        include: Any = None,
    ) -> None:
        """SB3's zip (loadable with ``DQN.load``) plus the initializer and the initial
        parameters (the anchor) as safetensors entries; or, for a path ending in
        ``.safetensors``, a pickle-free model file (:mod:`sb3_metadqn.agents.model_file`).
        A path is written atomically."""
        if is_model_file(path):
            save_model_file(self, path)  # type: ignore[arg-type]
            return
        buffer = io.BytesIO()
        super().save(buffer, exclude=exclude, include=include)
        with zipfile.ZipFile(buffer, mode="a") as archive:
            if self.initializer is not None:
                archive.writestr(INITIALIZER_ENTRY, self.initializer.to_bytes())
            if self._anchor is not None:
                tensors = {str(k): t for k, t in enumerate(self._anchor)}
                archive.writestr(ANCHOR_ENTRY, artifacts.encode(tensors, {"kind": "anchor"}))
        data = buffer.getvalue()
        if isinstance(path, io.BufferedIOBase):
            path.write(data)
            return
        target = pathlib.Path(path)
        if target.suffix == "":
            target = target.with_suffix(".zip")
        try:
            write_atomic(target, data)
        except OSError as error:
            raise OSError(f"cannot write the model to path={str(target)!r}: {error}") from error

    @classmethod
    def load(
        cls: type[SelfWarmStartDQN],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: torch.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfWarmStartDQN:
        """Load a saved model (its parameters, ``meta_init``, initializer and anchor; a zip
        without an anchor is anchored at its saved parameters). A ``.safetensors`` model file
        is read without unpickling; SB3's zip unpickles its ``data`` entry, so load zips
        from trusted sources only. An ``env`` must hold the task the model was initialized
        for."""
        if is_model_file(path):
            loaded = load_model_file(cls, path, env, device, **kwargs)  # type: ignore[arg-type]
            check_same_task(loaded, loaded.env)
            return loaded
        if isinstance(path, io.BufferedIOBase):
            raw = path.read()
        else:
            target = pathlib.Path(path)
            if not target.exists() and target.suffix == "":
                target = target.with_suffix(".zip")
            if not target.is_file():
                raise FileNotFoundError(f"no model file at path={str(target)!r}")
            raw = target.read_bytes()
        if not zipfile.is_zipfile(io.BytesIO(raw)):
            where = "the file object" if isinstance(path, io.BufferedIOBase) else repr(str(path))
            raise ArtifactError(
                f"{where} is not a model file: neither an SB3 zip nor a .safetensors model file"
            )
        model = super().load(
            io.BytesIO(raw),
            env=env,
            device=device,
            custom_objects=custom_objects,
            print_system_info=print_system_info,
            force_reset=force_reset,
            _meta_loading=True,
            **kwargs,
        )
        assert isinstance(model, cls)
        model._meta_loading = False
        params = list(model.q_net.parameters())
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = archive.namelist()
            if INITIALIZER_ENTRY in names:
                model.initializer = Initializer.from_bytes(
                    archive.read(INITIALIZER_ENTRY), origin=f"{path!r}:{INITIALIZER_ENTRY}"
                )
            if ANCHOR_ENTRY in names:
                model._anchor = read_anchor(archive.read(ANCHOR_ENTRY), params, f"{path!r}")
            else:
                model._anchor = [p.detach().clone() for p in params]
        check_same_task(model, model.env)
        return model
