"""`python -m cifar train` and `launch`: a flag for every field of the config table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cifar.classroom import experiments
from cifar.config.fields import Bool, Choice, Field
from cifar.config.presets import PRESETS, preset
from cifar.config.settings import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES, FIELDS, ModelConfig, config_from_dict
from cifar.errors import CifarError, ConfigError
from cifar.launch import backends, launcher
from cifar.launch.backend import Backend
from cifar.launch.estimate import check_feasible
from cifar.runs.audit import record
from cifar.runs.owner import administrator
from cifar.runs.run import Run, find_run
from cifar.training import local_queue, process


def config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per field of the config table, named after it, with its help and what it allows."""
    group = parser.add_argument_group("model and training (default: the preset's value)")
    for field in FIELDS.values():
        flag = "--" + field.name.replace("_", "-")
        text = _flag_help(field)
        if isinstance(field, Bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
        elif isinstance(field, Choice):
            group.add_argument(flag, choices=field.choices, help=text)
        else:
            group.add_argument(flag, type=field_parser(field), metavar=field.metavar, help=text)


def _flag_help(field: Field) -> str:
    unit = f", in {field.unit}" if field.unit else ""
    allowed = "" if isinstance(field, Bool | Choice) else f" ({field.allowed()}{unit})"
    return (field.help + allowed).replace("%", "%%")


def field_parser(field: Field):
    """`field.parse` as argparse wants it: a value that does not parse is a usage error naming
    the flag. Its range is checked with the whole config (with --resume, --epochs counts more)."""

    def parse(text: str):
        try:
            return field.parse(text)
        except CifarError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = field.name  # argparse names the type in its message
    return parse


def config_from_args(args: argparse.Namespace) -> ModelConfig:
    """The preset's config with every flag the user gave applied on top."""
    base = preset(args.preset or "tutorial").to_dict()
    for name in FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            base[name] = value
    return config_from_dict(base)


def add_train_commands(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train a model here; writes a run directory and prints its path first",
        description=(
            "Train a CNN on CIFAR-10 in this process. Creates <runs>/<id>/ and prints its path first; "
            "the run directory holds the config, status, live events, history, model.keras and the "
            "test-set predictions of every epoch. Waits its turn if another training runs "
            "(CIFAR_MAX_TRAININGS, default 1). Ctrl-C or SIGTERM stops after the current batch "
            "and keeps the finished epochs. Exit codes: 0 finished, 1 failed, 2 bad arguments, "
            "3 stopped."
        ),
    )
    _training_flags(train)
    launch = commands.add_parser(
        "launch",
        help="queue a training (or send it to the Ray cluster) and return at once; prints the run id first",
        description=(
            "Put a training in line and return at once: on this machine's queue, or on the Ray cluster "
            "when CIFAR_RAY_ADDRESS is set. Prints the run id on its first line, then where it stands. "
            "The training goes on after this command ends; follow it with `python -m cifar runs`, stop it "
            "with `python -m cifar stop RUN`. Takes the same flags as train."
        ),
    )
    _training_flags(launch)
    launch.add_argument(
        "--experiment",
        metavar="NAME",
        help="take the next cell of a class experiment (python -m cifar experiment new) and launch it; the "
        "experiment fixes every setting",
    )


def _training_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="starting point (default: tutorial): "
        + "; ".join(f"{name}: {each.note} ({each.measured_words})" for name, each in PRESETS.items()),
    )
    parser.add_argument(
        "--resume",
        metavar="RUN",
        help="continue a finished or stopped run (id or directory) from its weights and optimizer state, "
        "as a new run; --epochs then says how many more epochs to train",
    )
    parser.add_argument(
        "--data", help="CIFAR-10 archive, batches folder or image tree (default: $CIFAR10_DIR, else download)"
    )
    parser.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")
    parser.add_argument("--run-name", help="a label for the run, part of its id")
    parser.add_argument(
        "--who",
        help="your name, saved with the run; the queue takes turns between names (at most 40 characters). "
        "The command line acts as the server's administrator, in a class too",
    )
    config_flags(parser)


def cmd_train(args: argparse.Namespace) -> int:
    run_dir = _prepare(args, backends.LOCAL)
    record(run_dir.parent, administrator(args.who), "continue" if args.resume else "launch", run_dir.name)
    print(run_dir, flush=True)
    # This process is the training process: it waits its turn in line like any other.
    local_queue.enqueue(run_dir)
    return process.run_training(run_dir, wait_in_line=True)


def cmd_launch(args: argparse.Namespace) -> int:
    chosen = backends.for_new_runs()
    if args.experiment:
        run = _launch_cell(args, chosen)
    else:
        run = launcher.start(
            _prepare(args, chosen),
            chosen,
            person=administrator(args.who),
            action="continue" if args.resume else "launch",
        )
        print(run.id, flush=True)
    place = next((job for job in launcher.live_jobs(args.runs_dir) if job.run.id == run.id), None)
    status = run.written_status()
    where = f" on the cluster at {status.cluster}" if status.cluster else ""
    if place is not None and place.queue_position:
        print(f"queued{where}: number {place.queue_position} in line")
    else:
        print(f"launched{where}; follow it with: python -m cifar runs")
    return 0


def _launch_cell(args: argparse.Namespace, backend: Backend) -> Run:
    given = [name for name in FIELDS if getattr(args, name) is not None]
    if args.preset or args.resume or given:
        flags = ", ".join("--" + name.replace("_", "-") for name in [*(["preset"] if args.preset else []), *given])
        raise ConfigError(
            f"--experiment launches the experiment's own settings; {flags or '--resume'} cannot change them."
        )
    run, cell = experiments.launch_cell(
        args.experiment, args.runs_dir, args.data, person=administrator(args.who), backend=backend
    )
    print(run.id, flush=True)
    print(f"cell: {experiments.read_experiment(args.experiment, args.runs_dir).describe_cell(cell)}")
    return run


def _prepare(args: argparse.Namespace, backend: Backend) -> Path:
    """The run directory the flags describe: a continuation, or the preset with the flags on top."""
    if args.resume:
        return _prepare_resume(args, backend)
    config = config_from_args(args)
    for warning in check_feasible(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES).warnings:
        print(f"warning: {warning}", file=sys.stderr)
    name = args.run_name or args.preset or "tutorial"
    return launcher.prepare_run(config, args.runs_dir, name, args.data, person=administrator(args.who), backend=backend)


def _prepare_resume(args: argparse.Namespace, backend: Backend) -> Path:
    given = [name for name in FIELDS if name != "epochs" and getattr(args, name) is not None]
    if args.preset or given:
        flags = ", ".join("--" + name.replace("_", "-") for name in (["preset"] if args.preset else []) + given)
        raise ConfigError(f"--resume continues the run's own config; {flags} cannot change it. Give only --epochs.")
    if args.epochs is None:
        raise ConfigError("--resume needs --epochs N: how many more epochs to train.")
    parent = find_run(args.resume, args.runs_dir)
    return launcher.prepare_resume(
        parent, args.epochs, args.runs_dir, args.run_name, args.data, person=administrator(args.who), backend=backend
    )
