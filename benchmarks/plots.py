"""Seeded rliable estimates and the figures the benchmark scripts share.

rliable 1.2's bootstraps draw their resampling indices from NumPy's global RNG (they ignore
``random_state`` for those), so every estimate here seeds the global RNG for the call and
restores it afterwards: the same scores and seed give the same intervals.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from rliable import library
from scipy import stats

from gym_metatasks.atomic_io import write_atomic

matplotlib.use("Agg")  # files only, also without a display
import matplotlib.pyplot as plt

#: Seed of every bootstrap (same runs, same confidence intervals).
BOOTSTRAP_SEED = 0
#: Bootstrap resamples of the figures' confidence bands.
FIGURE_REPS = 2000


@contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """NumPy's global RNG seeded with ``seed`` inside the block, restored after it."""
    saved = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        with warnings.catch_warnings():
            # arch, under rliable, warns that it prefers a Generator to a RandomState
            warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
            yield
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def interval_estimates(
    score_dict: Mapping[str, Any],
    func: Callable[..., Any],
    *,
    reps: int,
    seed: int = BOOTSTRAP_SEED,
    **kwargs: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """rliable's ``get_interval_estimates`` (95% percentile CIs), seeded with ``seed``."""
    with seeded_global_rng(seed):
        return library.get_interval_estimates(  # type: ignore[no-any-return]
            score_dict, func, reps=reps, random_state=np.random.RandomState(seed), **kwargs
        )


def performance_profiles(
    score_dict: Mapping[str, np.ndarray],
    taus: np.ndarray,
    *,
    reps: int,
    seed: int = BOOTSTRAP_SEED,
    **kwargs: Any,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's ``create_performance_profile`` (fraction of scores above each tau, with 95%
    CIs), seeded with ``seed``."""
    with seeded_global_rng(seed):
        return library.create_performance_profile(  # type: ignore[no-any-return]
            score_dict, taus, reps=reps, **kwargs
        )


def save_png(fig: Any, path: Path, dpi: int = 110) -> None:
    """Write ``fig`` as a PNG atomically and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """rliable's probability of improvement P(X > Y), computed for all tasks at once: per task
    the fraction of (run of X, run of Y) pairs where X scores higher (ties count half: the
    Mann-Whitney U over ``runs_x * runs_y``), averaged over tasks.

    :param scores_x: ``(runs_x, tasks)`` scores
    :param scores_y: ``(runs_y, tasks)`` scores
    """
    x, y = scores_x[:, None, :], scores_y[None, :, :]
    return float(np.mean((x > y) + 0.5 * (x == y)))  # every task has runs_x * runs_y pairs


def iqm_per_evaluation(scores: np.ndarray) -> np.ndarray:
    """rliable's ``aggregate_iqm`` at every evaluation: the IQM over all leading axes of
    ``(..., evaluations)`` scores."""
    return np.asarray(stats.trim_mean(scores.reshape(-1, scores.shape[-1]), 0.25, axis=0))


def iqm_curve(
    curves: np.ndarray, *, reps: int = FIGURE_REPS, seed: int = BOOTSTRAP_SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM over runs and tasks at each evaluation, with its 95% stratified-bootstrap CI.

    :param curves: ``(runs, tasks, evaluations)`` scores
    :return: point, lower and upper bound, each ``(evaluations,)``
    """
    point, interval = interval_estimates({"m": curves}, iqm_per_evaluation, reps=reps, seed=seed)
    return point["m"], interval["m"][0], interval["m"][1]


def curve_matrix(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation steps (the runs' mean: a probe before learning shifts a run's steps)
    and the ``(runs, tasks, evaluations)`` scores of one method's runs (runs in seed order,
    tasks in id order; every task needs the same seeds)."""
    tasks = sorted({r["task_id"] for r in rows})
    ordered = sorted(rows, key=lambda r: (r["seed"], r["task_id"]))
    curves = np.array([[r["values"] for r in ordered if r["task_id"] == t] for t in tasks])
    steps = np.mean([r["steps"] for r in ordered], axis=0)
    return steps, curves.transpose(1, 0, 2)


def plot_curves(
    results: list[dict[str, Any]],
    methods: list[str],
    *,
    threshold: float,
    title: str,
    path: Path,
    reference: str = "metadqn",
    reps: int = FIGURE_REPS,
    seed: int = BOOTSTRAP_SEED,
    colours: Mapping[str, Any] | None = None,
) -> None:
    """IQM learning curves as small multiples: one panel per method, each next to
    ``reference`` (black), with 95% stratified-bootstrap bands of ``reps`` resamples;
    ``colours`` maps methods to colours (default: matplotlib's tab10 in panel order)."""
    present = [m for m in methods if any(r["method"] == m for r in results)]
    estimates = {}
    for method in present:
        steps, curves = curve_matrix([r for r in results if r["method"] == method])
        estimates[method] = (steps, *iqm_curve(curves, reps=reps, seed=seed))
    panels = [m for m in present if m != reference] or present
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.0 * rows), sharex=True, sharey=True, squeeze=False
    )
    palette = plt.get_cmap("tab10")
    for k, (ax, method) in enumerate(zip(axes.flat, panels, strict=False)):
        shown = [(reference, "black")] if reference in estimates and method != reference else []
        colour = colours[method] if colours and method in colours else palette(k % 10)
        for name, line_colour in [*shown, (method, colour)]:
            steps, point, low, high = estimates[name]
            ax.plot(steps, point, color=line_colour, label=name, linewidth=1.6)
            ax.fill_between(steps, low, high, color=line_colour, alpha=0.18, linewidth=0)
        ax.axhline(threshold, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(method, fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("env steps on the held-out task")
    for ax in axes[:, 0]:
        ax.set_ylabel("greedy normalized return\n(IQM, 95% CI)")
    fig.suptitle(title)
    fig.tight_layout()
    save_png(fig, path)


def paired_ratios(row: dict[str, Any]) -> list[float]:
    """The per-repeat ratios ours/original of a result row (adjacent measurements)."""
    return [
        a / b
        for a, b in zip(
            row["ours_samples_steps_per_s"], row["original_samples_steps_per_s"], strict=True
        )
    ]


def plot_throughput(result: dict[str, Any], path: Path) -> None:
    """A PNG bar chart of the ratio ours/original per pair, whiskers spanning the per-repeat
    ratios, with each pair's target (an absolute target in steps/s is written next to its bar
    instead)."""
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.2))
    labels = [f"{row['ours']}\nvs {row['original']}" for row in rows]
    colours = ["tab:green" if row["passed"] else "tab:red" for row in rows]
    spread = [paired_ratios(row) for row in rows]
    whiskers = [
        [max(row["ratio"] - min(r), 0.0) for row, r in zip(rows, spread, strict=True)],
        [max(max(r) - row["ratio"], 0.0) for row, r in zip(rows, spread, strict=True)],
    ]
    ax.barh(labels, [row["ratio"] for row in rows], color=colours, xerr=whiskers, capsize=3)
    for y, row in enumerate(rows):
        if row["kind"] == "absolute":
            text = (
                f" {row['ratio']:.2f} ({row['ours_steps_per_s']:,.0f}/s; >= {row['target']:,.0f})"
            )
        else:
            ax.plot([row["target"]] * 2, [y - 0.4, y + 0.4], color="black", linewidth=1.5)
            text = f" {row['ratio']:.2f}"
        ax.text(max(row["ratio"], *spread[y]), y, text, va="center")
    ax.invert_yaxis()
    ax.set_xlabel(
        "env steps/s, ours / Gymnasium original: ratio of the medians\n"
        "(whiskers: range of the per-repeat ratios; black: target)"
    )
    ax.set_title(f"Env throughput, {result['repeats']} repeats x {result['steps']:,} steps")
    fig.tight_layout()
    save_png(fig, path, dpi=100)


def plot_learn_throughput(result: dict[str, Any], path: Path) -> None:
    """A PNG bar chart of learn() env steps/s per model: the median of the repeats, whiskers
    spanning them."""
    samples = result["steps_per_second"]
    names = list(samples)
    medians = [float(np.median(samples[n])) for n in names]
    whiskers = [
        [m - min(samples[n]) for n, m in zip(names, medians, strict=True)],
        [max(samples[n]) - m for n, m in zip(names, medians, strict=True)],
    ]
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(names) + 1.2))
    ax.barh(names, medians, color="tab:blue", xerr=whiskers, capsize=3)
    for y, (name, median) in enumerate(zip(names, medians, strict=True)):
        ax.text(max(samples[name]), y, f" {median:,.0f}", va="center")
    ax.invert_yaxis()
    ax.set_xlabel("learn() env steps/s (bars: median; whiskers: range of the repeats)")
    args = result["args"]
    ax.set_title(
        f"{args['env_id']} task {result['task_id']}: {args['repeats']} repeats x "
        f"{args['steps']:,} steps"
    )
    fig.tight_layout()
    save_png(fig, path, dpi=100)
