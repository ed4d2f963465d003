"""The rollouts shown on the family pages: MetaDQN's start (the embedded meta-learner's
initialization, before any update) playing the first test task of each family.

``python docs/make_gifs.py [--env-ids ID ...] [--output-dir docs/gifs] [--seed 0]``

Families that render ``rgb_array`` frames get a GIF; a family with ``ansi`` rendering only
(``MetaRecommend-v0``) gets the session as text. The same arguments write the same bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

import gym_metatasks
from gym_metatasks.atomic_io import write_atomic
from sb3_metadqn import MetaDQN, pretrained

#: How long the last frame of a GIF stays before the loop starts over.
HOLD_LAST_MS = 1000
#: Every family with an embedded meta-learner (whose start the GIFs show).
FAMILY_IDS = tuple(pretrained.available())


@dataclasses.dataclass
class Args:
    env_ids: Sequence[str] = FAMILY_IDS
    """families to play, each on its first test task"""
    output_dir: Path = Path(__file__).resolve().parent / "gifs"
    """where ``<env_id>.gif`` (or ``<env_id>.txt``) is written"""
    seed: int = 0
    """seed of the env's reset (the initialization does not depend on it)"""
    max_frames: int = 60
    """frames kept per GIF at most: longer episodes keep every k-th frame"""
    max_side: int = 256
    """frames are scaled down so that neither side exceeds this many pixels"""
    max_frame_ms: int = 250
    """the longest a frame is shown (the last one is held for a second)"""


def metadqn_start(env_id: str, task_id: int) -> MetaDQN:
    """MetaDQN on one task, initialized by the family's embedded meta-learner, not trained."""
    env = gym_metatasks.family(env_id).make(task_id)
    return MetaDQN("MlpPolicy", env, seed=0, device="cpu")


def play(env: gym.Env[Any, Any], model: MetaDQN, seed: int) -> tuple[list[Any], float]:
    """One greedy episode: every render (the first after reset) and the episode return."""
    observation, _ = env.reset(seed=seed)
    renders, total, done = [env.render()], 0.0, False
    while not done:
        action, _ = model.predict(observation, deterministic=True)
        observation, reward, terminated, truncated, _ = env.step(int(action))
        renders.append(env.render())
        total, done = total + float(reward), terminated or truncated
    return renders, total


def keep_frames(frames: list[NDArray[np.uint8]], max_frames: int) -> tuple[list[Any], int]:
    """Every k-th frame (and the last), so that at most ``max_frames`` remain; returns k."""
    stride = -(-len(frames) // max_frames)
    kept = frames[::stride]
    if (len(frames) - 1) % stride:
        kept[-1] = frames[-1]
    return kept, stride


def write_gif(
    frames: Sequence[NDArray[np.uint8]], path: Path, frame_ms: int, max_side: int
) -> None:
    """An endlessly looping GIF of ``(H, W, 3)`` uint8 frames, one shared palette (exact
    when the frames hold at most 256 colours), written atomically."""
    images = [Image.fromarray(frame) for frame in frames]
    scale = max(images[0].width, images[0].height) / max_side
    if scale > 1:
        size = (round(images[0].width / scale), round(images[0].height / scale))
        images = [image.resize(size, Image.Resampling.BOX) for image in images]
    strip = Image.fromarray(np.concatenate([np.asarray(image) for image in images]))
    palette = strip.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    indexed = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    buffer = io.BytesIO()
    indexed[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=indexed[1:],
        duration=[frame_ms] * (len(indexed) - 1) + [HOLD_LAST_MS],
        loop=0,
        optimize=False,
    )
    write_atomic(path, buffer.getvalue())


def make_rollout(env_id: str, args: Args) -> Path:
    """Play the first test task of ``env_id`` and write its GIF or text; returns the path."""
    family = gym_metatasks.family(env_id)
    task_id = family.test_task_ids[0]
    model = metadqn_start(env_id, task_id)
    probe = family.make(task_id)
    mode = "rgb_array" if "rgb_array" in probe.metadata["render_modes"] else "ansi"
    probe.close()
    env = family.make(task_id, render_mode=mode)
    renders, total = play(env, model, args.seed)
    fps = int(env.metadata["render_fps"])
    env.close()
    if mode == "ansi":
        path = args.output_dir / f"{env_id}.txt"
        normalized = family.normalized_return(task_id, total)
        header = f"{env_id}, test task {task_id}: return {total:g} (normalized {normalized:.2f})\n"
        write_atomic(path, header + "".join(renders))
        return path
    frames, stride = keep_frames(renders, args.max_frames)
    path = args.output_dir / f"{env_id}.gif"
    frame_ms = min(round(1000 * stride / fps), args.max_frame_ms)
    write_gif(frames, path, frame_ms=frame_ms, max_side=args.max_side)
    return path


def main(args: Args) -> list[Path]:
    torch.manual_seed(0)
    return [make_rollout(env_id, args) for env_id in args.env_ids]


def parse_args(argv: Sequence[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = Args()
    parser.add_argument("--env-ids", nargs="+", default=list(defaults.env_ids))
    parser.add_argument("--output-dir", type=Path, default=defaults.output_dir)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--max-frames", type=int, default=defaults.max_frames)
    parser.add_argument("--max-side", type=int, default=defaults.max_side)
    parser.add_argument("--max-frame-ms", type=int, default=defaults.max_frame_ms)
    return Args(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    for written in main(parse_args()):
        print(f"{written} ({written.stat().st_size / 1024:.0f} KiB)")
