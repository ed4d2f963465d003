"""Attribution benchmark: where MetaDQN's head start comes from.

Part 1, the jumpstart (greedy normalized return of the initial Q-network, before any update)
on every task of a held-out split, for MetaDQN and each variant that removes or replaces one
of its parts, and for the baselines:

| variant | what starts the Q-network |
|---|---|
| ``metadqn`` | MetaDQN as shipped: the nearest kept source mapped by f_phi (on the physics families the best of the k nearest, mapped, by a return probe) |
| ``metadqn-no-probe`` | MetaDQN with the nearest kept source, without its probe (families with a probe) |
| ``nearest-source-probe`` | MetaDQN's probe over the k nearest sources as they are (no map) |
| ``metadqn-no-planner`` | MetaDQN meta-trained without the grid planner (same bank config) |
| ``mapped-farthest`` | the shipped mapper applied to the farthest kept source |
| ``mapped-random`` | the shipped mapper applied to a random kept source (seeded by task id) |
| ``mapped-shared-init`` | the shipped mapper applied to the untrained shared initialization |
| ``nearest-source`` | the nearest kept source unchanged (the identity map) |
| ``source-average`` | the mean of the 5 nearest sources' weights |
| ``hypernetwork`` / ``hypernetwork-planner`` | weights emitted from d_i, without / with the planner |
| ``task-conditioned`` | one network over (state, e(d_i)), multi-task DQN on rewards |
| ``task-conditioned-oracle`` | the same network fit to the exact Q* the bank's sources get |
| ``reptile`` | one meta-learned initialization |
| ``scratch`` | SB3's random initialization (seed 0) |
| ``linucb`` / ``most-popular`` | the population bandit (first session; only when named) |

"Kept sources" are the ones the meta-learner artifact holds (``keep_sources``, 64 spread over
the bank of every train task); ``mapped-shared-init`` maps the shared initialization with the
nearest kept source's descriptor as d_j. Variants a family cannot have are left out and listed (the planner needs a grid family;
the Q* fit needs an exact model). Grid families are evaluated exactly (dynamic programming on
the task's model); physics families by ``jumpstart_episodes`` sampled episodes per task.
``--split extrapolation`` (physics families) takes the family's extrapolation set instead:
explicit tasks with one parameter at half its lower or 1.5 times its upper sampling bound and
the others at their medians (``family.extrapolation_tasks()``; jumpstart only).
Every initialization but scratch's is the same for every seed, so a task counts once.
Aggregates over tasks: mean, IQM with a 95% bootstrap CI over tasks (rliable), the fraction
of tasks at >= 0.9, and each variant's meta-training cost in core-seconds.

Part 2, learning curves under the transfer protocol (``benchmarks.transfer``: same DQN
settings, exploration and evaluation) for a few variants.

    python -m benchmarks.attribution --env-id MetaNav-v0
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import transfer
from benchmarks.common import build_parser, environment_info, equivalent_command
from benchmarks.common import parse_args as common_parse_args
from gym_metatasks.atomic_io import write_atomic

RESULTS_DIR = Path(__file__).parent / "results" / "attribution"
VARIANTS = (
    "metadqn", "metadqn-no-planner", "metadqn-no-probe", "nearest-source-probe",
    "mapped-farthest", "mapped-random", "mapped-shared-init", "nearest-source", "source-average", "hypernetwork", "hypernetwork-planner",
    "task-conditioned", "task-conditioned-oracle", "reptile", "scratch",
)  # fmt: skip
#: Recommendation baselines, evaluated only when named (families with Discrete observations).
BANDITS = ("linucb", "most-popular")
KNOWN_VARIANTS = (*VARIANTS, *BANDITS)
#: Variants that exist only where the family has a grid planner / an exact model.
NEEDS_PLANNER = ("metadqn-no-planner", "hypernetwork-planner")
NEEDS_EXACT_MODEL = ("task-conditioned-oracle",)
#: Variants that are the shipped mapper applied to another start than the nearest source.
MAPPED = ("mapped-farthest", "mapped-random", "mapped-shared-init")
#: Variants that switch MetaDQN's probe off, or give it to the sources as they are; they
#: exist where MetaDQN has a probe (``FAMILY_PROBE``).
NEEDS_PROBE = ("metadqn-no-probe", "nearest-source-probe")
#: Variants measured by their jumpstart only.
JUMPSTART_ONLY = (*MAPPED, *NEEDS_PROBE)
#: A jumpstart build needs no replay memory: the initialization does not depend on it.
BUILD_KWARGS: dict[str, Any] = {"buffer_size": 1_000}


@dataclass(frozen=True)
class Args:
    """Command-line options, one per field."""

    env_id: str = "MetaNav-v0"
    """family to evaluate on"""
    split: str = "test"
    """held-out split: 'test' for reported results, 'validation' to choose settings,
    'extrapolation' for the physics families' extrapolation set (jumpstart only)"""
    variants: tuple[str, ...] = VARIANTS
    """jumpstart variants (see the module docstring)"""
    tasks: int = 0
    """jumpstart on the first N tasks of --split (0: every task, as reported)"""
    jumpstart_episodes: int = 20
    """sampled episodes per task where no exact model exists"""
    curves: tuple[str, ...] = (
        "metadqn", "metadqn-no-planner", "hypernetwork-planner", "task-conditioned-oracle",
        "nearest-source", "scratch",
    )  # fmt: skip
    """variants with learning curves (transfer protocol); or --skip-curves"""
    skip_curves: bool = False
    """skip part 2"""
    curve_tasks: int = 10
    """tasks of the learning curves (the first N of --split)"""
    curve_seeds: int = 5
    """seeds per (variant, task) of the learning curves"""
    timesteps: int = 30_000
    """env steps of each learning-curve run"""
    eval_freq: int = 1_000
    """steps between evaluations of a learning curve"""
    eval_episodes: int = 5
    """sampled episodes per evaluation where no exact model exists"""
    threshold: float = 0.9
    """normalized return to reach and keep"""
    threshold_return: float = float("nan")
    """if given: raw return to reach and keep instead (e.g. 475 for MetaCartPole-v0, -100 for
    MetaAcrobot-v0)"""
    workers: int = 2
    """parallel learning-curve runs"""
    artifact_dir: str = str(transfer.ARTIFACT_DIR)
    """where artifacts are read from, or meta-trained into first"""
    artifact_seed: int = 0
    """seed of artifacts meta-trained here"""
    artifact_option: tuple[str, ...] = ()
    """METHOD.KEY=VALUE changes to an artifact's meta-training options (see
    benchmarks.transfer; metadqn-no-planner.KEY=VALUE: a MetaTrainConfig, MapperConfig or
    MapperTrainingConfig field of the no-planner meta-learner)"""
    output_dir: str = str(RESULTS_DIR)
    """where the JSON, CSV and PNGs go"""
    run_cache: str = str(transfer.ARTIFACT_DIR.parent / "transfer-runs")
    """finished learning-curve runs (shared with benchmarks.transfer)"""
    rerun: tuple[str, ...] = ()
    """curve variants whose cached runs are run again (after a code change the run key does
    not see)"""


