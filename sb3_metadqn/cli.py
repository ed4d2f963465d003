"""The ``metadqn`` command line (also ``python -m sb3_metadqn``).

metadqn meta-train ENV_ID --output PATH [--checkpoint-dir DIR] [...]
metadqn train-baseline METHOD ENV_ID --output PATH [--set KEY=VALUE ...]
metadqn evaluate ENV_ID [--methods NAME ...] [--artifact METHOD=PATH ...] [--tasks N] [...]
metadqn info ARTIFACT
metadqn demo [ENV_ID] [--tasks N] [--timesteps N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sb3_metadqn import options
from sb3_metadqn._checks import Limit


def _meta_train_options() -> list[options.Option]:
    """``metadqn meta-train``'s options: :class:`MetaTrainConfig`'s fields, then the run
    arguments of :func:`meta_train` (the command prints its rounds: verbose is 1)."""
    from sb3_metadqn.core.meta_config import MetaTrainConfig
    from sb3_metadqn.core.meta_training import meta_train

    config = options.dataclass_options(MetaTrainConfig)
    fields = {o.path[0] for o in config} | {"env_id", "verbose"}
    run = options.signature_options(meta_train, skip=fields)
    return [
        *config,
        *[dataclasses.replace(o, default=True) if o.name == "progress_bar" else o for o in run],
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metadqn", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "meta-train",
        help="meta-train a meta-learner on a family's train split",
        description="Meta-train a meta-learner on a family's train split. The options are "
        "the fields of sb3_metadqn.MetaTrainConfig (mapping network options: MapperConfig "
        "and MapperTrainingConfig) and the run arguments of sb3_metadqn.meta_train.",
    )
    train.add_argument("env_id", help="registered family id, e.g. MetaNav-v0")
    train.add_argument("--output", required=True, help="path of the .safetensors artifact")
    options.add_options(train, _meta_train_options())
    train.add_argument(
        "--no-progress",
        dest="progress_bar",
        action="store_false",
        help="no progress bar (the same as --no-progress-bar)",
    )

    from sb3_metadqn.evaluation.methods import METHODS

    trained = {n: m for n, m in METHODS.items() if m.artifact}
    baseline = sub.add_parser(
        "train-baseline",
        help="meta-train the artifact of a baseline method on the train split",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="--set keys of each method:\n"
        + "\n".join(
            textwrap.fill(
                ", ".join(o.name for o in m.train_options()),
                width=88,
                initial_indent=f"  {n}: ",
                subsequent_indent="    ",
            )
            for n, m in trained.items()
        ),
    )
    baseline.add_argument("method", choices=list(trained))
    baseline.add_argument("env_id")
    baseline.add_argument("--output", required=True, help="path of the artifact")
    baseline.add_argument("--seed", type=options.checked_type("seed"), default=0)
    baseline.add_argument("--checkpoint-dir", default=None)
    baseline.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="training options of the method: the arguments of its trainer (meta_train, "
        "reptile_train, hypernetwork_train, pretrain, pretrain_oracle, TableBank.build); values "
        "are JSON, e.g. iterations=200; a key or value the trainer does not take is refused "
        "before any work",
    )

    evaluate = sub.add_parser("evaluate", help="methods compared on held-out test tasks")
    evaluate.add_argument("env_id")
    evaluate.add_argument(
        "--meta-learner", default=None, help="meta-learner artifact (default: embedded)"
    )
    evaluate.add_argument(
        "--artifact",
        action="append",
        default=[],
        metavar="METHOD=PATH",
        help="a method's artifact (repeatable), e.g. reptile=reptile.safetensors",
    )
    evaluate.add_argument(
        "--tasks", type=options.checked_type("tasks"), default=3, help="first N test-split tasks"
    )
    evaluate.add_argument("--task-ids", type=int, nargs="+", default=None)
    evaluate.add_argument("--seeds", type=options.checked_type("seeds"), default=1)
    evaluate.add_argument("--timesteps", type=options.checked_type("timesteps"), default=10_000)
    evaluate.add_argument("--eval-freq", type=options.checked_type("eval_freq"), default=1000)
    evaluate.add_argument("--eval-episodes", type=options.checked_type("eval_episodes"), default=1)
    evaluate.add_argument("--threshold", type=options.checked_type("threshold"), default=0.9)
    evaluate.add_argument(
        "--methods", nargs="+", default=["metadqn", "scratch"], choices=list(METHODS)
    )
    evaluate.add_argument("--output", default=None, help="write every result as JSON here")

    info = sub.add_parser("info", help="describe an artifact (meta-learner, baseline, table bank)")
    info.add_argument("artifact")

    demo = sub.add_parser(
        "demo",
        help="MetaDQN with the embedded meta-learner on test tasks",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument(
        "env_id", nargs="?", default="MetaNav-v0", help="a family with an embedded meta-learner"
    )
    demo.add_argument(
        "--tasks",
        type=options.checked_type("tasks"),
        default=5,
        metavar="N",
        help="first N test-split tasks",
    )
    demo.add_argument(
        "--timesteps",
        type=options.checked_type("timesteps", Limit(int, 0)),
        default=2000,
        metavar="N",
        help="MetaDQN learning steps on each task before the last column",
    )
    return parser


def _output_path(text: str) -> Path:
    """``--output``, checked to be a file path in a writable directory before any work."""
    from sb3_metadqn.io import artifacts

    output = Path(text)
    if output.is_dir():
        raise SystemExit(f"--output {str(output)!r} is a directory, expected a file path")
    try:
        artifacts.ensure_writable_directory(output.parent, "--output")
    except OSError as error:
        raise SystemExit(str(error)) from error
    return output


def _score(family: Any, task_id: int, model: Any) -> float:
    """Greedy normalized return: exact on grid families, else over 20 sampled episodes."""
    from sb3_metadqn.evaluation.rollouts import JUMPSTART_EPISODES, greedy_value

    value = greedy_value(model, family, task_id, family.make(task_id), JUMPSTART_EPISODES, 0)
    return float(family.normalized_return(task_id, value))


def _demo(args: argparse.Namespace) -> int:
    from stable_baselines3 import DQN

    import gym_metatasks
    from sb3_metadqn.agents.metadqn import MetaDQN

    family = gym_metatasks.family(args.env_id)
    print(f"MetaDQN on {args.env_id}: held-out test tasks, greedy normalized return (1 = optimal)")
    print(
        f"{'task':>5} {'source':>6} {'DQN init':>8} {'MetaDQN init':>12} {'after ' + str(args.timesteps):>11}"
    )
    for task_id in family.test_task_ids[: args.tasks]:
        env = family.make(task_id)
        model = MetaDQN("MlpPolicy", env, seed=0)
        scratch = DQN("MlpPolicy", family.make(task_id), seed=0)
        before, baseline = _score(family, task_id, model), _score(family, task_id, scratch)
        model.learn(args.timesteps)
        init = model.meta_init or {}
        print(
            f"{task_id:>5} {init.get('source_task_id')!s:>6} {baseline:>8.3f} {before:>12.3f} {_score(family, task_id, model):>11.3f}"
        )
    return 0


def _meta_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from sb3_metadqn.core.meta_training import meta_train

    output = _output_path(args.output)
    learner = meta_train(
        args.env_id, **options.collect(vars(args), _meta_train_options()), verbose=1
    )
    learner.training["command"] = "metadqn " + shlex.join(argv)
    learner.save(output)
    print(json.dumps(learner.info()["training"]["cost"], indent=1))
    print(f"wrote {output}")
    return 0


def _artifacts(args: argparse.Namespace) -> dict[str, Any]:
    """The artifact of each method, from ``--meta-learner`` and ``--artifact METHOD=PATH``,
    loaded (and so validated) before any run."""
    from sb3_metadqn.evaluation.methods import METHODS, get_method

    paths: dict[str, str] = {}
    if args.meta_learner is not None:
        paths.update(
            {n: args.meta_learner for n, m in METHODS.items() if m.artifact == "meta-learner"}
        )
    for item in args.artifact:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise SystemExit(f"--artifact must be METHOD=PATH, got {item!r}")
        if name not in METHODS:
            raise SystemExit(f"--artifact names method {name!r}; methods: {list(METHODS)}")
        paths[name] = path
    loaded = {}
    for name in args.methods:
        try:
            loaded[name] = get_method(name).load_artifact(args.env_id, paths.get(name))
        except (ValueError, OSError) as error:
            raise SystemExit(f"{name}: {error}") from error
    return loaded


def _evaluate(args: argparse.Namespace) -> int:
    import gym_metatasks
    from sb3_metadqn.evaluation.transfer import run_transfer

    output = None if args.output is None else _output_path(args.output)
    family = gym_metatasks.family(args.env_id)
    if args.tasks > len(family.test_task_ids):
        raise SystemExit(
            f"--tasks must be at most {len(family.test_task_ids)} (the test split of "
            f"{args.env_id}), got {args.tasks}"
        )
    tasks = args.task_ids or list(family.test_task_ids[: args.tasks])
    artifacts = _artifacts(args)
    results: list[dict[str, Any]] = []
    width = max(len(m) for m in args.methods)
    print(
        f"{'method':<{width}} {'task':>5} {'seed':>4} {'jumpstart':>9} {'steps>=thr':>10} "
        f"{'final':>6}"
    )
    for task_id in tasks:
        for seed in range(args.seeds):
            for method in args.methods:
                result = run_transfer(
                    method,
                    args.env_id,
                    task_id,
                    seed,
                    total_timesteps=args.timesteps,
                    eval_freq=args.eval_freq,
                    eval_episodes=args.eval_episodes,
                    threshold=args.threshold,
                    artifact=artifacts[method],
                )
                results.append(result.to_dict())
                reached = (
                    "never" if result.steps_to_threshold is None else result.steps_to_threshold
                )
                print(
                    f"{method:<{width}} {task_id:>5} {seed:>4} {result.jumpstart:>9.3f} "
                    f"{reached!s:>10} {result.final:>6.3f}",
                    flush=True,
                )
    for method in args.methods:
        rows = [r for r in results if r["method"] == method]
        jump = np.mean([r["jumpstart"] for r in rows])
        hits = [r["steps_to_threshold"] for r in rows if r["steps_to_threshold"] is not None]
        print(
            f"{method}: mean jumpstart {jump:.3f}; reached {args.threshold} in {len(hits)}/"
            f"{len(rows)} runs, median {np.median(hits) if hits else float('nan'):.0f} steps; "
            f"meta-training {rows[0]['meta_training_core_seconds']:.0f} core-s"
        )
    if output is not None:
        from gym_metatasks.atomic_io import write_atomic

        write_atomic(output, json.dumps(results, indent=1))
    return 0


def _train_baseline(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from sb3_metadqn.evaluation.methods import get_method

    method = get_method(args.method)
    settings: dict[str, Any] = {}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes KEY=VALUE, got {item!r}")
        try:
            settings[key.replace("-", "_")] = json.loads(text)
        except json.JSONDecodeError:
            settings[key.replace("-", "_")] = text
    allowed = method.train_options()
    options.check_options(settings, allowed, "--set", f"method {method.name!r}")
    settings = options.convert(settings, allowed)
    output = _output_path(args.output)
    checkpoint = None if args.checkpoint_dir is None else Path(args.checkpoint_dir)
    try:
        artifact = method.train_artifact(
            args.env_id, seed=args.seed, checkpoint_dir=checkpoint, **settings
        )
    except TypeError as error:
        raise SystemExit(f"--set: {error}") from error
    method.record_command(artifact, "metadqn " + shlex.join(argv))
    method.save_artifact(artifact, output)
    print(f"meta-training cost: {method.cost(artifact):.1f} core-seconds")
    print(f"wrote {output}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from sb3_metadqn.io import artifacts

    info = artifacts.load(args.artifact).info()
    print(json.dumps(info, indent=1, default=str))
    return 0


class Terminated(SystemExit):
    """SIGTERM arrived (``timeout``, Slurm, Kubernetes, ``docker stop``): raised in the main
    thread so that every ``finally`` runs (worker pools end, no half-written file stays)."""


def _on_sigterm(command: str) -> Callable[[int, Any], None]:
    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends at once
        print(
            f"metadqn {command}: terminated by SIGTERM; what a --checkpoint-dir holds is "
            "complete, and rerunning the same command resumes from it",
            file=sys.stderr,
            flush=True,
        )
        raise Terminated(128 + signal.SIGTERM)

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm(args.command)) if in_main_thread else None
    try:
        if args.command == "meta-train":
            return _meta_train(args, argv)
        if args.command == "train-baseline":
            return _train_baseline(args, argv)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "demo":
            return _demo(args)
        return _info(args)
    except (ValueError, OSError) as error:
        # bad input (unknown env id, task id out of range, missing or invalid artifact):
        # the message names the parameter and what is allowed; a traceback adds nothing
        raise SystemExit(f"metadqn {args.command}: error: {error}") from error
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
