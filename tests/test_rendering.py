import gymnasium as gym
import numpy as np
import pytest

import gym_metatasks


@pytest.mark.parametrize("env_id", ["MetaNav-v0", "MetaFrozenLake4x4-v0"])
def test_ansi_shows_the_map_and_the_agent(env_id):
    family = gym_metatasks.family(env_id)
    env = gym.make(env_id, task_id=2, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    rows = text.strip("\n").split("\n")
    assert len(rows) == family.size
    assert all(len(row) == family.size for row in rows)
    assert text.count("A") == 1
    assert text.count("G") == 1
    env.step(1)
    assert env.render().startswith("  (Down)\n")
    env.close()


@pytest.mark.parametrize("env_id", ["MetaNav-v0", "MetaFrozenLake-v0"])
def test_rgb_array_is_a_uint8_image(env_id):
    env = gym.make(env_id, task_id=2, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8
    assert frame.shape == (8 * 32, 8 * 32, 3)
    env.step(2)
    assert env.unwrapped.metadata["render_fps"] > 0
    env.close()


def test_rgb_array_moves_with_the_agent():
    task = {"size": 5, "start": (0, 0), "goal": (4, 4), "walls": [], "slip": 0.0}
    env = gym.make("MetaNav5x5-v0", task=task, render_mode="rgb_array")
    env.reset(seed=0)
    before = env.render()
    env.step(2)  # right
    after = env.render()
    changed = np.argwhere((before != after).any(axis=2))
    assert changed[:, 1].min() < 64
    assert changed[:, 0].max() < 32
    env.close()


def test_physics_rgb_array_uses_gymnasium_renderer():
    env = gym.make("MetaCartPole-v0", task_id=1, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8
    assert frame.ndim == 3
    env.close()


@pytest.mark.parametrize(
    ("env_id", "size", "caption"),
    [("MetaNav5x5-v0", (5 * 32, 5 * 32), "MetaNavEnv"), ("MetaCartPole-v0", (600, 400), None)],
)
def test_human_mode_shows_the_rgb_array_frame_in_a_pygame_window(
    monkeypatch, env_id, size, caption
):
    """The window (SDL's dummy video driver: no screen needed) has the frame's size and shows
    what rgb_array mode renders for the same state; closing the env closes it."""
    pygame = pytest.importorskip("pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    human = gym.make(env_id, task_id=1, render_mode="human")
    twin = gym.make(env_id, task_id=1, render_mode="rgb_array")
    for env in (human, twin):
        env.reset(seed=0)
        env.step(1)
    window = pygame.display.get_surface()
    assert window is not None
    assert window.get_size() == size
    if caption is not None:
        assert pygame.display.get_caption()[0] == caption
    shown = np.transpose(pygame.surfarray.array3d(window), (1, 0, 2))
    np.testing.assert_array_equal(shown, twin.render())
    human.close()
    twin.close()
    assert not pygame.display.get_init()
