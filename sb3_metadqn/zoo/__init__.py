"""The RL Baselines3 Zoo (``rl_zoo3``) with MetaDQN and the gym_metatasks families.

``python -m sb3_metadqn.zoo SCRIPT [OPTIONS]`` runs the zoo's own ``train``, ``enjoy`` or
``record_video`` script with the zoo's options, after three steps the zoo does not take:

- MetaDQN joins the zoo's algorithms as ``metadqn`` (:func:`register`) and the families join
  Gymnasium's registry (``import gym_metatasks``), so ``--env MetaNav-v0 --algo metadqn``
  works in every script;
- ``--env MODULE:ID`` (``gym_metatasks:MetaNav-v0``, as ``gym.make`` reads it) becomes ``ID``
  once ``MODULE`` is imported: the zoo looks ids up in the registry as given;
- ``train`` on a family, without ``-conf``/``--conf-file``, reads the hyperparameters shipped
  in ``hyperparams/ALGO.yml`` (``dqn`` and ``metadqn``: the settings of the project's
  benchmarks, each file says where each value comes from).

Needs the ``zoo`` extra (``pip install "sb3-metadqn[zoo]"``; ``record_video`` writes with
moviepy, which it installs).
"""

from __future__ import annotations

import argparse
import importlib
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rl_zoo3.utils
import yaml
from rl_zoo3.enjoy import enjoy
from rl_zoo3.train import train
from stable_baselines3.common.base_class import BaseAlgorithm

import gym_metatasks  # noqa: F401  (registers the families)
from sb3_metadqn.agents.metadqn import MetaDQN

#: Algorithms added to the zoo's ``ALGOS``, by the name ``--algo`` takes.
ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"metadqn": MetaDQN}
#: The zoo scripts this module runs.
SCRIPTS = ("train", "enjoy", "record_video")
#: Where the shipped hyperparameter files are (``ALGO.yml``).
HYPERPARAMS_DIR = Path(__file__).resolve().parent / "hyperparams"


def register() -> None:
    """Add :data:`ALGORITHMS` to the zoo's ``ALGOS`` (the families are registered on import)."""
    rl_zoo3.utils.ALGOS.update(ALGORITHMS)


def shipped_algorithms() -> list[str]:
    """Algorithms with a shipped hyperparameter file."""
    return sorted(path.stem for path in HYPERPARAMS_DIR.glob("*.yml"))


def hyperparameters_file(algo: str) -> Path:
    """The shipped hyperparameter file of ``algo`` (the zoo's format: env id -> settings).

    :raises ValueError: for an algorithm without one
    """
    if algo not in shipped_algorithms():
        raise ValueError(f"algo must be one of {shipped_algorithms()}, got {algo!r}")
    return HYPERPARAMS_DIR / f"{algo}.yml"


def hyperparameters(algo: str) -> dict[str, dict[str, Any]]:
    """The shipped hyperparameters of ``algo``, by env id."""
    data: dict[str, dict[str, Any]] = yaml.safe_load(hyperparameters_file(algo).read_text())
    return data


def plain_env_id(env_id: str) -> str:
    """``ID`` for ``MODULE:ID`` after importing ``MODULE`` (which registers ``ID``); other ids
    as they are.

    :raises ValueError: when ``MODULE`` cannot be imported
    """
    module, sep, name = env_id.partition(":")
    if not sep:
        return env_id
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise ValueError(
            f"--env {env_id!r} names module {module!r}, which cannot be imported: {error}"
        ) from error
    return name


def zoo_arguments(script: str, args: Sequence[str]) -> list[str]:
    """The zoo options for ``script``: ``args`` with ``--env MODULE:ID`` made ``--env ID`` and,
    for ``train`` on an env a shipped file covers, ``--conf-file`` set to that file unless
    given."""
    out: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--env":
            value = next(rest, None)
            out += [arg] if value is None else [arg, plain_env_id(value)]
        elif arg.startswith("--env="):
            out.append("--env=" + plain_env_id(arg.removeprefix("--env=")))
        else:
            out.append(arg)
    if script != "train":
        return out
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--algo", default="ppo")  # the zoo's default
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("-conf", "--conf-file", default=None)
    known, _ = parser.parse_known_args(out)
    if (
        known.conf_file is None
        and known.algo in shipped_algorithms()
        and known.env in hyperparameters(known.algo)
    ):
        out += ["--conf-file", str(hyperparameters_file(known.algo))]
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Run the zoo script ``argv[0]`` with the options ``argv[1:]`` (default: ``sys.argv``).

    :raises SystemExit: when ``argv[0]`` is not one of :data:`SCRIPTS`
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SCRIPTS:
        raise SystemExit(
            f"usage: python -m sb3_metadqn.zoo {{{','.join(SCRIPTS)}}} [RL Zoo options]; "
            f"got {args[:1] or 'nothing'} (`python -m sb3_metadqn.zoo train --help` lists "
            "the options)"
        )
    script = args[0]
    register()
    saved = sys.argv
    sys.argv = [f"sb3_metadqn.zoo {script}", *zoo_arguments(script, args[1:])]
    try:
        if script == "train":
            train()
        elif script == "enjoy":
            enjoy()
        else:
            runpy.run_module("rl_zoo3.record_video", run_name="__main__")
    finally:
        sys.argv = saved
