"""Helpers shared by the benchmark scripts: the machine and library versions written next
to every result, and a command line built from an ``Args`` dataclass."""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import hashlib
import inspect
import itertools
import os
import platform
import shlex
import textwrap
import typing
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np

import gym_metatasks

ArgsT = TypeVar("ArgsT")


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def load_average() -> list[float] | None:
    with contextlib.suppress(OSError, AttributeError):
        return [round(x, 2) for x in os.getloadavg()]
    return None


def source_digest(package_dir: Path) -> str:
    """SHA-256 over the package's ``.py`` files (paths and contents): identifies the code
    measured when it has no commit yet or has uncommitted edits."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def environment_info() -> dict[str, Any]:
    """Versions and machine (torch's version is read from its metadata, not imported)."""
    affinity = getattr(os, "sched_getaffinity", None)
    package_dir = Path(gym_metatasks.__file__).parent
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
        "torch": package_version("torch"),
        "gym_metatasks": gym_metatasks.__version__,
        "gym_metatasks_path": str(package_dir),
        "gym_metatasks_sha256": source_digest(package_dir),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity(0)) if affinity is not None else os.cpu_count(),
    }


def equivalent_command(module: str, args: Any) -> str:
    """A command line that reruns ``args`` (a dataclass instance) of ``python -m module``."""
    words = ["python", "-m", module]
    for field in dataclasses.fields(args):
        flag = "--" + field.name.replace("_", "-")
        value = getattr(args, field.name)
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            if value:  # an empty tuple is the default: nargs="+" cannot spell it
                words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (read from its source)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs


def build_parser(
    args_class: type[Any],
    module: str,
    description: str,
    choices: dict[str, list[str]] | None = None,
) -> argparse.ArgumentParser:
    """An argparse parser with one option per field of the dataclass ``args_class``;
    ``choices`` restricts the values of some fields."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=description.split("\n\n", 1)[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    hints = typing.get_type_hints(args_class)
    docs = field_docs(args_class)
    for field in dataclasses.fields(args_class):
        hint = hints[field.name]
        options: dict[str, Any] = {"default": field.default, "help": docs.get(field.name, " ")}
        if hint is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is tuple:
            options.update(nargs="+", type=typing.get_args(hint)[0])
            if choices and field.name in choices:
                options.update(choices=choices[field.name], metavar=field.name.upper())
        else:
            options["type"] = hint
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, dest=field.name, **options)
    return parser


def parse_args(
    parser: argparse.ArgumentParser, args_class: type[ArgsT], argv: Sequence[str] | None = None
) -> ArgsT:
    """Parse ``argv`` into an instance of ``args_class`` (lists become tuples)."""
    values = vars(parser.parse_args(argv))
    return args_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
