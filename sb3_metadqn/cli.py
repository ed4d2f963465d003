"""The ``metadqn`` command line (also ``python -m sb3_metadqn``).

metadqn meta-train ENV_ID --output PATH [--checkpoint-dir DIR] [...]
metadqn train-baseline METHOD ENV_ID --output PATH [--set KEY=VALUE ...]
metadqn evaluate ENV_ID [--methods NAME ...] [--artifact METHOD=PATH ...] [--tasks N] [...]
metadqn info ARTIFACT_OR_FAMILY_ID [--json]
metadqn demo [ENV_ID] [--tasks N] [--timesteps N] [--meta-learner PATH]
metadqn --version

Commands that run a long job show a progress bar per named phase on stderr when it is a
terminal and the CI environment variable is unset; --progress and --no-progress decide
otherwise.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sb3_metadqn import cli_evaluate, cli_info, options, pretrained
from sb3_metadqn._checks import Limit
from sb3_metadqn.core.meta_config import MetaTrainConfig
from sb3_metadqn.core.meta_training import meta_train
from sb3_metadqn.evaluation.methods import METHODS, get_method
from sb3_metadqn.io import artifacts
from sb3_metadqn.progress import bars_by_default


def _meta_train_options() -> list[options.Option]:
    """``metadqn meta-train``'s options: :class:`MetaTrainConfig`'s fields, then the run
    arguments of :func:`meta_train` (the command prints its rounds: verbose is 1; bars
    follow ``--progress``)."""
    config = options.dataclass_options(MetaTrainConfig)
    fields = {o.path[0] for o in config} | {"env_id", "verbose", "progress_bar"}
    return [*config, *options.signature_options(meta_train, skip=fields)]


def _add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar per named phase on stderr (default: on when stderr is a "
        "terminal and the CI environment variable is unset)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metadqn",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,  # --version on one line
    )
    parser.add_argument("--version", action="version", version=cli_info.version_text())
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
    _add_progress(train)

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
    baseline.add_argument(
        "--checkpoint-dir",
        default=None,
        help="a directory of its own for this run: finished work is saved there and a rerun "
        "of the same command resumes (a directory holding another run is refused)",
    )
    baseline.add_argument(
        "--set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="training options of the method: the arguments of its trainer (meta_train, "
        "reptile_train, hypernetwork_train, pretrain, pretrain_oracle, TableBank.build, "
        "pretrain_bandit); values are JSON, e.g. iterations=200; repeatable, a later KEY wins; "
        "a key or value the trainer does not take is refused before any work",
    )
    _add_progress(baseline)

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
    _add_progress(evaluate)

    info = sub.add_parser("info", help="describe an artifact (meta-learner, baseline, table bank)")
    info.add_argument(
        "artifact",
        help="path of an artifact, or a family id for its embedded meta-learner "
        f"({', '.join(pretrained.available())})",
    )
    info.add_argument("--json", action="store_true", help="print the whole record as JSON")

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
    demo.add_argument(
        "--meta-learner",
        default=None,
        metavar="PATH",
        help="meta-learner artifact (default: the one embedded for ENV_ID)",
    )
    _add_progress(demo)
    return parser


def _output_path(text: str) -> Path:
    """``--output``, checked to be a file path in a writable directory before any work."""
    output = Path(text)
    if output.is_dir():
        raise SystemExit(f"--output {str(output)!r} is a directory, expected a file path")
    try:
        artifacts.ensure_writable_directory(output.parent, "--output")
    except OSError as error:
        raise SystemExit(str(error)) from error
    return output


def _meta_train(args: argparse.Namespace, argv: Sequence[str], progress: bool) -> int:
    output = _output_path(args.output)
    settings = options.collect(vars(args), _meta_train_options())
    learner = meta_train(args.env_id, **settings, progress_bar=progress, verbose=1)
    learner.training["command"] = "metadqn " + shlex.join(argv)
    learner.save(output)
    print(json.dumps(learner.info()["training"]["cost"], indent=1))
    print(f"wrote {output}")
    return 0


def _train_baseline(args: argparse.Namespace, argv: Sequence[str], progress: bool) -> int:
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
            args.env_id,
            seed=args.seed,
            checkpoint_dir=checkpoint,
            progress_bar=progress,
            **settings,
        )
    except TypeError as error:
        raise SystemExit(f"--set: {error}") from error
    method.record_command(artifact, "metadqn " + shlex.join(argv))
    method.save_artifact(artifact, output)
    print(f"meta-training cost: {method.cost(artifact):.1f} core-seconds")
    print(f"wrote {output}")
    return 0


class Terminated(SystemExit):
    """SIGTERM arrived (``timeout``, Slurm, Kubernetes, ``docker stop``): raised in the main
    thread so that every ``finally`` runs (worker pools end, no half-written file stays)."""


def _on_sigterm(command: str) -> Callable[[int, Any], None]:
    resumes = command in ("meta-train", "train-baseline")
    note = (
        "; what a --checkpoint-dir holds is complete, and rerunning the same command resumes "
        "from it"
        if resumes
        else ""
    )

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends at once
        print(f"metadqn {command}: terminated by SIGTERM{note}", file=sys.stderr, flush=True)
        raise Terminated(128 + signal.SIGTERM)

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm(args.command)) if in_main_thread else None
    progress = getattr(args, "progress", None)
    progress = bars_by_default() if progress is None else progress
    try:
        if args.command == "meta-train":
            return _meta_train(args, argv, progress)
        if args.command == "train-baseline":
            return _train_baseline(args, argv, progress)
        if args.command == "evaluate":
            output = None if args.output is None else _output_path(args.output)
            return cli_evaluate.evaluate(args, output, progress)
        if args.command == "demo":
            return cli_evaluate.demo(args, progress)
        print(cli_info.info_text(args.artifact, args.json))
        return 0
    except (ValueError, OSError) as error:
        # bad input (unknown env id, task id out of range, missing or invalid artifact):
        # the message names the parameter and what is allowed; a traceback adds nothing
        raise SystemExit(f"metadqn {args.command}: error: {error}") from error
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
