"""Benchmark figures drawn the way the field reports results (rliable), from the result
JSONs on disk.

Reads every attribution result (``results/attribution/attribution_ENV[_SPLIT].json``), every
env-throughput result (``results/env_throughput.json``, ``results/*/env_throughput.json``) and
every learn() throughput result (``results/learn_throughput_ENV.json``), whatever numbers they
hold, and writes into ``results/figures/``, for each attribution file ``STEM``:

- ``STEM_aggregates.png``: median, IQM, mean and optimality gap (the mean shortfall below 1,
  the optimal or reference return) of each variant's jumpstart, with 95% bootstrap CIs;
- ``STEM_profiles.png``: performance profiles, the fraction of tasks whose jumpstart exceeds
  tau, with 95% CI bands;
- ``STEM_improvement.png``: the probability that MetaDQN's jumpstart beats each other
  variant's on the same task (ties count half); with learning curves, a second panel for the
  area under the curve (a run of MetaDQN against a run of the other on the same task);
- ``STEM_curves.png`` (files with learning curves): IQM curves as small multiples;

and ``NAME.png`` for each throughput file (``env_throughput``, or its folder's name): the
ratio bars with whiskers over the repeats; ``learn_throughput_ENV.png`` for each
``results/learn_throughput_ENV.json``: learn() steps/s per model, whiskers over the repeats.
A jumpstart is one number per task, so its CIs resample tasks; the curves' resample runs
within tasks (rliable's stratified bootstrap). Every bootstrap has ``--reps`` resamples and
``--seed``; ``figures.json`` lists the inputs (with digests), the settings and every estimate
drawn.

    python -m benchmarks.figures
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rliable import metrics, plot_utils

from benchmarks import plots, transfer
from benchmarks.attribution import KNOWN_VARIANTS
from benchmarks.common import build_parser, environment_info, equivalent_command
from benchmarks.common import parse_args as common_parse_args
from gym_metatasks.atomic_io import write_atomic

RESULTS_DIR = Path(__file__).parent / "results"
#: The variant every other is compared with.
REFERENCE = "metadqn"
AGGREGATES = ("Median", "IQM", "Mean", "Optimality Gap")


@dataclass(frozen=True)
class Args:
    """Command-line options, one per field."""

    results_dir: str = str(RESULTS_DIR)
    """where the result JSONs are read"""
    output_dir: str = str(RESULTS_DIR / "figures")
    """where the PNGs and figures.json go"""
    reps: int = plots.FIGURE_REPS
    """bootstrap resamples of every confidence interval"""
    seed: int = plots.BOOTSTRAP_SEED
    """seed of every bootstrap"""


# --------------------------------------------------------------------------- reading
def attribution_reports(results_dir: Path) -> dict[str, dict[str, Any]]:
    """Every attribution result under ``results_dir/attribution``, by file stem."""
    reports = {}
    for path in sorted((results_dir / "attribution").glob("attribution_*.json")):
        report = json.loads(path.read_text())
        if report.get("benchmark") == "attribution":
            reports[path.stem] = {**report, "_path": path}
    return reports


def throughput_reports(results_dir: Path) -> dict[str, dict[str, Any]]:
    """Every env-throughput result, by figure name (its folder's, below ``results_dir``)."""
    reports = {}
    for path in [results_dir / "env_throughput.json", *sorted(results_dir.glob("*/env_throughput.json"))]:  # fmt: skip
        if path.is_file():
            name = "env_throughput" if path.parent == results_dir else path.parent.name
            reports[name] = {**json.loads(path.read_text()), "_path": path}
    return reports


def jumpstart_scores(report: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each variant's jumpstart on every task all variants were measured on, as a
    ``(1, tasks)`` matrix (rliable's runs x tasks; tasks in the file's order)."""
    by_variant: dict[str, dict[Any, float]] = {}
    for row in report["jumpstart_rows"]:
        by_variant.setdefault(row["variant"], {})[str(row["task_id"])] = float(row["jumpstart"])
    order = [v for v in report["jumpstart"] if v in by_variant]
    common = set.intersection(*(set(by_variant[v]) for v in order)) if order else set()
    tasks = [t for t in by_variant[order[0]] if t in common] if order else []
    return {v: np.array([[by_variant[v][t] for t in tasks]]) for v in order}


def colours(variants: list[str]) -> dict[str, Any]:
    """One colour per variant, the same in every figure (MetaDQN black)."""
    palette = plots.plt.get_cmap("tab20")
    known = [v for v in KNOWN_VARIANTS if v != REFERENCE]
    extra = [v for v in variants if v not in KNOWN_VARIANTS]
    table = {v: palette(k % 20) for k, v in enumerate([*known, *extra])}
    return {v: "black" if v == REFERENCE else table[v] for v in variants}


# --------------------------------------------------------------------------- estimates
def aggregate_metrics(scores: np.ndarray) -> np.ndarray:
    """Median, IQM, mean and optimality gap (to 1) of a runs x tasks matrix."""
    return np.array(
        [
            metrics.aggregate_median(scores),
            metrics.aggregate_iqm(scores),
            metrics.aggregate_mean(scores),
            metrics.aggregate_optimality_gap(scores, gamma=1.0),
        ]
    )


def jumpstart_improvement(
    scores: dict[str, np.ndarray], reps: int, seed: int
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """P(MetaDQN's jumpstart > the other's on a task) per other variant, with 95% CIs that
    resample tasks (the pair stays together), keyed ``"metadqn,OTHER"``."""
    pairs = {
        f"{REFERENCE},{v}": np.stack([scores[REFERENCE], s], axis=-1)
        for v, s in scores.items()
        if v != REFERENCE
    }

    def probability(stacked: np.ndarray) -> np.ndarray:
        return np.array([plots.probability_of_improvement(stacked[..., 0], stacked[..., 1])])

    point, interval = plots.interval_estimates(
        pairs, probability, reps=reps, seed=seed, task_bootstrap=True
    )
    return {k: float(v[0]) for k, v in point.items()}, {
        k: np.asarray(v).ravel() for k, v in interval.items()
    }


def auc_improvement(
    results: list[dict[str, Any]], reps: int, seed: int
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """P(a MetaDQN run's area under the curve > a run of the other on the same task), with
    95% CIs of rliable's stratified bootstrap of runs within tasks."""
    tasks = sorted({r["task_id"] for r in results})
    methods = list(dict.fromkeys(r["method"] for r in results))
    matrix = {m: transfer._matrix([r for r in results if r["method"] == m], "auc", tasks) for m in methods}  # fmt: skip
    pairs = {f"{REFERENCE},{m}": (matrix[REFERENCE], matrix[m]) for m in methods if m != REFERENCE}
    point, interval = plots.interval_estimates(
        pairs, plots.probability_of_improvement, reps=reps, seed=seed
    )
    return {k: float(v) for k, v in point.items()}, {
        k: np.asarray(v).ravel() for k, v in interval.items()
    }


# --------------------------------------------------------------------------- figures
def _title(report: dict[str, Any], scores: dict[str, np.ndarray]) -> str:
    args = report["args"]
    tasks = next(iter(scores.values())).shape[1] if scores else 0
    return f"{args['env_id']}: jumpstart on {tasks} {args['split']} tasks ({report['evaluation']})"


def plot_aggregates(
    scores: dict[str, np.ndarray], title: str, path: Path, reps: int, seed: int
) -> dict[str, Any]:
    point, interval = plots.interval_estimates(
        scores, aggregate_metrics, reps=reps, seed=seed, task_bootstrap=True
    )
    order = list(scores)[::-1]  # rliable draws the first algorithm at the bottom
    fig, _ = plot_utils.plot_interval_estimates(
        point, interval, metric_names=list(AGGREGATES), algorithms=order,
        colors=colours(order), xlabel="jumpstart (normalized return)", subfigure_width=3.6,
        row_height=0.42, xlabel_y_coordinate=-0.25 / max(len(order), 1) ** 0.5,
    )  # fmt: skip
    fig.suptitle(title, y=1.02)
    plots.save_png(fig, path)
    return {
        v: {
            name: [float(point[v][k]), *map(float, interval[v][:, k])]
            for k, name in enumerate(AGGREGATES)
        }
        for v in scores
    }


def plot_profiles(
    scores: dict[str, np.ndarray], title: str, path: Path, reps: int, seed: int
) -> None:
    values = np.concatenate([s.ravel() for s in scores.values()])
    taus = np.linspace(min(values.min(), 0.0), max(values.max(), 1.0), 101)
    profiles, cis = plots.performance_profiles(scores, taus, reps=reps, seed=seed, task_bootstrap=True)  # fmt: skip
    styles = ["solid", "dashed", "dotted", "dashdot"]
    fig, ax = plots.plt.subplots(figsize=(8, 5))
    plot_utils.plot_performance_profiles(
        profiles, taus, performance_profile_cis=cis, colors=colours(list(scores)), ax=ax,
        linestyles={v: "solid" if v == REFERENCE else styles[k % 4] for k, v in enumerate(scores)},
        xlabel=r"jumpstart (normalized return) $\tau$", ylabel=r"fraction of tasks above $\tau$",
        labelsize="medium", ticklabelsize="small", alpha=0.12,
    )  # fmt: skip
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    ax.set_title(title, fontsize=10)
    plots.save_png(fig, path)


def plot_improvement(
    panels: list[tuple[str, dict[str, float], dict[str, np.ndarray]]], title: str, path: Path
) -> None:
    fig, axes = plots.plt.subplots(
        1, len(panels), figsize=(5.0 * len(panels), 0.45 * len(panels[0][1]) + 1.6), squeeze=False
    )
    for ax, (name, point, interval) in zip(axes[0], panels, strict=True):
        others = [pair.split(",")[1] for pair in point]
        plot_utils.plot_probability_of_improvement(
            point, interval, ax=ax, colors=[colours(others)[o] for o in others],
            xlabel=f"P(MetaDQN > other), {name}", left_ylabel="", right_ylabel="",
            labelsize="medium", ticklabelsize="small", xticks=[0.0, 0.25, 0.5, 0.75, 1.0],
        )  # fmt: skip
        ax.set_xlim(0.0, 1.0)
    fig.suptitle(title)
    fig.tight_layout()
    plots.save_png(fig, path)


# --------------------------------------------------------------------------- main
def figures_of(stem: str, report: dict[str, Any], out: Path, args: Args) -> dict[str, Any]:
    """Every figure of one attribution result; returns the estimates drawn."""
    scores = jumpstart_scores(report)
    title = _title(report, scores)
    drawn: dict[str, Any] = {"input": report["_path"].name, "figures": []}
    drawn["aggregates"] = plot_aggregates(scores, title, out / f"{stem}_aggregates.png", args.reps, args.seed)  # fmt: skip
    plot_profiles(scores, title, out / f"{stem}_profiles.png", args.reps, args.seed)
    drawn["figures"] += [f"{stem}_aggregates.png", f"{stem}_profiles.png"]
    curves = (report.get("curves") or {}).get("results") or []
    if REFERENCE in scores and len(scores) > 1:
        panels = [("jumpstart", *jumpstart_improvement(scores, args.reps, args.seed))]
        if any(r["method"] == REFERENCE for r in curves):
            panels.append(("AUC", *auc_improvement(curves, args.reps, args.seed)))
        plot_improvement(panels, title.split(":")[0], out / f"{stem}_improvement.png")
        drawn["improvement"] = {
            name: {pair.split(",")[1]: [p[pair], *map(float, i[pair])] for pair in p}
            for name, p, i in panels
        }
        drawn["figures"].append(f"{stem}_improvement.png")
    if curves:
        cargs = report["args"]
        methods = list(dict.fromkeys(r["method"] for r in curves))
        plots.plot_curves(
            curves, methods, colours=colours(methods),
            threshold=cargs["threshold"], path=out / f"{stem}_curves.png", reps=args.reps,
            seed=args.seed, title=f"{cargs['env_id']}: {len({r['task_id'] for r in curves})} "
            f"{cargs['split']} tasks x {cargs['curve_seeds']} seeds",
        )  # fmt: skip
        drawn["figures"].append(f"{stem}_curves.png")
    return drawn


def main(args: Args) -> dict[str, Any]:
    if args.reps < 1:
        raise ValueError(f"reps must be >= 1, got {args.reps}")
    results_dir, out = Path(args.results_dir), Path(args.output_dir)
    report: dict[str, Any] = {
        "benchmark": "figures",
        "command": equivalent_command("benchmarks.figures", args),
        "args": asdict(args),
        "environment": environment_info(),
        "inputs": {},
        "attribution": {},
        "throughput": [],
    }
    for stem, attribution in attribution_reports(results_dir).items():
        report["attribution"][stem] = figures_of(stem, attribution, out, args)
        report["inputs"][_relative(attribution["_path"], results_dir)] = _digest(
            attribution["_path"]
        )
        print(f"{stem}: {', '.join(report['attribution'][stem]['figures'])}")
    for name, throughput in throughput_reports(results_dir).items():
        plots.plot_throughput(throughput, out / f"{name}.png")
        report["throughput"].append(f"{name}.png")
        report["inputs"][_relative(throughput["_path"], results_dir)] = _digest(throughput["_path"])
        print(f"{name}.png")
    for path in sorted(results_dir.glob("learn_throughput_*.json")):
        plots.plot_learn_throughput(json.loads(path.read_text()), out / f"{path.stem}.png")
        report["throughput"].append(f"{path.stem}.png")
        report["inputs"][_relative(path, results_dir)] = _digest(path)
        print(f"{path.stem}.png")
    write_atomic(out / "figures.json", json.dumps(report, indent=1))
    print(f"wrote {out / 'figures.json'}")
    return report


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _relative(path: Path, results_dir: Path) -> str:
    """``path`` below ``results_dir``, as figures.json names its inputs."""
    return path.relative_to(results_dir).as_posix()


def parse_args(argv: list[str] | None = None) -> Args:
    parser = build_parser(Args, "benchmarks.figures", __doc__ or "")
    return common_parse_args(parser, Args, argv)


if __name__ == "__main__":
    main(parse_args())
