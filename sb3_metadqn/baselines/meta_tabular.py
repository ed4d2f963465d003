"""MetaTabularQLearning: tabular Q-learning whose table starts from the nearest source
task's table in a :class:`~sb3_metadqn.baselines.table_bank.TableBank`."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from stable_baselines3.common.type_aliases import GymEnv, Schedule

from sb3_metadqn.agents.tabular_policy import DEFAULT_MAX_TABLE_ENTRIES, TabularQPolicy
from sb3_metadqn.agents.tabular_q import TabularQLearning
from sb3_metadqn.agents.task_env import env_family_key, read_task
from sb3_metadqn.baselines.table_bank import TableBank
from sb3_metadqn.io.artifacts import ArtifactError


class MetaTabularQLearning(TabularQLearning):
    """Tabular Q-learning whose table starts from the nearest source task's table.

    The env's task descriptor (read through wrappers and VecEnvs; every sub-env must hold
    the same task) selects the source in ``table_bank`` with the nearest descriptor
    (Euclidean); its ``(n_states, n_actions)`` table becomes the initial Q-table (so
    ``q_table_init`` is refused). Every other argument is :class:`TabularQLearning`'s;
    exploration defaults suit the warm start
    (``exploration_initial_eps = exploration_final_eps = 0.05``: an agent that restarts at
    epsilon 1 throws its head start away).

    ``model.meta_init`` records the choice: ``source_task_id``, ``source_index``,
    ``descriptor_distance``, ``task_id`` (None if unknown), ``bank_env_id``, ``bank_gamma``
    and ``source_method``. It is saved with the model; the bank is not.

    :param table_bank: a :class:`~sb3_metadqn.baselines.table_bank.TableBank` or a path to one
        (required)
    :param task_descriptor: the task's descriptor, shape ``(D,)``, for envs that do not
        expose ``task_descriptor``; overrides the env's when given
    """

    def __init__(
        self,
        policy: str | type[TabularQPolicy] = "TabularPolicy",
        env: GymEnv | str | None = None,
        learning_rate: float | Schedule = 0.1,
        gamma: float = 0.99,
        exploration_fraction: float = 0.2,
        exploration_initial_eps: float = 0.05,
        exploration_final_eps: float = 0.05,
        q_table_init: Any = None,
        max_table_entries: int = DEFAULT_MAX_TABLE_ENTRIES,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "cpu",
        _init_setup_model: bool = True,
        *,
        table_bank: TableBank | str | os.PathLike[str] | None = None,
        task_descriptor: Any = None,
    ) -> None:
        if q_table_init is not None:
            raise ValueError(
                "q_table_init cannot be combined with MetaTabularQLearning: the table starts "
                "from the nearest source's table (use TabularQLearning for a given table)"
            )
        if table_bank is None and _init_setup_model:
            raise ValueError(
                "table_bank is required: a TableBank or a path to one "
                "(TableBank.build(env_id).save(path))"
            )
        if table_bank is not None and not isinstance(table_bank, (TableBank, str, os.PathLike)):
            raise TypeError(
                f"table_bank must be a TableBank or a path, got {type(table_bank).__name__}"
            )
        self._table_bank_arg = table_bank
        self.task_descriptor = (
            None if task_descriptor is None else self._check_descriptor(task_descriptor)
        )
        self.table_bank: TableBank | None = None
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            gamma=gamma,
            exploration_fraction=exploration_fraction,
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
            q_table_init=None,
            max_table_entries=max_table_entries,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    @staticmethod
    def _check_descriptor(value: Any) -> NDArray[np.float64]:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"task_descriptor must be a 1-D array of numbers, got {value!r}"
            ) from error
        if array.ndim != 1 or not np.all(np.isfinite(array)):
            raise ValueError(
                f"task_descriptor must be a finite 1-D array, got shape {array.shape}: {value!r}"
            )
        return array

    def _initial_q_table(self) -> Any:
        arg = self._table_bank_arg
        bank = arg if isinstance(arg, TableBank) else TableBank.load(arg)  # type: ignore[arg-type]
        bank.check_compatible(self.observation_space, self.action_space, env_family_key(self.env))
        descriptor, task_id = read_task(self.env, self.task_descriptor, type(self).__name__)
        indices, distances = bank.nearest(descriptor, k=1)
        j = indices[0]
        self.table_bank = bank
        self.meta_init = {
            "source_task_id": bank.task_ids[j],
            "source_index": j,
            "descriptor_distance": distances[0],
            "task_id": task_id,
            "bank_env_id": bank.env_id,
            "bank_gamma": bank.config.get("gamma"),
            "source_method": bank.provenance[j].get("method"),
        }
        if self.verbose >= 1:
            print(f"MetaTabularQLearning initialization: {self.meta_init}")
        return bank.tables[j]

    @classmethod
    def load(  # type: ignore[override]
        cls,
        path: str | os.PathLike[str],
        env: GymEnv | None = None,
        device: torch.device | str = "cpu",
        force_reset: bool = True,
        **kwargs: Any,
    ) -> MetaTabularQLearning:
        """:meth:`TabularQLearning.load` for a saved MetaTabularQLearning (its ``meta_init``
        comes back; the table bank is not stored with the model)."""
        model = super().load(path, env=env, device=device, force_reset=force_reset, **kwargs)
        if model.meta_init is None:
            raise ArtifactError(f"artifact {str(path)!r} has no meta_init")
        return model
