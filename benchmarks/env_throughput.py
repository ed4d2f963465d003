"""Env steps per second of each gym_metatasks family against its Gymnasium original.

Both envs of a pair are built with ``gym.make`` (so both carry the same wrappers: env
checker, order enforcing, time limit) and stepped with the same random actions, sampled
beforehand from a seeded numpy Generator so sampling is not timed. Resets at the end of
episodes (terminated or truncated) are timed. After an untimed warm-up, every pair is
measured in interleaved repeats (ours, original, ours, original, ...; within a round the
pairs take turns) and the median steps/s of each env gives the ratio ours/original,
checked against the pair's target. A family without a Gymnasium original
(MetaRecommend-v0) is measured the same way next to FrozenLake8x8-v1, for scale only, and
checked against an absolute target in steps/s.

    python -m benchmarks.env_throughput                  # full run, about 1-3 minutes
    python -m benchmarks.env_throughput --steps 2000 --repeats 1 --output-dir /tmp/bench

Results go to ``<output-dir>/env_throughput.json``, ``.csv`` and ``.png`` (each written
atomically).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gc
import io
import json
import re
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from benchmarks import plots
from benchmarks.common import (
    build_parser,
    environment_info,
    equivalent_command,
    load_average,
    source_digest,
)
from benchmarks.common import parse_args as common_parse_args
from gym_metatasks.atomic_io import write_atomic

RESULTS_NAME = "env_throughput"
MODULE = "benchmarks.env_throughput"


@dataclass(frozen=True)
class Args:
    """Command-line options, one per field (``--steps``, ``--output-dir``, ...)."""

    steps: int = 50_000
    """timed env steps per measurement (one env, one repeat)"""
    repeats: int = 9
    """interleaved measurements per env; the median is reported"""
    warmup_steps: int = 2_000
    """untimed steps per env before its first measurement"""
    seed: int = 0
    """seed of the action Generator and of every env's first reset"""
    task_id: int = 0
    """task of each gym_metatasks family to measure"""
    pairs: tuple[str, ...] = (
        "MetaNav-v0",
        "MetaFrozenLake-v0",
        "MetaCartPole-v0",
        "MetaAcrobot-v0",
        "MetaMountainCar-v0",
        "MetaRecommend-v0",
    )
    """gym_metatasks ids to measure, each against its Gymnasium original"""
    grid_target: float = 1.0
    """smallest passing ratio ours/original of the grid families"""
    physics_target: float = 0.9
    """smallest passing ratio ours/original of the physics families"""
    absolute_target: float = 100_000.0
    """smallest passing steps/s of the families without a Gymnasium original"""
    output_dir: str = "benchmarks/results"
    """directory of env_throughput.json and env_throughput.csv"""
    quiet: bool = False
    """print neither progress nor the table"""
    strict: bool = False
    """exit with status 1 if a pair misses its target (command line only)"""


@dataclass(frozen=True)
class Pair:
    """A gym_metatasks family and the Gymnasium env it is measured against."""

    ours: str
    original: str
    kind: str  # "grid" or "physics": selects the target; "absolute": steps/s target


PAIRS: dict[str, Pair] = {
    pair.ours: pair
    for pair in (
        Pair("MetaNav-v0", "FrozenLake8x8-v1", "grid"),
        Pair("MetaFrozenLake-v0", "FrozenLake8x8-v1", "grid"),
        Pair("MetaCartPole-v0", "CartPole-v1", "physics"),
        Pair("MetaAcrobot-v0", "Acrobot-v1", "physics"),
        Pair("MetaMountainCar-v0", "MountainCar-v0", "physics"),
        Pair("MetaRecommend-v0", "FrozenLake8x8-v1", "absolute"),
    )
}


@dataclass
class Subject:
    """One env under measurement and what was measured so far."""

    env_id: str
    env: gym.Env[Any, Any]
    steps_per_s: list[float] = dataclasses.field(default_factory=list)
    steps: list[int] = dataclasses.field(default_factory=list)
    episodes: list[int] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


