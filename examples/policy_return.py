"""Exact policy evaluation: ``family.policy_return`` gives a deterministic policy's expected
return by dynamic programming on the task's model, checked here against sampled episodes.

``python examples/policy_return.py [--env-id MetaFrozenLake-v0] [--episodes 500]``
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

import gym_metatasks
from gym_metatasks.tabular import discounted_optimal_q_values

DOWN, RIGHT = 1, 2


def sampled_return(env: gym.Env[Any, Any], policy: NDArray[np.int64], episodes: int) -> float:
    """Mean return of an action-per-state policy over sampled episodes (seeds 0, 1, ...)."""
    family = env.unwrapped.family
    total = 0.0
    for seed in range(episodes):
        env.reset(seed=seed)
        state, done = family.model(env.unwrapped.task).start, False
        while not done:
            observation, reward, terminated, truncated, _ = env.step(int(policy[state]))
            state = int(np.argmax(observation)) if np.ndim(observation) else int(observation)
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-id", default="MetaFrozenLake-v0", help="a family with a model")
    parser.add_argument("--task-id", type=int, default=None, help="default: first test task")
    parser.add_argument("--episodes", type=int, default=500, help="sampled episodes per policy")
    args = parser.parse_args(argv)

    family = gym_metatasks.family(args.env_id)
    task_id = family.test_task_ids[0] if args.task_id is None else args.task_id
    model = family.model(task_id)  # the tabular model the env steps through
    states = model.num_states
    policies = {
        # stationary: greedy on the discounted Q* that DQN with gamma 0.99 estimates
        "greedy on discounted Q*": discounted_optimal_q_values(model, 0.99).argmax(axis=1),
        "down and right, alternating by state": np.where(np.arange(states) % 2, DOWN, RIGHT),
    }
    env = family.make(task_id)
    results: dict[str, Any] = {"optimal": family.optimal_return(task_id)}
    print(f"{args.env_id} task {task_id}: optimal (non-stationary) {results['optimal']:.3f}")
    for name, policy in policies.items():
        exact = family.policy_return(task_id, policy)
        sampled = sampled_return(env, policy, args.episodes)
        print(f"{name}: exact {exact:.3f}, sampled {sampled:.3f} ({args.episodes} episodes)")
        results[name] = {"exact": exact, "sampled": sampled}
    env.close()
    return results


if __name__ == "__main__":
    main()
