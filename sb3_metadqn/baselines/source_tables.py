"""The Q-tables of a table bank's sources: which train-split tasks, and each one's table
(exact discounted Q* by value iteration, or tabular Q-learning)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gym_metatasks.tabular import discounted_optimal_q_values
from sb3_metadqn.agents.tabular_q import TabularQLearning

#: TabularQLearning arguments the bank sets itself.
RESERVED_AGENT_KWARGS = frozenset({"policy", "env", "gamma", "seed", "verbose", "q_table_init"})


def source_table(
    family: Any,
    task_id: int,
    trainer: str,
    gamma: float,
    seed: int,
    timesteps: int,
    agent: dict[str, Any],
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """One source's Q-table by ``trainer`` (``"oracle"`` or ``"q_learning"``) and its
    provenance record (``core_seconds`` is added by the caller)."""
    record: dict[str, Any] = {"task_id": task_id, "method": trainer}  # the stored key
    if trainer == "oracle":
        q = discounted_optimal_q_values(family.model(task_id), gamma)
    else:
        source_seed = int(np.random.SeedSequence([seed, task_id]).generate_state(1)[0])
        env = family.make(task_id)
        model = TabularQLearning("TabularPolicy", env, gamma=gamma, seed=source_seed, **agent)
        q = model.learn(timesteps).q_table.copy()
        env.close()
        record.update(seed=source_seed, timesteps=timesteps)
    return q, record


def check_agent_kwargs(agent_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """``agent_kwargs`` as a dict of JSON-ready TabularQLearning arguments that the bank does
    not set itself."""
    agent = dict(agent_kwargs or {})
    reserved = sorted(RESERVED_AGENT_KWARGS & set(agent))
    if reserved:
        raise ValueError(
            f"agent_kwargs must not set {reserved}: TableBank.build sets them "
            "(gamma= and seed= are build arguments)"
        )
    try:
        json.dumps(agent)
    except TypeError as error:
        raise ValueError(f"agent_kwargs must hold JSON-ready values: {error}") from error
    return agent


def source_task_ids(
    family: Any, num_sources: int, seed: int, task_ids: Sequence[int] | None
) -> list[int]:
    """The source tasks: ``task_ids`` checked to be distinct train-split tasks, or
    ``num_sources`` drawn from the train split with ``seed`` (all when it has no more)."""
    train = family.train_task_ids
    if task_ids is None:
        if num_sources >= len(train):
            return list(train)
        return sorted(int(t) for t in family.sample_task_ids(num_sources, "train", rng=seed))
    ids = list(task_ids)
    if not ids:
        raise ValueError("task_ids must name at least one train-split task")
    bad_type = [t for t in ids if isinstance(t, bool) or not isinstance(t, (int, np.integer))]
    if bad_type:
        raise TypeError(f"task_ids must be ints, got {bad_type[:5]}")
    ids = [int(t) for t in ids]
    out_of_range = [t for t in ids if not 0 <= t < family.num_tasks]
    if out_of_range:
        raise ValueError(
            f"task_ids {out_of_range[:10]} are out of range: {family.env_id} has task ids "
            f"[0, {family.num_tasks}); sources must be train-split tasks"
        )
    test = [t for t in ids if family.split_of(t) == "test"]
    if test:
        raise ValueError(
            f"task_ids {test[:10]} are test-split tasks: test-split tasks are held out for "
            f"evaluation; sources must come from the train split ({family.env_id}: "
            f"{len(train)} train tasks)"
        )
    dropped = [t for t in ids if family.split_of(t) is None]
    if dropped:
        raise ValueError(
            f"task_ids {dropped[:10]} repeat an earlier task's descriptor and belong to no "
            "split; pick train-split tasks"
        )
    repeated = sorted({t for t in ids if ids.count(t) > 1})
    if repeated:
        raise ValueError(f"task_ids repeat {repeated[:10]}; each source must be distinct")
    return ids
