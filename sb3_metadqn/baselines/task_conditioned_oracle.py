"""The task-conditioned DQN fit to the same supervision the source bank gets: multi-task
regression of ``Q(s, .; e(d))`` on every train task's exact discounted Q* (families with an
exact model), instead of DQN on rewards.

The targets are those of the bank's oracle sources
(:func:`~sb3_metadqn.core.source_training.grid_task_data`: discounted Q* with ``gamma``, on every
state the agent can act in), so this baseline and MetaDQN's bank see the same information;
only the way it is turned into a Q-network differs. The result is a
:class:`~sb3_metadqn.TaskConditionedDQN` whose ``save_pretrained`` artifact is adapted to a new
task exactly like the reward-trained one (``TaskConditionedDQN(..., pretrained=path)``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gym_metatasks
from gym_metatasks.wrappers import ObserveDescriptor
from gym_metatasks.wrappers.observe_descriptor import DESCRIPTOR_KEY, OBSERVATION_KEY
from sb3_metadqn._checks import check_args
from sb3_metadqn.agents.task_conditioned import TaskConditionedDQN
from sb3_metadqn.core.initializer import check_train_tasks
from sb3_metadqn.core.source_training import grid_task_data
from sb3_metadqn.io.checkpoints import Checkpoint
from sb3_metadqn.progress import Progress

#: Defaults of :func:`pretrain_oracle` (see the benchmarks README for where they come from).
DEFAULT_STEPS = 20_000
DEFAULT_BATCH_TASKS = 16
DEFAULT_LEARNING_RATE = 1e-3
#: Optimizer steps between checkpoints.
CHECKPOINT_EVERY = 5_000


def pretrain_oracle(
    env_id: str,
    steps: int = DEFAULT_STEPS,
    *,
    seed: int = 0,
    task_ids: Sequence[int] | None = None,
    batch_tasks: int = DEFAULT_BATCH_TASKS,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    gamma: float = 0.99,
    policy_kwargs: dict[str, Any] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    progress_bar: bool = False,
    verbose: int = 0,
) -> TaskConditionedDQN:
    """Fit a :class:`TaskConditionedDQN` to exact Q* over a family's train tasks.

    :param env_id: a registered family with an exact model (MetaNav, MetaFrozenLake)
    :param steps: Adam steps, each on every actable state of ``batch_tasks`` tasks
    :param seed: seed of the network's initialization and of the task batches
    :param task_ids: the tasks to fit (default: the whole train split)
    :param batch_tasks: tasks per step
    :param learning_rate: Adam step size
    :param gamma: discount of the Q* targets (the bank's sources use 0.99); also the discount
        the adapted agent trains with
    :param policy_kwargs: merged over TaskConditionedDQN's default ``policy_kwargs``
    :param checkpoint_dir: the fit (network, optimizer, batch sampler) is saved there every
        5,000 steps; a rerun with the same arguments resumes with the result an
        uninterrupted run gives
    :param progress_bar: show a bar per phase on stderr (``Q* of the train tasks``,
        ``task-conditioned oracle fit``)
    :param verbose: SB3 verbosity of the model
    :return: the fitted model; ``model.pretraining`` records the run and its cost
    """
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    family: Any = gym_metatasks.family(env_id)
    if getattr(family, "oracle", None) != "exact" or not hasattr(family, "model"):
        raise ValueError(
            f"pretrain_oracle needs a family with an exact model (MetaNav, MetaFrozenLake); "
            f"{env_id} has oracle={family.oracle!r}"
        )
    checked = check_args(
        {
            "steps": steps,
            "batch_tasks": batch_tasks,
            "seed": seed,
            "learning_rate": learning_rate,
            "gamma": gamma,
            "verbose": verbose,
        }
    )
    steps, batch_tasks = checked["steps"], checked["batch_tasks"]
    ids = (
        list(family.train_task_ids)
        if task_ids is None
        else check_train_tasks(family, task_ids, "task_ids")
    )
    if not ids:
        raise ValueError("task_ids is empty")
    env = ObserveDescriptor(family.make(ids[0]), mode="dict")
    model = TaskConditionedDQN(
        "MultiInputPolicy",
        env,
        seed=seed,
        gamma=gamma,
        policy_kwargs=policy_kwargs,
        verbose=verbose,
    )
    states = torch.as_tensor(np.stack([np.asarray(o) for o in family.state_observations()]))
    states = states.float()
    progress = Progress(progress_bar)
    with progress.phase("Q* of the train tasks", len(ids), unit="task") as bar:
        data = []
        for t in ids:
            data.append(grid_task_data(env_id, t, float(gamma), int(seed)))
            bar.update(1)
    targets = torch.as_tensor(np.stack([d["q_star"] for d in data]))  # (T, S, A)
    masks = torch.as_tensor(np.stack([d["fit_mask"] for d in data])).float()  # (T, S)
    descriptors = torch.as_tensor(np.stack([family.descriptor(t) for t in ids]))  # (T, D)
    num_states = states.shape[0]
    q_net = model.q_net
    optimizer = torch.optim.Adam(q_net.parameters(), lr=float(learning_rate))
    generator = torch.Generator().manual_seed(int(seed))
    config = {
        "env_id": env_id, "steps": steps, "seed": int(seed), "task_ids": ids,
        "batch_tasks": batch_tasks, "learning_rate": float(learning_rate), "gamma": float(gamma),
        "policy_kwargs": repr(policy_kwargs),
    }  # fmt: skip
    checkpoint = Checkpoint(None if checkpoint_dir is None else Path(checkpoint_dir), config)
    state = checkpoint.load_training(q_net, optimizer, generator, prefix="q_net")
    done = 0 if state is None else int(state["round"])
    history: list[float] = [] if state is None else list(state["loss_history"])
    prior_cpu = 0.0 if state is None else float(state["core_seconds"])
    q_net.train()
    with progress.phase("task-conditioned oracle fit", steps, unit="step", initial=done) as bar:
        for step in range(done, steps):
            batch = torch.randint(len(ids), (batch_tasks,), generator=generator)
            observations = {
                OBSERVATION_KEY: states.repeat(batch_tasks, *([1] * (states.dim() - 1))),
                DESCRIPTOR_KEY: descriptors[batch].repeat_interleave(num_states, dim=0),
            }
            q = q_net(observations).reshape(batch_tasks, num_states, -1)
            mask = masks[batch].unsqueeze(-1)
            loss = (((q - targets[batch]) ** 2) * mask).sum() / (mask.sum() * q.shape[-1])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history.append(float(loss.item()))
            bar.update(1)
            if (step + 1) % CHECKPOINT_EVERY == 0 and step + 1 < steps:
                seconds = prior_cpu + time.process_time() - start_cpu
                extra = {"loss_history": history, "core_seconds": seconds}
                checkpoint.save_training(
                    step + 1, q_net, optimizer, generator, extra, prefix="q_net"
                )
    q_net.eval()
    if not np.isfinite(history[-1]):
        raise RuntimeError(f"the regression diverged (loss {history[-10:]})")
    model.q_net_target.load_state_dict(q_net.state_dict())
    model.pretraining = {
        "env_id": family.env_id,
        "family_key": family.key,
        "seed": int(seed),
        "split": "train" if task_ids is None else "custom",
        "task_ids": None if task_ids is None else ids,
        "supervision": "oracle",
        "timesteps": 0,
        "config": {
            "steps": steps,
            "batch_tasks": batch_tasks,
            "learning_rate": float(learning_rate),
            "gamma": float(gamma),
            "policy": model.policy_config(),
        },
        "loss_last_100": float(np.mean(history[-100:])),
        "core_seconds": prior_cpu + time.process_time() - start_cpu,
        "wall_seconds": time.perf_counter() - start_wall,
    }
    return model
