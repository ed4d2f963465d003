"""Transfer benchmark: MetaDQN and every baseline on a family's held-out test tasks.

For every (method, task, seed): the greedy normalized return before any update (jumpstart),
every ``eval_freq`` steps, the steps until it reaches the threshold and stays, the final
value and the area under the curve; learn() env steps per second (evaluation excluded); and
next to it the method's meta-training cost in core-seconds, read from its artifact. Greedy
returns are exact (dynamic programming on the task's model) for the grid families and means
of ``eval_episodes`` sampled episodes (20 at step 0) for the physics families.

All DQN-based methods share every DQN hyperparameter (``DQN_SETTINGS``) and the evaluation
schedule. Exploration is each method's own: methods that start from task knowledge keep the
warm-start epsilon 0.05 (an agent restarted at epsilon 1 throws its head start away); DQN
from scratch and Reptile (a task-agnostic initialization) explore with DQN's schedule
(``SCRATCH_EXPLORATION``). The tabular agents use their own defaults.

Artifacts: the meta-learner methods (``metadqn``, ``nearest-source``, ``source-average``)
use the family's embedded meta-learner unless ``--meta-learner`` names one; the others read
``ARTIFACT_DIR/ENV_ID/METHOD.safetensors``, meta-trained there first (with the budgets of
``ARTIFACT_OPTIONS``, checkpointed and resumable) when it is missing.

Aggregates use rliable: IQM with stratified-bootstrap 95% CIs over all runs, the probability
that MetaDQN's area under the curve beats each other method's, and IQM learning curves (PNG).

    python -m benchmarks.transfer --env-id MetaNav-v0 --methods metadqn scratch reptile
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import plots
from benchmarks.common import build_parser, environment_info, equivalent_command
from benchmarks.common import parse_args as common_parse_args
from gym_metatasks.atomic_io import write_atomic

RESULTS_DIR = Path(__file__).parent / "results"
ARTIFACT_DIR = Path(__file__).resolve().parent.parent / ".cache" / "baselines"

#: Shared DQN hyperparameters per family (every DQN-based method). The grid families' and
#: MetaRecommend-v0's learning rates were chosen for DQN from scratch on validation tasks (benchmarks README,
#: "Settings and where they were chosen"); the physics families' are the zoo's for the
#: Gymnasium original (Acrobot: one gradient step per two env steps), as their sources use.
DQN_SETTINGS: dict[str, dict[str, Any]] = {
    "MetaNav-v0": {
        "learning_rate": 4e-3,
        "buffer_size": 50_000,
        "learning_starts": 1_000,
        "batch_size": 64,
        "train_freq": 4,
        "target_update_interval": 500,
    },
    "MetaFrozenLake-v0": {
        "learning_rate": 1e-3,
        "buffer_size": 50_000,
        "learning_starts": 1_000,
        "batch_size": 64,
        "train_freq": 4,
        "target_update_interval": 500,
    },
    "MetaCartPole-v0": {
        "learning_rate": 2.3e-3,
        "buffer_size": 100_000,
        "learning_starts": 1_000,
        "batch_size": 64,
        "train_freq": 256,
        "gradient_steps": 128,
        "target_update_interval": 10,
    },
    "MetaAcrobot-v0": {
        "learning_rate": 6.3e-4,
        "buffer_size": 50_000,
        "learning_starts": 1_000,
        "batch_size": 128,
        "train_freq": 16,
        "gradient_steps": 8,
        "target_update_interval": 250,
    },
    "MetaMountainCar-v0": {
        "learning_rate": 4e-3,
        "buffer_size": 10_000,
        "learning_starts": 1_000,
        "batch_size": 128,
        "train_freq": 16,
        "gradient_steps": 8,
        "target_update_interval": 600,
    },
    "MetaRecommend-v0": {
        "learning_rate": 2.5e-4,
        "buffer_size": 50_000,
        "learning_starts": 1_000,
        "batch_size": 64,
        "train_freq": 4,
        "target_update_interval": 500,
    },
}
#: Exploration of the methods that start without task knowledge (SB3's defaults, or the
#: zoo's for the physics families).
SCRATCH_EXPLORATION: dict[str, dict[str, Any]] = {
    "MetaCartPole-v0": {
        "exploration_fraction": 0.16,
        "exploration_initial_eps": 1.0,
        "exploration_final_eps": 0.04,
    },
    "MetaAcrobot-v0": {
        "exploration_fraction": 0.12,
        "exploration_initial_eps": 1.0,
        "exploration_final_eps": 0.1,
    },
    "MetaMountainCar-v0": {
        "exploration_fraction": 0.2,
        "exploration_initial_eps": 1.0,
        "exploration_final_eps": 0.07,
    },
}
#: Seed of every bootstrap (same runs, same confidence intervals).
BOOTSTRAP_SEED = plots.BOOTSTRAP_SEED
#: Meta-training budgets of the artifacts trained here (options of each method's trainer).
ARTIFACT_OPTIONS: dict[str, dict[str, Any]] = {
    "metadqn": {"rounds": 2, "backend": "local"},
    "reptile": {"iterations": 500, "meta_batch_size": 8},
    "hypernetwork": {"steps": 8000, "backend": "local"},
    "hypernetwork-planner": {"steps": 8000, "backend": "local"},
    "task-conditioned": {"total_timesteps": 200_000},
    "task-conditioned-oracle": {"steps": 20_000},
    "meta-tabular": {"num_sources": 800},
}
#: Per-family changes to ARTIFACT_OPTIONS: families whose sources are DQN-trained get the
#: bank size of their embedded meta-learner (``make pretrained``), so every bank method
#: sees the same number of sources (benchmarks README, "Settings and where they were chosen").
FAMILY_ARTIFACT_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "MetaCartPole-v0": {
        # 4,000 fit steps: the 8,000 chosen on the grid families was not re-checked here
        "hypernetwork": {"num_sources": 48, "chunk_size": 4, "steps": 4000},
        "reptile": {"iterations": 20, "meta_batch_size": 4},
    },
    "MetaAcrobot-v0": {
        "hypernetwork": {"num_sources": 16, "chunk_size": 4, "steps": 4000},
        "reptile": {"iterations": 20, "meta_batch_size": 4},
        "task-conditioned": {"total_timesteps": 100_000},
    },
    "MetaMountainCar-v0": {
        "hypernetwork": {"num_sources": 16, "chunk_size": 4, "steps": 4000},
        "reptile": {"iterations": 20, "meta_batch_size": 4},
        "task-conditioned": {"total_timesteps": 100_000},
    },
}


def artifact_options(method: str, env_id: str, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """The meta-training options of a method's artifact on a family, with ``overrides``
    (``"METHOD.KEY=VALUE"``, JSON values) applied.

    :raises ValueError: for an override that is not ``METHOD.KEY=VALUE`` or names no method
    """
    from sb3_metadqn.evaluation.methods import METHODS

    options = {
        **ARTIFACT_OPTIONS.get(method, {}),
        **FAMILY_ARTIFACT_OPTIONS.get(env_id, {}).get(method, {}),
    }
    for item in overrides:
        target, sep, text = item.partition("=")
        name, dot, key = target.rpartition(".")
        if not sep or not dot or not key:
            raise ValueError(f"artifact_option must be METHOD.KEY=VALUE, got {item!r}")
        if name not in METHODS:
            raise ValueError(
                f"artifact_option {item!r} names method {name!r}; methods: {list(METHODS)}"
            )
        if name == method:
            options[key] = option_value(text)
    return options


def option_value(text: str) -> Any:
    """A command-line option value: JSON when it parses, else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def dqn_settings(env_id: str, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """The shared DQN hyperparameters of a family, with ``overrides`` (``"KEY=VALUE"``, JSON
    values) applied.

    :raises ValueError: for an override that is not ``KEY=VALUE`` or names no DQN argument
    """
    import inspect

    from stable_baselines3 import DQN

    allowed = set(inspect.signature(DQN.__init__).parameters) - {
        "self", "policy", "env", "seed", "device", "_init_setup_model",
    }  # fmt: skip
    settings = dict(DQN_SETTINGS.get(env_id, {}))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in allowed:
            raise ValueError(
                f"dqn_option must be KEY=VALUE with KEY a DQN argument ({sorted(allowed)}), "
                f"got {item!r}"
            )
        settings[key] = option_value(text)
    return settings


def artifact_path(folder: Path, name: str, identity: dict[str, Any]) -> Path:
    """Where a method's artifact lives: its name and a digest of everything that determines
    it (every meta-training option and the seed), so an artifact trained otherwise is never
    reused."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return folder / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}.safetensors"


@dataclass(frozen=True)
class Args:
    """Command-line options, one per field."""

    env_id: str = "MetaNav-v0"
    """family to evaluate on (its --split)"""
    methods: tuple[str, ...] = ("metadqn", "scratch")
    """methods to compare (names of sb3_metadqn.evaluation.methods.METHODS)"""
    tasks: int = 10
    """N tasks of --split, from --first-task on"""
    first_task: int = 0
    """index in --split of the first task (e.g. 10: tasks disjoint from the default's)"""
    seeds: int = 5
    """seeds per (method, task)"""
    timesteps: int = 30_000
    """env steps of each run"""
    eval_freq: int = 1_000
    """steps between greedy evaluations"""
    eval_episodes: int = 5
    """greedy episodes per evaluation"""
    threshold: float = 0.9
    """normalized return to reach and keep"""
    split: str = "test"
    """the split evaluated: 'test' for reported results, 'validation' to choose settings"""
    threshold_return: float = float("nan")
    """if given: raw return to reach and keep instead (e.g. 475 for MetaCartPole-v0, -100 for
    MetaAcrobot-v0)"""
    workers: int = 2
    """parallel runs (one torch thread each)"""
    meta_learner: str = ""
    """meta-learner artifact of the meta-learner methods ('': the embedded one)"""
    artifact_dir: str = str(ARTIFACT_DIR)
    """where the other methods' artifacts are read from, or meta-trained into first"""
    artifact_seed: int = 0
    """seed of artifacts meta-trained here"""
    output_dir: str = str(RESULTS_DIR)
    """where the JSON, CSV and PNG go"""
    run_cache: str = str(ARTIFACT_DIR.parent / "transfer-runs")
    """finished runs are appended here and reused by a rerun with the same settings"""
    anchor_rate: float = -1.0
    """if >= 0: the anchor_rate of every WarmStartDQN method (an ablation; else each one's own)"""
    action_anchor: float = -1.0
    """if >= 0: the action_anchor of every WarmStartDQN method (an ablation; else each one's
    own)"""
    rerun: tuple[str, ...] = ()
    """methods whose cached runs are redone (the cache does not see code changes)"""
    artifact_option: tuple[str, ...] = ()
    """METHOD.KEY=VALUE changes to an artifact's meta-training options (JSON values), e.g.
    task-conditioned-oracle.steps=20000 (to choose settings on validation tasks)"""
    dqn_option: tuple[str, ...] = ()
    """KEY=VALUE changes to the shared DQN_SETTINGS (JSON values), e.g. learning_rate=0.001
    (to choose settings on validation tasks)"""


def prepare_artifact(method_name: str, args: Args) -> str | None:
    """The path of the method's artifact (None: the method's default), meta-training it into
    ``args.artifact_dir`` first when it is not there yet."""
    from sb3_metadqn import pretrained
    from sb3_metadqn.evaluation.methods import get_method

    method = get_method(method_name)
    artifact_options(method_name, args.env_id, args.artifact_option)  # bad overrides fail here
    if method.artifact is None:
        return None
    name = "metadqn" if method.artifact == "meta-learner" else method_name
    if method.artifact == "meta-learner" and (
        args.meta_learner or args.env_id in pretrained.available()
    ):
        if any(item.startswith(f"{method_name}.") for item in args.artifact_option):
            raise ValueError(
                f"artifact_option for {method_name!r} cannot apply: it uses "
                f"{args.meta_learner or 'the embedded meta-learner'}, which is not trained here"
            )
        return args.meta_learner or None
    folder = Path(args.artifact_dir) / args.env_id
    options = artifact_options(name, args.env_id, args.artifact_option)
    path = artifact_path(folder, name, {"options": options, "seed": args.artifact_seed})
    if not path.exists():
        import torch

        torch.set_num_threads(1)  # core-seconds of one core, as the runs use
        print(f"meta-training the {method.artifact} of {method_name} ({options}) into {path}")
        artifact = method.train_artifact(
            args.env_id,
            seed=args.artifact_seed,
            checkpoint_dir=path.with_suffix(".checkpoint"),
            **options,
        )
        method.record_command(artifact, equivalent_command("benchmarks.transfer", args))
        method.save_artifact(artifact, path)
    return str(path)


#: MetaDQN's default ``action_anchor`` per family while run keys did not record it: a run
#: with these defaults keeps its key, a run with another default gets a new one.
UNRECORDED_ACTION_ANCHOR: dict[str, float] = {
    "MetaNav-v0": 10.0,
    "MetaFrozenLake-v0": 0.0,
    "MetaCartPole-v0": 10.0,
    "MetaAcrobot-v0": 10.0,
    "MetaMountainCar-v0": 10.0,
    "MetaRecommend-v0": 0.0,
}


def anchor_override(method: str, args: Args) -> dict[str, float]:
    """``{"anchor_rate": ..., "action_anchor": ...}`` (those set with ``--anchor-rate`` and
    ``--action-anchor``) when the method's model is a WarmStartDQN, else nothing."""
    from sb3_metadqn.evaluation.methods import get_method

    if not get_method(method).warm_start_dqn:
        return {}
    chosen = {"anchor_rate": args.anchor_rate, "action_anchor": args.action_anchor}
    return {key: value for key, value in chosen.items() if value >= 0}


def run_key(method: str, task_id: int, seed: int, args: Args, artifact: str | None) -> str:
    """What determines a run's result: method, task, seed, budget, evaluation, shared
    hyperparameters and the artifact's bytes (a changed artifact is a new run)."""
    digest = None
    if artifact is not None:
        digest = hashlib.sha256(Path(artifact).read_bytes()).hexdigest()
    elif method in ("metadqn", "nearest-source", "source-average"):
        from sb3_metadqn import pretrained

        digest = hashlib.sha256(pretrained.load(args.env_id).to_bytes()).hexdigest()
    import gym_metatasks
    from sb3_metadqn.evaluation.rollouts import JUMPSTART_EPISODES, has_exact_model

    exact = has_exact_model(gym_metatasks.family(args.env_id))
    fields = {
        "method": method, "env_id": args.env_id, "task_id": task_id, "seed": seed,
        "timesteps": args.timesteps, "eval_freq": args.eval_freq,
        "eval_episodes": "exact" if exact else args.eval_episodes,
        "jumpstart_episodes": None if exact else JUMPSTART_EPISODES,
        "threshold": args.threshold,
        # -1.0 (the former "not given") keeps the keys of earlier runs
        "threshold_return": -1.0 if math.isnan(args.threshold_return) else args.threshold_return,
        "dqn_settings": dqn_settings(args.env_id, args.dqn_option),
        "scratch_exploration": SCRATCH_EXPLORATION.get(args.env_id, {}), "artifact": digest,
    }  # fmt: skip
    # only when set: the keys of runs with each method's own anchor_rate stay as they were
    fields.update(anchor_override(method, args))
    if method == "metadqn":
        from sb3_metadqn.agents.metadqn import FAMILY_ACTION_ANCHOR, FAMILY_PROBE

        if args.env_id in FAMILY_PROBE:  # MetaDQN's probe (keys elsewhere stay as they were)
            fields["probe"] = list(FAMILY_PROBE[args.env_id])
        anchor = FAMILY_ACTION_ANCHOR.get(args.env_id, 0.0)
        if "action_anchor" not in fields and anchor != UNRECORDED_ACTION_ANCHOR.get(
            args.env_id, 0.0
        ):  # the family's default anchor changed: a new run (the same as --action-anchor)
            fields["action_anchor"] = anchor
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


class RunCache:
    """Finished runs, one JSON line each (a torn last line from a crash is ignored)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runs: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.runs[entry["key"]] = entry["result"]

    def add(self, key: str, result: dict[str, Any]) -> None:
        self.runs[key] = result
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps({"key": key, "result": result}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _run(job: tuple[str, int, int, Args, str | None]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    import gym_metatasks
    from sb3_metadqn.evaluation.methods import get_method
    from sb3_metadqn.evaluation.transfer import run_transfer

    method, task_id, seed, args, artifact = job
    dqn_kwargs = dqn_settings(args.env_id, args.dqn_option)
    dqn_kwargs.update(anchor_override(method, args))
    if not get_method(method).starts_informed:
        dqn_kwargs.update(SCRATCH_EXPLORATION.get(args.env_id, {}))
    family = gym_metatasks.family(args.env_id)
    threshold = args.threshold
    if not math.isnan(args.threshold_return):
        threshold = float(family.normalized_return(task_id, args.threshold_return))
    result = run_transfer(
        method,
        args.env_id,
        task_id,
        seed,
        total_timesteps=args.timesteps,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        threshold=threshold,
        dqn_kwargs=dqn_kwargs,
        artifact=artifact,
    )
    return {**result.to_dict(), "threshold": threshold}


def _interval_estimates(*args: Any, **kwargs: Any) -> Any:
    """rliable's ``get_interval_estimates`` with the bootstrap seeded by BOOTSTRAP_SEED."""
    return plots.interval_estimates(*args, seed=BOOTSTRAP_SEED, **kwargs)


def _matrix(rows: list[dict[str, Any]], key: str, tasks: list[int]) -> np.ndarray:
    """runs x tasks (rliable's layout), in seed order."""
    return np.array(
        [
            [r[key] for r in sorted(rows, key=lambda r: r["seed"]) if r["task_id"] == t]
            for t in tasks
        ],
        dtype=float,
    ).T


def _iqm_ci(values: np.ndarray, reps: int = 2000) -> tuple[float, float, float]:
    """IQM over all runs with a 95% stratified-bootstrap CI (runs x tasks matrix)."""
    from rliable import metrics

    point, interval = _interval_estimates(
        {"m": values},
        lambda x: np.array([metrics.aggregate_iqm(x)]),
        reps=reps,
    )
    return float(point["m"][0]), float(interval["m"][0][0]), float(interval["m"][1][0])


def _probability_of_improvement(x: np.ndarray, y: np.ndarray) -> list[float]:
    """P(a run of x beats a run of y on the same task), with a 95% bootstrap CI."""
    from rliable import metrics

    point, interval = _interval_estimates(
        {"pair": (x, y)},
        metrics.probability_of_improvement,
        reps=1000,
    )
    low, high = np.asarray(interval["pair"]).ravel()
    return [float(point["pair"]), float(low), float(high)]


def fell_below_after_reaching(values: list[float], threshold: float) -> float | None:
    """The lowest value after the curve first reached ``threshold``, when it is below it;
    None if the curve never reached it or never fell below it again."""
    first = next((k for k, v in enumerate(values) if v >= threshold), None)
    if first is None:
        return None
    lowest = min(values[first:])
    return lowest if lowest < threshold else None


def iqm_curve_after_reaching(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """The drop check on the method's IQM learning curve (over all runs at each evaluation):
    whether it reached ``threshold`` and the lowest IQM from the first evaluation that did."""
    length = min(len(r["values"]) for r in rows)
    curve = plots.iqm_per_evaluation(np.array([r["values"][:length] for r in rows]))
    first = next((k for k, v in enumerate(curve) if v >= threshold), None)
    return {
        "iqm_curve_reached": first is not None,
        "iqm_curve_lowest_after_reaching": None if first is None else float(min(curve[first:])),
    }


def summarize(results: list[dict[str, Any]], args: Args) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    tasks = sorted({r["task_id"] for r in results})
    methods = [m for m in args.methods if any(r["method"] == m for r in results)]
    for method in methods:
        rows = [r for r in results if r["method"] == method]
        # censored at the budget when never reached
        steps = [
            args.timesteps if r["steps_to_threshold"] is None else r["steps_to_threshold"]
            for r in rows
        ]
        drops = [
            fell_below_after_reaching(r["values"], r.get("threshold", args.threshold)) for r in rows
        ]
        jump = _iqm_ci(_matrix(rows, "jumpstart", tasks))
        final = _iqm_ci(_matrix(rows, "final", tasks))
        auc = _iqm_ci(_matrix(rows, "auc", tasks))
        summary[method] = {
            "runs": len(rows),
            "jumpstart_mean": float(np.mean([r["jumpstart"] for r in rows])),
            "jumpstart_iqm": jump[0],
            "jumpstart_iqm_ci95": [jump[1], jump[2]],
            "final_iqm": final[0],
            "final_iqm_ci95": [final[1], final[2]],
            "auc_iqm": auc[0],
            "auc_iqm_ci95": [auc[1], auc[2]],
            "reached_threshold": sum(r["steps_to_threshold"] is not None for r in rows),
            "reached_ever": sum(
                max(r["values"]) >= r.get("threshold", args.threshold) for r in rows
            ),
            "fell_below_after_reaching": sum(d is not None for d in drops),
            "lowest_after_falling": min((d for d in drops if d is not None), default=None),
            **iqm_curve_after_reaching(rows, args.threshold),
            "steps_to_threshold_median": float(np.median(steps)),
            "steps_to_threshold_mean": float(np.mean(steps)),
            "meta_training_core_seconds": float(rows[0]["meta_training_core_seconds"]),
            "probe_env_steps_mean": float(np.mean([r.get("probe_env_steps", 0) for r in rows])),
            "env_steps_per_second_median": float(
                np.median([r["env_steps_per_second"] for r in rows])
            ),
        }
    if "metadqn" in summary:
        ours = _matrix([r for r in results if r["method"] == "metadqn"], "auc", tasks)
        summary["metadqn_auc_probability_of_improvement"] = {
            m: _probability_of_improvement(
                ours, _matrix([r for r in results if r["method"] == m], "auc", tasks)
            )
            for m in methods
            if m != "metadqn"
        }
        if "scratch" in summary:
            a, b = summary["metadqn"], summary["scratch"]
            summary["steps_ratio_median"] = a["steps_to_threshold_median"] / max(
                b["steps_to_threshold_median"], 1
            )
    return summary


def table(summary: dict[str, Any], args: Args) -> str:
    """The summary as a markdown table (the benchmarks README's format)."""
    lines = [
        "| method | jumpstart IQM [95% CI] | reached and stayed | steps to threshold: median / mean "
        "| final IQM [95% CI] | AUC IQM [95% CI] | fell below after reaching (lowest) "
        "| IQM curve after reaching the normalized threshold: lowest | meta-training core-s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method in args.methods:
        if method not in summary:
            continue
        s = summary[method]

        def ci(key: str, s: dict[str, Any] = s) -> str:
            low, high = s[f"{key}_iqm_ci95"]
            return f"{s[f'{key}_iqm']:.3f} [{low:.3f}, {high:.3f}]"

        lines.append(
            f"| {method} | {ci('jumpstart')} | {s['reached_threshold']}/{s['runs']} | "
            f"{s['steps_to_threshold_median']:,.0f} / {s['steps_to_threshold_mean']:,.0f} | "
            f"{ci('final')} | {ci('auc')} | {_drops(s)} | {_curve_drop(s)} | "
            f"{s['meta_training_core_seconds']:,.0f} |"
        )
    return "\n".join(lines)


def _drops(s: dict[str, Any]) -> str:
    """``k of n`` runs that fell below the threshold after reaching it, with the lowest value."""
    if not s["reached_ever"]:
        return "never reached"
    text = f"{s['fell_below_after_reaching']} of {s['reached_ever']}"
    if s["lowest_after_falling"] is not None:
        text += f" ({s['lowest_after_falling']:.2f})"
    return text


def _curve_drop(s: dict[str, Any]) -> str:
    """The IQM curve's lowest value once it reached the normalized threshold."""
    lowest = s["iqm_curve_lowest_after_reaching"]
    return "never reached" if lowest is None else f"{lowest:.3f}"


def plot(results: list[dict[str, Any]], args: Args, path: Path) -> None:
    """IQM greedy normalized return against env steps, with 95% CIs: one panel per method,
    each next to MetaDQN."""
    tasks = len({r["task_id"] for r in results})
    plots.plot_curves(
        results,
        list(args.methods),
        threshold=args.threshold,
        title=f"{args.env_id}: {tasks} {args.split} tasks x {args.seeds} seeds",
        path=path,
    )


def write_csv(summary: dict[str, Any], args: Args, path: Path) -> None:
    keys = [
        "runs", "jumpstart_mean", "jumpstart_iqm", "final_iqm", "auc_iqm", "reached_threshold",
        "steps_to_threshold_median", "steps_to_threshold_mean", "reached_ever",
        "fell_below_after_reaching", "lowest_after_falling", "iqm_curve_reached",
        "iqm_curve_lowest_after_reaching", "probe_env_steps_mean",
        "meta_training_core_seconds", "env_steps_per_second_median",
    ]  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["method", *keys])
    for method in args.methods:
        if method in summary:
            writer.writerow([method, *(summary[method][k] for k in keys)])
    write_atomic(path, buffer.getvalue())


def main(args: Args) -> dict[str, Any]:
    import gym_metatasks
    from sb3_metadqn.evaluation.methods import get_method

    for method in (*args.methods, *args.rerun):
        get_method(method)  # unknown names fail before any work
    family = gym_metatasks.family(args.env_id)
    if args.split not in ("validation", "test"):
        raise ValueError(f"split must be 'validation' or 'test', got {args.split!r}")
    held_out = family.split_task_ids(args.split)
    if not 0 <= args.first_task < len(held_out) or args.first_task + args.tasks > len(held_out):
        raise ValueError(
            f"first_task + tasks must fit the {len(held_out)} {args.split} tasks of "
            f"{args.env_id}, got first_task={args.first_task}, tasks={args.tasks}"
        )
    tasks = [int(t) for t in held_out[args.first_task : args.first_task + args.tasks]]
    dqn_settings(args.env_id, args.dqn_option)  # bad overrides fail before any work
    artifacts = {m: prepare_artifact(m, args) for m in args.methods}
    jobs = [
        (m, t, s, args, artifacts[m])
        for t in tasks
        for s in range(args.seeds)
        for m in args.methods
    ]
    keys = [run_key(m, t, s, args, a) for m, t, s, _, a in jobs]
    cache = RunCache(Path(args.run_cache) / f"transfer_{args.env_id}.jsonl")
    todo = [
        (job, key)
        for job, key in zip(jobs, keys, strict=True)
        if key not in cache.runs or job[0] in args.rerun
    ]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} runs reused from {cache.path}")
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        for (_, key), result in zip(todo, pool.map(_run, [job for job, _ in todo]), strict=True):
            cache.add(key, result)
            reached = result["steps_to_threshold"]
            print(
                f"{result['method']:<16} task {result['task_id']:>4} seed {result['seed']} "
                f"jumpstart {result['jumpstart']:6.3f} steps>=thr {reached!s:>6} "
                f"final {result['final']:6.3f} {result['env_steps_per_second']:7.0f} steps/s",
                flush=True,
            )
    results = [cache.runs[key] for key in keys]
    summary = summarize(results, args)
    report = {
        "benchmark": "transfer",
        "command": equivalent_command("benchmarks.transfer", args),
        "args": asdict(args),
        "started_at": started,
        "wall_seconds": time.perf_counter() - t0,
        "environment": environment_info(),
        "dqn_settings": dqn_settings(args.env_id, args.dqn_option),
        "scratch_exploration": SCRATCH_EXPLORATION.get(args.env_id, {}),
        "artifacts": {m: artifacts[m] for m in args.methods},
        "artifact_options": {
            m: artifact_options(m, args.env_id, args.artifact_option) for m in args.methods
        },
        "summary": summary,
        "results": results,
    }
    out_dir = Path(args.output_dir)
    out = out_dir / f"transfer_{args.env_id}.json"
    write_atomic(out, json.dumps(report, indent=1))
    write_csv(summary, args, out_dir / f"transfer_{args.env_id}.csv")
    plot(results, args, out_dir / f"transfer_{args.env_id}.png")
    print(table(summary, args))
    print(f"wrote {out}")
    return report


def parse_args(argv: list[str] | None = None) -> Args:
    from sb3_metadqn.evaluation.methods import METHODS

    parser = build_parser(
        Args, "benchmarks.transfer", __doc__ or "", choices={"methods": list(METHODS)}
    )
    return common_parse_args(parser, Args, argv)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(parse_args())