# --------------------------------------------------------------------------- artifacts
NO_PLANNER = "metadqn-no-planner"


def _transfer_args(args: Args, methods: tuple[str, ...] = ()) -> transfer.Args:
    return transfer.Args(
        env_id=args.env_id, methods=methods, tasks=args.curve_tasks, seeds=args.curve_seeds,
        timesteps=args.timesteps, eval_freq=args.eval_freq, eval_episodes=args.eval_episodes,
        threshold=args.threshold, threshold_return=args.threshold_return, split=args.split,
        workers=args.workers, artifact_dir=args.artifact_dir, artifact_seed=args.artifact_seed,
        output_dir=args.output_dir, run_cache=args.run_cache,
        artifact_option=tuple(
            o for o in args.artifact_option if not o.startswith(f"{NO_PLANNER}.")
        ),
    )  # fmt: skip


def no_planner_overrides(args: Args) -> dict[str, Any]:
    """The ``metadqn-no-planner.KEY=VALUE`` items of ``--artifact-option`` (KEY: a field of
    ``MetaTrainConfig``, ``MapperConfig`` or ``MapperTrainingConfig``)."""
    out = {}
    for item in args.artifact_option:
        target, sep, text = item.partition("=")
        name, _, key = target.rpartition(".")
        if name == NO_PLANNER and sep and key:
            out[key] = transfer.option_value(text)
    return out


