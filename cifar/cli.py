"""`python -m cifar`: train, evaluate, predict, explain, list and stop runs from a terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cifar.cli_explain import add_explain_command, cmd_explain
from cifar.cli_runs import add_runs_command, cmd_runs
from cifar.cli_study import add_study_commands, cmd_evaluate, cmd_predict
from cifar.errors import CifarError, ConfigError
from cifar.fields import Bool, Choice, Field
from cifar.model import FIELDS, PRESET_NOTES, PRESETS, ModelConfig, config_from_dict, preset

EXIT_USAGE = 2


def _config_flags(parser: argparse.ArgumentParser) -> None:
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
            group.add_argument(flag, type=_parser_of(field), metavar=field.metavar, help=text)


def _flag_help(field: Field) -> str:
    unit = f", in {field.unit}" if field.unit else ""
    allowed = "" if isinstance(field, Bool | Choice) else f" ({field.allowed()}{unit})"
    return (field.help + allowed).replace("%", "%%")


def _parser_of(field: Field):
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


def _add_train_command(commands) -> None:
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


def _training_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="starting point (default: tutorial): " + "; ".join(f"{n}: {note}" for n, note in PRESET_NOTES.items()),
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
        "--who", help="your name, saved with the run; the queue takes turns between names (at most 40 characters)"
    )
    _config_flags(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cifar",
        description="CIFAR-10 CNN Lab: train a CNN on CIFAR-10 and study what it learned.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_train_command(commands)

    add_study_commands(commands)
    add_explain_command(commands)

    add_runs_command(commands)

    stop = commands.add_parser(
        "stop", help="stop a queued or running training", description="Stop a training after its current batch."
    )
    stop.add_argument("run", help="run id or run directory")
    stop.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {
        "train": cmd_train,
        "launch": cmd_launch,
        "evaluate": cmd_evaluate,
        "predict": cmd_predict,
        "explain": cmd_explain,
        "runs": cmd_runs,
        "stop": cmd_stop,
    }
    try:
        return handlers[args.command](args)
    except CifarError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # the runs folder cannot be written, for one
        where = f" {error.filename}" if error.filename else ""
        reason = error.strerror or error
        print(f"error: could not write{where}: {reason}. Check the folder and the disk.", file=sys.stderr)
        return EXIT_USAGE


def cmd_train(args: argparse.Namespace) -> int:
    from cifar import local_queue, train

    run_dir = _prepare(args, backend_name="local")
    print(run_dir, flush=True)
    # This process is the training process: it waits its turn in line like any other.
    local_queue.enqueue(run_dir)
    return train.run_training(run_dir)


def cmd_launch(args: argparse.Namespace) -> int:
    from cifar import jobs
    from cifar.backend import backend
    from cifar.runs import Run

    run_dir = _prepare(args)
    backend().start(run_dir)
    run = Run(run_dir)
    print(run.id, flush=True)
    place = next((job for job in jobs.live_jobs(args.runs_dir) if job.run.id == run.id), None)
    status = run.written_status()
    where = f" on the Ray cluster at {status.cluster}" if status.cluster else ""
    if place is not None and place.queue_position:
        print(f"queued{where}: number {place.queue_position} in line")
    else:
        print(f"launched{where}; follow it with: python -m cifar runs")
    return 0


def _prepare(args: argparse.Namespace, backend_name: str | None = None) -> Path:
    """The run directory the flags describe: a continuation, or the preset with the flags on top."""
    from cifar import jobs

    if args.resume:
        return _prepare_resume(args, backend_name)
    from cifar.estimate import check_feasible
    from cifar.model import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES

    config = config_from_args(args)
    for warning in check_feasible(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES).warnings:
        print(f"warning: {warning}", file=sys.stderr)
    name = args.run_name or args.preset or "tutorial"
    return jobs.prepare_run(config, args.runs_dir, name, args.data, who=args.who or "", backend_name=backend_name)


def _prepare_resume(args: argparse.Namespace, backend_name: str | None) -> Path:
    from cifar import jobs
    from cifar.runs import find_run

    given = [name for name in FIELDS if name != "epochs" and getattr(args, name) is not None]
    if args.preset or given:
        flags = ", ".join("--" + name.replace("_", "-") for name in (["preset"] if args.preset else []) + given)
        raise ConfigError(f"--resume continues the run's own config; {flags} cannot change it. Give only --epochs.")
    if args.epochs is None:
        raise ConfigError("--resume needs --epochs N: how many more epochs to train.")
    parent = find_run(args.resume, args.runs_dir)
    return jobs.prepare_resume(
        parent, args.epochs, args.runs_dir, args.run_name, args.data, who=args.who or "", backend_name=backend_name
    )


def cmd_stop(args: argparse.Namespace) -> int:
    from cifar import jobs
    from cifar.runs import find_run

    run = find_run(args.run, args.runs_dir)
    if jobs.stop(run):
        print(f"asked {args.run} to stop after its current batch", flush=True)
        ended = jobs.wait_for_stop(run)  # a Ray cluster's run: up to CIFAR_RAY_STOP_GRACE, then Ray ends its job
        if ended:
            print(ended)
        return 0
    print(f"{args.run} is not queued or running; nothing to stop")
    return 0
