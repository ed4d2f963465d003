"""``metadqn info`` and ``metadqn --version``: what an artifact holds, what is installed.

An artifact is named by its path, or by a family id for the meta-learner embedded for that
family (``metadqn info MetaNav-v0``). The summary gives what it is, what it was trained on and
how (sources kept, the mapping network's guard figures, cost, command) and the file's size and
digest; ``--json`` prints the whole record.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import gym_metatasks
from sb3_metadqn import pretrained
from sb3_metadqn._version import __version__
from sb3_metadqn.io import artifacts

#: Installed distributions ``metadqn --version`` names next to the package.
DEPENDENCIES = ("gymnasium", "stable-baselines3", "torch", "numpy")
#: Width of the summary's labels.
_LABEL = 15


def version_text() -> str:
    """``metadqn X (gym_metatasks Y, gymnasium Z, ...)``: the versions that shape a result."""
    found = []
    for name in DEPENDENCIES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return f"metadqn {__version__} (gym_metatasks {gym_metatasks.__version__}, {', '.join(found)})"


def read_target(target: str) -> tuple[bytes, str]:
    """The bytes of the artifact ``target`` names (a path, or a family id with an embedded
    meta-learner) and where they came from.

    :raises FileNotFoundError: naming the path and the family ids that also work
    :raises ValueError: for a family id with no embedded meta-learner
    """
    path = Path(target)
    if path.is_file():
        return path.read_bytes(), f"artifact {str(path)!r}"
    if target in pretrained.available():
        return pretrained.artifact_bytes(target), f"embedded meta-learner {target}"
    if target in gym_metatasks.families():
        raise ValueError(
            f"no embedded meta-learner for {target}; embedded: {pretrained.available()}; "
            "pass the path of an artifact instead"
        )
    raise FileNotFoundError(
        f"no artifact at path={target!r}; a family id names its embedded meta-learner "
        f"({', '.join(pretrained.available())})"
    )


def describe(target: str) -> tuple[dict[str, Any], str, bytes]:
    """The artifact's ``info()`` record, its origin and its bytes."""
    data, origin = read_target(target)
    tensors, document = artifacts.decode(data, origin)
    return artifacts.from_parts(tensors, document, origin).info(), origin, data


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _short(value: Any) -> str:
    """A value on one line: numbers rounded, short lists and objects as JSON."""
    if isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value):
        return "[" + ", ".join(_number(v) for v in value) + "]"
    if isinstance(value, dict):
        text = ", ".join(f"{k} {_short(v)}" for k, v in value.items())
        return text if len(text) <= 120 else f"{len(value)} entries (see --json)"
    if isinstance(value, list):
        return f"{len(value)} entries (see --json)"
    return _number(value)


def _cost(record: dict[str, Any]) -> str | None:
    """``X core-seconds (source Y, mapper Z)`` from a training record's ``cost`` (or its
    ``core_seconds``, as task-conditioned pretraining records it)."""
    cost = record.get("cost") if isinstance(record.get("cost"), dict) else None
    if cost is None and "core_seconds" in record:
        cost = {"core_seconds": record["core_seconds"]}
    if not cost or "core_seconds" not in cost:
        return None
    parts = [
        f"{k.removesuffix('_cpu_seconds')} {v:,.1f}"
        for k, v in cost.items()
        if k.endswith("_cpu_seconds") and isinstance(v, (int, float))
    ]
    text = f"{float(cost['core_seconds']):,.1f} core-seconds"
    return text + (f" ({', '.join(parts)})" if parts else "")


def _selection(figures: dict[str, Any]) -> str:
    """The guard's figures and verdict: ``greedy-action agreement fitted 0.887, identity
    0.535: kept fitted``."""
    kept = f"kept {figures.get('kept', '?')}"
    if "fitted_agreement" in figures:
        return (
            f"greedy-action agreement over bank pairs: fitted "
            f"{_number(figures['fitted_agreement'])}, identity "
            f"{_number(figures['identity_agreement'])}; {kept}"
        )
    if "fitted_return" in figures:
        episodes = figures.get("episodes", "?")
        measured = ", exact" if episodes == "exact" else f" x {episodes} episodes"
        probe = figures.get("probe")
        start = "" if probe is None else f"; probe {probe[0]} sources x {probe[1]} episodes"
        return (
            f"validation return (normalized, {figures.get('validation_tasks', '?')} tasks"
            f"{measured}{start}): fitted {_number(figures['fitted_return'])}"
            f", identity {_number(figures['identity_return'])}; {kept}"
        )
    rest = ", ".join(f"{k} {_number(v)}" for k, v in figures.items() if k != "kept")
    return f"{rest}; {kept}"


def summary(info: dict[str, Any], origin: str, data: bytes) -> list[str]:
    """The readable lines of ``metadqn info``."""
    record = info.get("training") or info.get("pretraining") or {}
    env_id = info.get("env_id") or record.get("env_id") or "?"
    family_key = info.get("family_key") or record.get("family_key")
    lines = [
        ("kind", info.get("kind", "?")),
        ("family", env_id + (f" ({family_key})" if family_key else "")),
        ("file", f"{origin}, {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}"),
    ]
    if "method" in record:
        lines.append(("method", record["method"]))
    if "sources" in info:
        trained = record.get("bank_sources")
        below = record.get("sources_below_min_return")
        text = f"{info['sources']} kept"
        if trained is not None:
            text += f" of {trained} trained"
        above = record.get("sources_above_q_limit")
        left_out = [f"{below} below min_source_return"] if below else []
        left_out += [f"{above} above source_q_limit"] if above else []
        if left_out:
            text += f" ({', '.join(left_out)})"
        lines.append(("sources", text))
    selection = info.get("mapper_selection") or record.get("mapper_selection")
    if isinstance(selection, dict):
        lines.append(("mapper guard", _selection(selection)))
    shown = {"kind", "env_id", "family_key", "training", "pretraining", "sources"}
    shown |= {"mapper_selection", "package_version"}
    lines += [(key, _short(value)) for key, value in info.items() if key not in shown]
    config = record.get("config")
    if isinstance(config, dict):
        lines.append(("training config", _short(config)))
    cost = _cost(record)
    if cost is not None:
        lines.append(("meta-training", cost))
    lines.append(("command", record.get("command", "not recorded")))
    version = info.get("package_version") or record.get("package_version")
    if version is not None:
        lines.append(("built by", f"sb3_metadqn {version}"))
    return [f"{label + ':':<{_LABEL}} {value}" for label, value in lines]


def info_text(target: str, as_json: bool) -> str:
    """What ``metadqn info TARGET [--json]`` prints."""
    info, origin, data = describe(target)
    if as_json:
        return json.dumps(info, indent=1, default=str)
    return "\n".join(summary(info, origin, data))