def no_planner_artifact(args: Args, learner: Any) -> str:
    """The meta-learner trained like ``learner`` but without the planner (and with the
    ``metadqn-no-planner.KEY=VALUE`` artifact options), trained into ``artifact_dir`` first
    when missing; its path."""
    from sb3_metadqn import MapperConfig, MapperTrainingConfig, MetaTrainConfig, meta_train

    folder = Path(args.artifact_dir) / args.env_id
    embedded = hashlib.sha256(learner.to_bytes()).hexdigest()
    overrides = no_planner_overrides(args)
    identity = {"like": embedded, "planner": False, "seed": learner.training["config"]["seed"]}
    if overrides:
        identity["options"] = overrides
    path = transfer.artifact_path(folder, NO_PLANNER, identity)
    if not path.exists():
        import torch

        torch.set_num_threads(1)
        config = dict(learner.training["config"])
        for key in ("env_id", "planner"):
            config.pop(key, None)
        mapper = {**config["mapper"], "grid_size": None}
        mapper_training = dict(config["mapper_training"])
        mapper_fields = {f.name for f in dataclasses.fields(MapperConfig)}
        training_fields = {f.name for f in dataclasses.fields(MapperTrainingConfig)}
        # every MetaTrainConfig field, also those the learner's record leaves out (unset)
        config_fields = {f.name for f in dataclasses.fields(MetaTrainConfig)} - {
            "env_id",
            "planner",
        }
        for key, value in overrides.items():
            if key in mapper_fields:
                mapper[key] = value
            elif key in training_fields:
                mapper_training[key] = value
            elif key in config_fields:
                config[key] = value
            else:
                raise ValueError(
                    f"artifact_option {NO_PLANNER}.{key}: no such meta-training, MapperConfig "
                    f"or MapperTrainingConfig option; allowed: "
                    f"{sorted(config_fields | mapper_fields | training_fields)}"
                )
        config["mapper"] = MapperConfig(**mapper)
        config["mapper_training"] = MapperTrainingConfig(**mapper_training)
        print(f"meta-training MetaDQN without the planner into {path}")
        artifact = meta_train(
            args.env_id,
            planner=False,
            checkpoint_dir=path.with_suffix(".checkpoint"),
            **config,
        )
        artifact.training["command"] = equivalent_command("benchmarks.attribution", args)
        artifact.save(path)
    return str(path)


def variant_plan(args: Args, family: Any) -> tuple[list[str], dict[str, str]]:
    """The variants this family can have, and why the others are left out."""
    from sb3_metadqn import pretrained
    from sb3_metadqn.agents.metadqn import FAMILY_PROBE
    from sb3_metadqn.evaluation.rollouts import has_exact_model

    planner = pretrained.load(args.env_id).mapper.planner is not None
    skipped = {}
    for name in args.variants:
        if name in NEEDS_PLANNER and not planner:
            skipped[name] = "the family's meta-learner has no planner (not a grid family)"
        elif name in NEEDS_PROBE and args.env_id not in FAMILY_PROBE:
            skipped[name] = (
                "MetaDQN has no probe on this family (it starts from the nearest source)"
            )
        elif name in NEEDS_EXACT_MODEL and not has_exact_model(family):
            skipped[name] = "the family has no exact model to fit Q* from"
    return [v for v in args.variants if v not in skipped], skipped


def variant_artifacts(args: Args, variants: list[str]) -> dict[str, Any]:
    """The artifact (path, or None: the method's default) of every variant."""
    from sb3_metadqn import pretrained

    targs = _transfer_args(args)
    out: dict[str, Any] = {}
    for name in variants:
        if name == "metadqn-no-planner":
            out[name] = no_planner_artifact(args, pretrained.load(args.env_id))
        elif name in JUMPSTART_ONLY:
            out[name] = None  # the embedded meta-learner
        else:
            out[name] = transfer.prepare_artifact(name, targs)
    return out


def method_of(variant: str) -> str:
    """The registry method that builds a variant's model."""
    if variant in ("metadqn-no-planner", "metadqn-no-probe"):
        return "metadqn"
    if variant in (*MAPPED, "nearest-source-probe"):
        return "nearest-source"  # mapped variants: its model, with the mapped start written in
    return variant


def build_kwargs(variant: str, env_id: str) -> dict[str, Any]:
    """The keyword arguments a variant's jumpstart model is built with."""
    from sb3_metadqn.agents.metadqn import FAMILY_PROBE

    if variant == "metadqn-no-probe":
        return {**BUILD_KWARGS, "meta_candidates": 1, "meta_probe_episodes": 0}
    if variant == "nearest-source-probe":
        candidates, episodes = FAMILY_PROBE[env_id]
        return {**BUILD_KWARGS, "meta_candidates": candidates, "meta_probe_episodes": episodes}
    return dict(BUILD_KWARGS)


