"""Same task id, same task everywhere; same seed, same rollout."""

import hashlib
import json
import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import gym_metatasks
from tests.helpers import ALL_ENV_IDS, some_task_ids

# sha256 of the JSON of task parameters (sorted keys); recorded when v0 was released.
# A change here means task generation changed: that needs a new -vN id, not a new hash.
GOLDEN = {
    ("MetaNav-v0", 0): "dae614646aaeae9e5e2eaba6b43eee28cfd8991a4d45e3475dffd26b31ce7db5",
    ("MetaNav-v0", 3): "cfb08de6fca91532f55182d08a8492eb9ca4ea6bf4b639f4e6953a28c0de224b",
    ("MetaNav-v0", 999): "bed8eae98ffea6c2927805aa880a53234ac2a8b6e1ad038b428157ff4c38f0de",
    ("MetaNav5x5-v0", 17): "64370ea4308c235eca67fceba6104d2da56325fa5db8e304bce32030e95ee415",
    ("MetaFrozenLake-v0", 0): "f90d1f97941571618a3f1335eece8a85e5fe391f8ac04af2cd5e3518aeabee1f",
    ("MetaFrozenLake-v0", 999): "76b7bc07735db5a0d8c2d73f28e3fae9663da7f1c23b3a6c17c27d3f48c5b7be",
    ("MetaCartPole-v0", 0): "f36f321ec38fa34c78c13fb83b01265cbc1911b53a33027762d2c0bf44a34b98",
    ("MetaCartPole-v0", 499): "4c41fc31f800dfbaebe40b8d9a365d5ca028c9895413e2a44f34101c5abd9556",
    ("MetaAcrobot-v0", 42): "9ddf3a43c3b731c46416fc4fbd0a5b3c1a3b260930b5d2723ec73e9c0581cc92",
    ("MetaMountainCar-v0", 7): "d262174209b282326223c0808ffd93149ae95dd30be86afaea1c4fabbd4cd18a",
    ("MetaRecommend-v0", 0): "c106cdb4a2118d9cca250ecb41c4c7aa571d7256a9094dfefce95c5385cbe833",
    ("MetaRecommend-v0", 999): "0e49ac54a9be54ebd7271897e7fe28370af9511ad2081c2dc5e5aa137c30f2f5",
}

HASH_SCRIPT = """
import hashlib, json, sys
import gym_metatasks
for line in sys.stdin:
    env_id, task_id = line.split()
    params = gym_metatasks.family(env_id).task_to_dict(int(task_id))
    text = json.dumps(params, sort_keys=True)
    print(env_id, task_id, hashlib.sha256(text.encode()).hexdigest())
"""


def task_hash(env_id: str, task_id: int) -> str:
    params = gym_metatasks.family(env_id).task_to_dict(task_id)
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def test_golden_task_hashes_in_a_fresh_process():
    stdin = "".join(f"{env_id} {task_id}\n" for env_id, task_id in GOLDEN)
    out = subprocess.run(
        [sys.executable, "-c", HASH_SCRIPT],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fresh = {(e, int(t)): h for e, t, h in (line.split() for line in out.splitlines())}
    assert fresh == GOLDEN


def test_golden_task_hashes_in_this_process():
    assert {key: task_hash(*key) for key in GOLDEN} == GOLDEN


def test_tasks_do_not_depend_on_global_rngs_or_order():
    family = gym_metatasks.family("MetaNav-v0")
    np.random.seed(123)  # noqa: NPY002 - the global RNG must not matter
    fresh = type(family)(size=8)  # empty cache: generates in a different order
    assert [fresh.task(t) for t in (9, 3, 5)] == [family.task(t) for t in (9, 3, 5)]


def rollout(env: gym.Env, seed: int, steps: int) -> list:
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=steps)
    obs, info = env.reset(seed=seed)
    trace = [(np.asarray(obs).tolist(), info["task_id"], info["is_success"])]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(int(action))
        trace.append((np.asarray(obs).tolist(), reward, terminated, truncated, info["is_success"]))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append((np.asarray(obs).tolist(), info["task_id"]))
    return trace


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_rollouts_are_deterministic(env_id):
    task_id = some_task_ids(env_id)[2]
    a, b = gym.make(env_id, task_id=task_id), gym.make(env_id, task_id=task_id)
    assert rollout(a, 7, 300) == rollout(b, 7, 300)
    a.close()
    b.close()


def test_reset_seed_does_not_change_the_task():
    env = gym.make("MetaNav-v0", task_id=11)
    task = env.unwrapped.task
    for seed in (0, 1, 2, None):
        _, info = env.reset(seed=seed)
        assert env.unwrapped.task == task
        assert info["task_id"] == 11
    env.close()


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_pickle_round_trip(env_id):
    env = gym.make(env_id, task_id=some_task_ids(env_id)[1])
    env.reset(seed=3)
    env.step(0)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.task == env.unwrapped.task
    assert clone.unwrapped.task_id == env.unwrapped.task_id
    # the clone continues exactly like the original
    for _ in range(20):
        a = env.step(1)
        b = clone.step(1)
        assert np.array_equal(np.asarray(a[0]), np.asarray(b[0]))
        assert a[1:4] == b[1:4]
        if a[2] or a[3]:
            break
    env.close()
    clone.close()