# ---------------------------------------------------------------------- measurement
@contextlib.contextmanager
def recording_warnings(into: list[str]) -> Iterator[None]:
    """Collect warnings (e.g. Gymnasium's env checker) instead of showing or raising them,
    so they end up in the results; each distinct message is kept once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        message = re.sub(r"\x1b\[[0-9;]*m", "", str(warning.message)).strip()
        text = f"{warning.category.__name__}: {message}"
        if text not in into:
            into.append(text)


def run_steps(env: gym.Env[Any, Any], actions: Sequence[int]) -> tuple[float, int]:
    """Step ``env`` through ``actions``, resetting at episode ends.

    :return: seconds taken (``time.perf_counter``) and episodes ended
    """
    step, reset = env.step, env.reset
    episodes = 0
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = step(action)
        if terminated or truncated:
            reset()
            episodes += 1
    return time.perf_counter() - start, episodes


def make_subject(env_id: str, kwargs: dict[str, Any], seed: int) -> Subject:
    """Build an env with ``gym.make`` and seed its first reset."""
    recorded: list[str] = []
    with recording_warnings(recorded):
        env = gym.make(env_id, **kwargs)
        env.reset(seed=seed)
    return Subject(env_id, env, warnings=recorded)


def warm_up(subject: Subject, actions: Sequence[int]) -> None:
    """Untimed steps (they also run the env checker's one-off checks of ``step``)."""
    with recording_warnings(subject.warnings):
        run_steps(subject.env, actions)


def measure(subject: Subject, actions: Sequence[int]) -> float:
    """One timed run from the start of an episode; appends and returns its steps/s."""
    with recording_warnings(subject.warnings):
        subject.env.reset()
        gc.collect()
        seconds, episodes = run_steps(subject.env, actions)
    subject.steps_per_s.append(len(actions) / seconds)
    subject.steps.append(len(actions))
    subject.episodes.append(episodes)
    return subject.steps_per_s[-1]


def summarize(pair: Pair, ours: Subject, original: Subject, target: float) -> dict[str, Any]:
    """The result row of a pair."""
    row: dict[str, Any] = {
        "pair": f"{pair.ours} vs {pair.original}",
        "kind": pair.kind,
        "ours": pair.ours,
        "original": pair.original,
    }
    medians = {}
    for side, subject in (("ours", ours), ("original", original)):
        medians[side] = statistics.median(subject.steps_per_s)
        row[f"{side}_steps_per_s"] = medians[side]
    ratio = medians["ours"] / medians["original"]
    achieved = medians["ours"] if pair.kind == "absolute" else ratio
    row.update(ratio=ratio, target=target, passed=bool(achieved >= target))
    # Median of the per-repeat ratios (each from adjacent measurements): less sensitive to
    # load that drifts over the run. Reported only; the verdict uses ``ratio``.
    row["paired_ratio_median"] = statistics.median(
        a / b for a, b in zip(ours.steps_per_s, original.steps_per_s, strict=True)
    )
    for side, subject in (("ours", ours), ("original", original)):
        row[f"{side}_min_steps_per_s"] = min(subject.steps_per_s)
        row[f"{side}_max_steps_per_s"] = max(subject.steps_per_s)
        steps, episodes = sum(subject.steps), sum(subject.episodes)
        row[f"{side}_episodes"] = episodes
        row[f"{side}_mean_episode_length"] = steps / episodes if episodes else None
    for side, subject in (("ours", ours), ("original", original)):
        row[f"{side}_samples_steps_per_s"] = list(subject.steps_per_s)
        row[f"{side}_warnings"] = list(subject.warnings)
    return row


# ---------------------------------------------------------------------- reporting
CSV_RUN_FIELDS = (
    "command",
    "seed",
    "steps",
    "repeats",
    "warmup_steps",
    "task_id",
    "python",
    "numpy",
    "gymnasium",
    "torch",
    "gym_metatasks",
    "gym_metatasks_sha256",
    "platform",
    "cpu",
    "cpu_count",
    "started_at",
)


def to_csv(result: dict[str, Any]) -> str:
    """One line per pair: the row's scalar fields, then the run's settings and versions."""
    run = {**result, **result["environment"]}
    rows = [{k: v for k, v in row.items() if not isinstance(v, list)} for row in result["rows"]]
    columns = [*rows[0], *CSV_RUN_FIELDS] if rows else list(CSV_RUN_FIELDS)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, **{k: run[k] for k in CSV_RUN_FIELDS}})
    return out.getvalue()