# --------------------------------------------------------------------------- jumpstart
def mapped_start(variant: str, learner: Any, descriptor: Any, task_seed: int) -> tuple[Any, dict]:
    """The shipped mapper applied to the start a ``mapped-*`` variant names."""
    import torch

    from sb3_metadqn.nets import qnet

    d = learner.check_descriptor(descriptor)
    distance = torch.linalg.vector_norm(learner.source_descriptors - d, dim=1)
    if variant == "mapped-farthest":
        j = int(distance.argmax())
    elif variant == "mapped-random":
        j = int(np.random.default_rng([task_seed, 1]).integers(learner.num_sources))
    else:
        j = int(distance.argmin())
        with torch.no_grad():
            mapped = learner.mapper(
                d.unsqueeze(0),
                learner.source_descriptors[j : j + 1],
                qnet.stack([learner.shared_init]),
            )
        record = {"mapped": "shared_init", "d_source_task_id": learner.source_task_ids[j]}
        return qnet.index(mapped, 0), record
    record = {"mapped": learner.source_task_ids[j], "descriptor_distance": float(distance[j])}
    return learner.map_source(descriptor, j), record


@functools.lru_cache(maxsize=32)
def _load(method_name: str, env_id: str, artifact: str | None) -> Any:
    """A method's artifact, read once per worker process."""
    from sb3_metadqn.evaluation.methods import get_method

    return get_method(method_name).load_artifact(env_id, artifact)


def evaluation_tasks(args: Args, family: Any) -> list[int | str]:
    """The tasks of ``--split``: ids, or the labels of the extrapolation set."""
    if args.split == "extrapolation":
        if not hasattr(family, "extrapolation_tasks"):
            raise ValueError(
                f"split 'extrapolation' needs a physics family; {args.env_id} has no "
                "extrapolation set"
            )
        tasks: list[int | str] = list(family.extrapolation_tasks())
    else:
        tasks = [int(t) for t in family.split_task_ids(args.split)]
    return tasks[: args.tasks or len(tasks)]


def resolve_task(family: Any, task: int | str) -> tuple[Any, int]:
    """A task of :func:`evaluation_tasks` as ``family`` takes it (an id or explicit
    parameters), and the integer that seeds its ``mapped-random`` draw."""
    if isinstance(task, int):
        return task, task
    extrapolation = family.extrapolation_tasks()
    return extrapolation[task], list(extrapolation).index(task)


def jumpstart_one(job: tuple[str, int | str, Args, Any]) -> dict[str, Any]:
    """One variant's greedy normalized return on one task before any update."""
    import torch

    torch.set_num_threads(1)
    import gym_metatasks
    from sb3_metadqn.evaluation.methods import get_method
    from sb3_metadqn.evaluation.rollouts import greedy_return_batched, greedy_value, has_exact_model
    from sb3_metadqn.nets import qnet

    variant, task_id, args, artifact = job
    family = gym_metatasks.family(args.env_id)
    task, task_seed = resolve_task(family, task_id)
    method = get_method(method_of(variant))
    loaded = _load(method.name, args.env_id, artifact)
    env = method.make_env(family, task)
    model = method.build(
        env, 0, build_kwargs(variant, args.env_id) if method.algorithm == "dqn" else {}, loaded
    )
    record = getattr(model, "meta_init", None)
    if variant in MAPPED:
        layers, record = mapped_start(variant, loaded, family.descriptor(task), task_seed)
        qnet.set_layers(model.q_net, layers)
    if has_exact_model(family):
        raw = greedy_value(model, family, task, env, args.jumpstart_episodes, seed=10_000)
    else:
        envs = [method.make_env(family, task) for _ in range(args.jumpstart_episodes)]
        raw = greedy_return_batched(model, envs, seed=10_000)
    return {
        "variant": variant,
        "task_id": task_id,
        "jumpstart": float(family.normalized_return(task, raw)),
        "return": raw,
        "init": _jsonable(record),
        "probe_env_steps": int((record or {}).get("probe_env_steps", 0)),
        "meta_training_core_seconds": get_method(
            "metadqn" if variant in MAPPED else method.name
        ).cost(loaded),
    }


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=float)) if value is not None else None


