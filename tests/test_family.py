"""The family API: splits, descriptors, sampling and the exact oracle."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import gym_metatasks
from gym_metatasks.envs.grid import GridFamily
from tests.helpers import ALL_ENV_IDS, GRID_ENV_IDS, slippery_test_task_ids, some_task_ids

# Split sizes (train, validation, test) documented in the README and the env docstrings.
SPLIT_SIZES = {
    "MetaNav-v0": (720, 80, 200),
    "MetaNav5x5-v0": (720, 79, 200),
    "MetaNav12x12-v0": (720, 80, 200),
    "MetaFrozenLake-v0": (720, 80, 200),
    "MetaFrozenLake4x4-v0": (720, 79, 199),
    "MetaCartPole-v0": (360, 40, 100),
    "MetaAcrobot-v0": (360, 40, 100),
    "MetaMountainCar-v0": (360, 40, 100),
    "MetaRecommend-v0": (720, 80, 200),
}
SPLIT_NAMES = ("train", "validation", "test")


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_split_sizes_are_as_documented(env_id):
    family = gym_metatasks.family(env_id)
    sizes = tuple(len(family.split_task_ids(split)) for split in SPLIT_NAMES)
    assert sizes == SPLIT_SIZES[env_id]
    assert len(family.validation_task_ids) == SPLIT_SIZES[env_id][1]


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_splits_are_disjoint_by_descriptor(env_id):
    family = gym_metatasks.family(env_id)
    contents = {
        split: {family.descriptor(t).tobytes() for t in family.split_task_ids(split)}
        for split in SPLIT_NAMES
    }
    for split in SPLIT_NAMES:
        assert len(contents[split]) == len(family.split_task_ids(split))
    assert not contents["train"] & contents["validation"]
    assert not contents["train"] & contents["test"]
    assert not contents["validation"] & contents["test"]
    train, validation, test = (family.split_task_ids(split) for split in SPLIT_NAMES)
    assert family.split_task_ids("all") == train + validation + test


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_validation_is_the_end_of_the_train_range(env_id):
    family = gym_metatasks.family(env_id)
    assert max(family.train_task_ids) < min(family.validation_task_ids)
    assert max(family.validation_task_ids) < family.num_train_range <= min(family.test_task_ids)
    train_range = len(family.train_task_ids) + len(family.validation_task_ids)
    assert len(family.validation_task_ids) == train_range // 10


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_descriptors_lie_in_the_descriptor_space(env_id):
    family = gym_metatasks.family(env_id)
    space = family.descriptor_space
    assert space.shape == (len(family.descriptor_names),)
    assert len(set(family.descriptor_names)) == len(family.descriptor_names)
    for task_id in family.split_task_ids("all")[::25]:
        descriptor = family.descriptor(task_id)
        assert descriptor.dtype == np.float32
        assert space.contains(descriptor)


@pytest.mark.parametrize("env_id", ALL_ENV_IDS)
def test_env_and_family_agree(env_id):
    family = gym_metatasks.family(env_id)
    task_id = family.test_task_ids[3]
    env = family.make(task_id)
    _, info = env.reset(seed=0)
    assert env.unwrapped.task == family.task(task_id)
    np.testing.assert_array_equal(info["task_descriptor"], family.descriptor(task_id))
    np.testing.assert_array_equal(env.unwrapped.task_descriptor, family.descriptor(task_id))
    assert env.spec.max_episode_steps == family.horizon
    env.close()


# Per grid family: the task field behind the cell mask, the mask entries' name prefix and
# the task field behind the scalar.
GRID_TASK_FIELDS = {
    "MetaNav": ("walls", "wall", "slip"),
    "MetaFrozenLake": ("holes", "hole", "success_rate"),
}


@pytest.mark.parametrize("env_id", GRID_ENV_IDS)
def test_grid_descriptor_layout_decodes_to_the_task_fields(env_id):
    family = gym_metatasks.family(env_id)
    layout = family.descriptor_layout
    cells_field, cell_name, scalar_field = GRID_TASK_FIELDS[family.name]
    names = np.array(family.descriptor_names)
    assert layout.dim == len(names) == 5 + family.size**2
    assert list(names[layout.start]) == ["start_row", "start_col"]
    assert list(names[layout.goal]) == ["goal_row", "goal_col"]
    assert names[layout.scalar] == scalar_field
    assert list(names[layout.cells][[0, -1]]) == [
        f"{cell_name}_r0_c0",
        f"{cell_name}_r{family.size - 1}_c{family.size - 1}",
    ]
    marked_cells_seen = 0
    for task_id in (*some_task_ids(env_id), 3, 17):
        task = family.task(task_id)
        descriptor = family.descriptor(task_id)
        fields = layout.decode(descriptor)
        assert (fields.start, fields.goal) == (task.start, task.goal)
        assert fields.cells == getattr(task, cells_field)
        assert fields.scalar == pytest.approx(getattr(task, scalar_field), abs=1e-7)
        marked_cells_seen += len(fields.cells)
        # a batch of descriptors slices the same way as one
        batch = np.stack([descriptor, descriptor])
        np.testing.assert_array_equal(batch[:, layout.cells][1], descriptor[5:])
    assert marked_cells_seen > 0
    with pytest.raises(ValueError, match=rf"shape \({layout.dim},\)"):
        layout.decode(np.zeros(layout.dim + 1, dtype=np.float32))
    with pytest.raises(ValueError, match="size must be an int >= 2, got 1"):
        type(layout)(1)


def test_descriptor_cannot_be_changed_through_env_info_or_family():
    family = gym_metatasks.family("MetaNav-v0")
    env = family.make(4)
    _, info = env.reset(seed=0)
    info["task_descriptor"][0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        env.unwrapped.task_descriptor[0] = 5.0
    assert env.unwrapped.task_descriptor[0] != 5.0
    copy = family.descriptor(4)
    copy[0] = 5.0
    assert family.descriptor(4)[0] != 5.0
    env.close()


def test_explicit_task_from_a_modified_dict():
    family = gym_metatasks.family("MetaNav-v0")
    params = family.task(3)
    moved = {**dataclasses.asdict(params), "goal": (7, 7), "walls": []}
    env = gym.make("MetaNav-v0", task=moved)
    _, info = env.reset(seed=0)
    assert info["task_id"] is None
    assert env.unwrapped.task.goal == (7, 7)
    assert env.unwrapped.task_id is None
    assert family.optimal_return(moved) == pytest.approx(
        family.optimal_return(dataclasses.replace(params, goal=(7, 7), walls=()))
    )
    env.close()


def test_task_to_dict_round_trips_through_json_types():
    family = gym_metatasks.family("MetaFrozenLake-v0")
    as_dict = family.task_to_dict(12)
    assert isinstance(as_dict["holes"], list)
    assert family.validate(as_dict) == family.task(12)


def test_sample_task_ids():
    family = gym_metatasks.family("MetaNav-v0")
    ids = family.sample_task_ids(10, split="test", rng=0)
    assert len(set(ids.tolist())) == 10
    assert set(ids.tolist()) <= set(family.test_task_ids)
    np.testing.assert_array_equal(ids, family.sample_task_ids(10, split="test", rng=0))
    many = family.sample_task_ids(500, split="test", rng=np.random.default_rng(1), replace=True)
    assert len(many) == 500
    assert set(many.tolist()) <= set(family.test_task_ids)
    assert len(family.sample_task_ids(0)) == 0


def test_split_of():
    family = gym_metatasks.family("MetaNav-v0")
    assert family.split_of(family.train_task_ids[0]) == "train"
    assert family.split_of(family.validation_task_ids[0]) == "validation"
    assert family.split_of(family.test_task_ids[-1]) == "test"


#: Grid families whose every-task check takes over 5 s: the default run checks a spread.
LARGE_GRIDS = ("MetaNav12x12-v0", "MetaFrozenLake-v0")


def _check_solvable(family: GridFamily, task_ids) -> None:
    for task_id in task_ids:
        # the oracle's optimal return is that of reaching the goal with positive probability
        assert family.optimal_return(task_id) > family.random_return(task_id)
        assert family.validate(family.task(task_id)) == family.task(task_id)


@pytest.mark.parametrize(
    "env_id",
    [pytest.param(e, marks=pytest.mark.slow) if e in LARGE_GRIDS else e for e in GRID_ENV_IDS],
)
def test_every_split_task_is_solvable(env_id):
    family = gym_metatasks.family(env_id)
    assert isinstance(family, GridFamily)
    _check_solvable(family, family.split_task_ids("all"))


@pytest.mark.parametrize("env_id", LARGE_GRIDS)
def test_a_spread_of_tasks_of_each_split_is_solvable(env_id):
    family = gym_metatasks.family(env_id)
    assert isinstance(family, GridFamily)
    for split in ("train", "validation", "test"):
        _check_solvable(family, family.split_task_ids(split)[::25])


def test_frozen_lake_oracle_matches_gymnasium_maps():
    """Gymnasium documents optimal success rates of 0.74 (4x4) and 0.91 (8x8)."""
    from gymnasium.envs.toy_text.frozen_lake import MAPS

    for name, env_id, expected in (
        ("4x4", "MetaFrozenLake4x4-v0", 0.74),
        ("8x8", "MetaFrozenLake-v0", 0.91),
    ):
        rows = MAPS[name]
        size = len(rows)
        task = {
            "size": size,
            "start": (0, 0),
            "goal": (size - 1, size - 1),
            "holes": [
                (r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "H"
            ],
            "success_rate": 1.0 / 3.0,
        }
        assert gym_metatasks.family(env_id).optimal_return(task) == pytest.approx(
            expected, abs=0.005
        )


def test_frozen_lake_model_matches_gymnasium_transitions():
    from gymnasium.envs.toy_text.frozen_lake import MAPS, FrozenLakeEnv

    rows = MAPS["8x8"]
    original = FrozenLakeEnv(desc=rows, is_slippery=True)
    family = gym_metatasks.family("MetaFrozenLake-v0")
    task = {
        "size": 8,
        "start": (0, 0),
        "goal": (7, 7),
        "holes": [(r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "H"],
        "success_rate": 1.0 / 3.0,
    }
    model = family.model(task)
    for s in range(64):
        if rows[s // 8][s % 8] in "HG":
            continue
        for a in range(4):
            theirs: dict[int, list[float]] = {}
            for p, s_next, r, done in original.P[s][a]:
                entry = theirs.setdefault(s_next, [0.0, r, done])
                entry[0] += p
            ours = {
                int(model.next_state[s, a, k]): [
                    model.prob[s, a, k],
                    model.reward[s, a, k],
                    bool(model.terminal[s, a, k]),
                ]
                for k in range(model.prob.shape[2])
                if model.prob[s, a, k] > 0
            }
            assert ours.keys() == theirs.keys()
            for s_next, (p, r, done) in theirs.items():
                assert ours[s_next][0] == pytest.approx(p)
                assert ours[s_next][1:] == [r, done]


@pytest.mark.parametrize(
    ("env_id", "task_index"), [("MetaNav-v0", 0), ("MetaNav-v0", 1), ("MetaFrozenLake-v0", 0)]
)
def test_oracle_policy_attains_the_optimal_return(env_id, task_index):
    """Acting greedily on Q* (by steps left) earns optimal_return on average."""
    family = gym_metatasks.family(env_id)
    task_id = slippery_test_task_ids(family)[task_index]
    q_values = family.optimal_q_values(task_id)
    env = family.make(task_id)
    returns = []
    for episode in range(400):
        obs, _ = env.reset(seed=episode)
        state = int(np.argmax(obs)) if np.ndim(obs) else int(obs)
        total, step, done = 0.0, 0, False
        while not done:
            action = int(np.argmax(q_values[family.horizon - step, state]))
            obs, reward, terminated, truncated, _ = env.step(action)
            state = int(np.argmax(obs)) if np.ndim(obs) else int(obs)
            total, step, done = total + reward, step + 1, terminated or truncated
        returns.append(total)
    mean, stderr = np.mean(returns), np.std(returns) / np.sqrt(len(returns))
    assert abs(mean - family.optimal_return(task_id)) < 4 * stderr + 1e-9
    env.close()


@pytest.mark.parametrize("env_id", ["MetaNav-v0", "MetaFrozenLake-v0"])
def test_random_return_matches_simulation(env_id):
    family = gym_metatasks.family(env_id)
    # the test task (of the first 50) on which random play is most rewarding
    task_id = max(family.test_task_ids[:50], key=family.random_return)
    env = family.make(task_id)
    actions = np.random.default_rng(0)
    returns = []
    for episode in range(400):
        env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(actions.integers(4)))
            total, done = total + reward, terminated or truncated
        returns.append(total)
    stderr = np.std(returns) / np.sqrt(len(returns))
    assert abs(np.mean(returns) - family.random_return(task_id)) < 4 * stderr + 1e-9
    env.close()


def test_normalized_return():
    family = gym_metatasks.family("MetaNav-v0")
    optimal, random = family.optimal_return(3), family.random_return(3)
    assert family.normalized_return(3, optimal) == pytest.approx(1.0)
    assert family.normalized_return(3, random) == pytest.approx(0.0)
    values = family.normalized_return(3, [random, optimal])
    np.testing.assert_allclose(values, [0.0, 1.0])


def test_horizon_override_changes_the_oracle():
    family = gym_metatasks.family("MetaNav-v0")
    task = family.task(3)
    assert family.optimal_return(3, horizon=1000) >= family.optimal_return(3)
    short = family.optimal_return(3, horizon=1)
    assert short == pytest.approx(-0.01 if task.goal != task.start else 1.0)


def test_families_pickle_and_compare_by_configuration():
    import pickle

    family = gym_metatasks.family("MetaNav-v0")
    clone = pickle.loads(pickle.dumps(family))
    assert clone == family
    assert hash(clone) == hash(family)
    assert clone.task(5) == family.task(5)