def format_table(result: dict[str, Any]) -> str:
    """The rows as an aligned text table: median steps/s, their range (min..max over the
    repeats), ratio of the medians, median of the per-repeat ratios ("paired")."""
    header = (
        f"{'ours':<20} {'original':<18} {'ours steps/s':>13} {'range':>17} "
        f"{'orig steps/s':>13} {'range':>17} {'ratio':>6} {'paired':>6} {'target':>7}  result"
    )
    lines = [header, "-" * len(header)]
    for row in result["rows"]:
        spans = [
            f"{row[f'{side}_min_steps_per_s']:,.0f}..{row[f'{side}_max_steps_per_s']:,.0f}"
            for side in ("ours", "original")
        ]
        lines.append(
            f"{row['ours']:<20} {row['original']:<18} {row['ours_steps_per_s']:>13,.0f} "
            f"{spans[0]:>17} {row['original_steps_per_s']:>13,.0f} {spans[1]:>17} "
            f"{row['ratio']:>6.3f} {row['paired_ratio_median']:>6.3f} "
            f"{'>=' + format(row['target'], '.2f' if row['target'] < 1000 else ',.0f'):>7}  "
            f"{'pass' if row['passed'] else 'FAIL'}"
        )
    env = result["environment"]
    lines.append(
        f"{result['steps']:,} steps x {result['repeats']} repeats per env, seed "
        f"{result['seed']}, {result['duration_s']:.0f} s; python {env['python']}, numpy "
        f"{env['numpy']}, gymnasium {env['gymnasium']}, torch {env['torch']}; "
        f"{env['cpu_count']} CPUs, load {result['load_average_start']} -> "
        f"{result['load_average_end']}"
    )
    if result["source_changed_during_run"]:
        lines.append("WARNING: gym_metatasks' source changed during the run; measure again")
    emitted: dict[str, list[str]] = {}  # message -> env ids
    for row in result["rows"]:
        for side in ("ours", "original"):
            for message in row[f"{side}_warnings"]:
                envs = emitted.setdefault(message, [])
                if row[side] not in envs:
                    envs.append(row[side])
    if emitted:
        lines.append("warnings recorded (not raised; see *_warnings in the JSON):")
        lines += [f"  {', '.join(envs)}:\n    {message}" for message, envs in emitted.items()]
    return "\n".join(lines)


# ---------------------------------------------------------------------- command line
def parse_args(argv: Sequence[str] | None = None) -> Args:
    parser = build_parser(Args, MODULE, __doc__ or "", choices={"pairs": list(PAIRS)})
    return common_parse_args(parser, Args, argv)


def check_args(args: Args) -> None:
    if args.steps < 1 or args.repeats < 1 or args.warmup_steps < 0:
        raise ValueError(
            "need steps >= 1, repeats >= 1 and warmup_steps >= 0, got "
            f"{args.steps}, {args.repeats} and {args.warmup_steps}"
        )
    unknown = [env_id for env_id in args.pairs if env_id not in PAIRS]
    if unknown or not args.pairs or len(set(args.pairs)) != len(args.pairs):
        raise ValueError(f"pairs must be distinct ids among {list(PAIRS)}, got {args.pairs}")