def _iqm_over_tasks(values: np.ndarray) -> tuple[float, float, float]:
    """IQM over tasks with a 95% bootstrap CI that resamples tasks (rliable; one run per
    task, so the tasks are the runs)."""
    return transfer._iqm_ci(values.reshape(-1, 1))


def summarize_jumpstarts(rows: list[dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    summary = {}
    for variant in variants:
        mine = sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["task_id"])
        values = np.array([r["jumpstart"] for r in mine])
        iqm, low, high = _iqm_over_tasks(values)
        summary[variant] = {
            "tasks": len(values),
            "mean": float(values.mean()),
            "iqm": iqm,
            "iqm_ci95": [low, high],
            "fraction_at_least_0.9": float((values >= 0.9).mean()),
            "meta_training_core_seconds": float(mine[0]["meta_training_core_seconds"]),
            "probe_env_steps_mean": float(np.mean([r["probe_env_steps"] for r in mine])),
        }
    return summary


def jumpstart_table(summary: dict[str, Any]) -> str:
    lines = [
        "| variant | mean | IQM [95% CI over tasks] | tasks >= 0.9 | probe env steps | "
        "meta-training core-s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for variant, s in summary.items():
        low, high = s["iqm_ci95"]
        lines.append(
            f"| {variant} | {s['mean']:.3f} | {s['iqm']:.3f} [{low:.3f}, {high:.3f}] | "
            f"{s['fraction_at_least_0.9']:.2f} | {s['probe_env_steps_mean']:,.0f} | "
            f"{s['meta_training_core_seconds']:,.0f} |"
        )
    return "\n".join(lines)


def plot_jumpstarts(summary: dict[str, Any], args: Args, tasks: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    iqm = np.array([summary[n]["iqm"] for n in names])
    ci = np.array([summary[n]["iqm_ci95"] for n in names])
    means = np.array([summary[n]["mean"] for n in names])
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.5))
    y = np.arange(len(names))[::-1]
    ax.barh(y, iqm, xerr=[iqm - ci[:, 0], ci[:, 1] - iqm], color="tab:blue", alpha=0.7)
    ax.plot(means, y, "k|", markersize=12, label="mean")
    ax.set_yticks(y, names)
    ax.axvline(0.0, color="grey", linewidth=0.8)
    ax.axvline(args.threshold, color="black", linewidth=0.8, linestyle=":")
    ax.set_xlabel("jumpstart: greedy normalized return before any update (IQM, 95% CI)")
    ax.set_title(f"{args.env_id}: {tasks} {args.split} tasks")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


# --------------------------------------------------------------------------- curves
def learning_curves(
    args: Args, artifacts: dict[str, Any], variants: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any], transfer.Args]:
    """The transfer protocol's runs of each curve variant (cached with the transfer
    benchmark's), labelled by variant."""
    from concurrent.futures import ProcessPoolExecutor

    import gym_metatasks

    labels = tuple(v for v in args.curves if v in variants)
    targs = _transfer_args(args, labels)
    family = gym_metatasks.family(args.env_id)
    tasks = [int(t) for t in family.split_task_ids(args.split)[: args.curve_tasks]]
    jobs = [
        (label, (method_of(label), t, s, targs, artifacts[label]))
        for t in tasks
        for s in range(args.curve_seeds)
        for label in labels
    ]
    keys = [transfer.run_key(*job[:3], job[3], job[4]) for _, job in jobs]
    cache = transfer.RunCache(Path(args.run_cache) / f"transfer_{args.env_id}.jsonl")
    todo = [
        (label, job, key)
        for (label, job), key in zip(jobs, keys, strict=True)
        if key not in cache.runs or label in args.rerun
    ]
    print(f"learning curves: {len(jobs) - len(todo)} of {len(jobs)} runs reused")
    with ProcessPoolExecutor(args.workers) as pool:
        for (label, _, key), result in zip(todo, pool.map(transfer._run, [j for _, j, _ in todo]), strict=True):  # fmt: skip
            cache.add(key, result)
            print(
                f"{label:<24} task {result['task_id']:>4} seed {result['seed']} "
                f"jumpstart {result['jumpstart']:6.3f} final {result['final']:6.3f}",
                flush=True,
            )
    results = [
        {**cache.runs[key], "method": label} for (label, _), key in zip(jobs, keys, strict=True)
    ]
    return results, transfer.summarize(results, targs), targs