# ---------------------------------------------------------------------- main
def sample_actions(n: int, args: Args) -> tuple[list[int], list[list[int]]]:
    """Warm-up actions and one list per repeat, in ``[0, n)``, from a Generator seeded with
    ``args.seed`` (envs with the same action space get the same actions)."""
    rng = np.random.default_rng(args.seed)
    warmup = rng.integers(n, size=args.warmup_steps).tolist()
    return warmup, [rng.integers(n, size=args.steps).tolist() for _ in range(args.repeats)]


def main(args: Args) -> dict[str, Any]:
    """Measure every pair of ``args.pairs``, write the JSON and CSV, return the results."""
    check_args(args)
    say = (lambda *_: None) if args.quiet else (lambda *a: print(*a, flush=True))
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_start = load_average()
    environment = environment_info()
    t0 = time.perf_counter()

    # Both envs of a pair get the same pre-sampled actions (plain ints): a warm-up, then
    # one list per repeat.
    subjects: list[tuple[Pair, Subject, Subject, list[list[int]]]] = []
    for pair in (PAIRS[env_id] for env_id in args.pairs):
        ours = make_subject(pair.ours, {"task_id": args.task_id}, args.seed)
        original = make_subject(pair.original, {}, args.seed)
        n = int(ours.env.action_space.n)  # type: ignore[attr-defined]
        n_original = int(original.env.action_space.n)  # type: ignore[attr-defined]
        if n != n_original and pair.kind != "absolute":
            raise RuntimeError(f"{pair.ours} and {pair.original} differ in their action space")
        warmup, timed = sample_actions(n, args)
        warmup_original, timed_original = sample_actions(n_original, args)
        warm_up(ours, warmup)
        warm_up(original, warmup_original)
        subjects.append((pair, ours, original, (timed, timed_original)))

    for repeat in range(args.repeats):
        for pair, ours, original, (timed, timed_original) in subjects:
            a = measure(ours, timed[repeat])
            b = measure(original, timed_original[repeat])
            say(
                f"[{repeat + 1}/{args.repeats}] {pair.ours:<19} {a:>11,.0f} steps/s   "
                f"{pair.original:<17} {b:>11,.0f} steps/s"
            )

    rows = []
    targets = {
        "grid": args.grid_target,
        "physics": args.physics_target,
        "absolute": args.absolute_target,
    }
    for pair, ours, original, _ in subjects:
        target = targets[pair.kind]
        rows.append(summarize(pair, ours, original, target))
        ours.env.close()
        original.env.close()

    # gym_metatasks may be edited while the benchmark runs; then the numbers are mixed.
    digest_now = source_digest(Path(environment["gym_metatasks_path"]))
    result: dict[str, Any] = {
        "benchmark": RESULTS_NAME,
        "command": shlex.join(getattr(sys, "orig_argv", sys.argv)),
        "equivalent_command": equivalent_command(MODULE, args),
        "seed": args.seed,
        "steps": args.steps,
        "repeats": args.repeats,
        "warmup_steps": args.warmup_steps,
        "task_id": args.task_id,
        "args": dataclasses.asdict(args),
        "started_at": started_at,
        "duration_s": time.perf_counter() - t0,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "environment": environment,
        "source_changed_during_run": digest_now != environment["gym_metatasks_sha256"],
        "all_passed": all(row["passed"] for row in rows),
        "rows": rows,
    }
    out_dir = Path(args.output_dir)
    write_atomic(out_dir / f"{RESULTS_NAME}.json", json.dumps(result, indent=2) + "\n")
    write_atomic(out_dir / f"{RESULTS_NAME}.csv", to_csv(result))
    plots.plot_throughput(result, out_dir / f"{RESULTS_NAME}.png")
    say("")
    say(format_table(result))
    say(f"wrote {out_dir / RESULTS_NAME}.json, .csv and .png")
    return result


if __name__ == "__main__":
    args = parse_args()
    result = main(args)
    if args.strict and not result["all_passed"]:
        sys.exit(1)