# --------------------------------------------------------------------------- main
def main(args: Args) -> dict[str, Any]:
    from concurrent.futures import ProcessPoolExecutor

    import gym_metatasks

    unknown = sorted(set(args.variants) - set(KNOWN_VARIANTS))
    if unknown:
        raise ValueError(f"variants must be among {list(KNOWN_VARIANTS)}, got {unknown}")
    bad_curves = sorted(set(args.curves) - (set(args.variants) - set(JUMPSTART_ONLY)))
    if bad_curves and not args.skip_curves:
        raise ValueError(
            f"curves must be among the variants and not {list(JUMPSTART_ONLY)} "
            f"(jumpstart-only), got {bad_curves}"
        )
    if set(args.rerun) - set(args.curves):
        raise ValueError(
            f"rerun must name curve variants {list(args.curves)}, got {list(args.rerun)}"
        )
    if args.tasks < 0:
        raise ValueError(f"tasks must be >= 0 (0: every task), got {args.tasks}")
    if args.split not in ("validation", "test", "extrapolation"):
        raise ValueError(
            f"split must be 'validation', 'test' or 'extrapolation', got {args.split!r}"
        )
    if args.split == "extrapolation" and not args.skip_curves:
        raise ValueError("split 'extrapolation' is jumpstart only: pass --skip-curves")
    if args.jumpstart_episodes < 1:
        raise ValueError(f"jumpstart_episodes must be >= 1, got {args.jumpstart_episodes}")
    family = gym_metatasks.family(args.env_id)
    variants, skipped = variant_plan(args, family)
    artifacts = variant_artifacts(args, variants)
    tasks = evaluation_tasks(args, family)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    jobs = [(v, t, args, artifacts[v]) for v in variants for t in tasks]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(jumpstart_one, jobs, chunksize=8))
    jump_seconds = time.perf_counter() - t0
    summary = summarize_jumpstarts(rows, variants)
    report: dict[str, Any] = {
        "benchmark": "attribution",
        "command": equivalent_command("benchmarks.attribution", args),
        "args": asdict(args),
        "started_at": started,
        "environment": environment_info(),
        "evaluation": "exact"
        if getattr(family, "oracle", None) == "exact"
        else f"{args.jumpstart_episodes} sampled episodes per task",
        "skipped_variants": skipped,
        "artifacts": artifacts,
        "jumpstart_seconds": jump_seconds,
        "jumpstart": summary,
        "jumpstart_rows": rows,
    }
    out_dir = Path(args.output_dir)
    stem = f"attribution_{args.env_id}" + ("" if args.split == "test" else f"_{args.split}")
    plot_jumpstarts(summary, args, len(tasks), out_dir / f"{stem}_jumpstart.png")
    print(jumpstart_table(summary))
    if not args.skip_curves:
        results, curve_summary, targs = learning_curves(args, artifacts, variants)
        report["curves"] = {"summary": curve_summary, "results": results}
        report["curve_settings"] = {
            "dqn_settings": transfer.DQN_SETTINGS.get(args.env_id, {}),
            "scratch_exploration": transfer.SCRATCH_EXPLORATION.get(args.env_id, {}),
        }
        transfer.plot(results, targs, out_dir / f"{stem}_curves.png")
        print(transfer.table(curve_summary, targs))
    report["wall_seconds"] = time.perf_counter() - t0
    write_atomic(out_dir / f"{stem}.json", json.dumps(report, indent=1))
    write_csv(summary, out_dir / f"{stem}.csv")
    print(f"wrote {out_dir / stem}.json")
    return report


def write_csv(summary: dict[str, Any], path: Path) -> None:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["variant", "tasks", "mean", "iqm", "iqm_ci_low", "iqm_ci_high",
                     "fraction_at_least_0.9", "probe_env_steps_mean",
                     "meta_training_core_seconds"])  # fmt: skip
    for variant, s in summary.items():
        writer.writerow([variant, s["tasks"], s["mean"], s["iqm"], *s["iqm_ci95"],
                         s["fraction_at_least_0.9"], s["probe_env_steps_mean"],
                         s["meta_training_core_seconds"]])  # fmt: skip
    write_atomic(path, buffer.getvalue())


def parse_args(argv: list[str] | None = None) -> Args:
    parser = build_parser(
        Args,
        "benchmarks.attribution",
        __doc__ or "",
        choices={"variants": list(KNOWN_VARIANTS), "curves": list(KNOWN_VARIANTS)},
    )
    return common_parse_args(parser, Args, argv)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(parse_args())
