"""`python -m cifar control RUN`: steer a training while it runs."""

from __future__ import annotations

import argparse

from cifar.cli.train import field_parser
from cifar.config.settings import FIELDS
from cifar.launch.steer import answer, steer
from cifar.runs.owner import administrator
from cifar.runs.run import find_run

ANSWER_SECONDS = 20.0  # a training answers between batches; validating an epoch takes longer here
EXIT_REFUSED = 2


def add_control_command(commands) -> None:
    control = commands.add_parser(
        "control",
        help="steer a running training: pause, resume, a new learning rate, more or fewer epochs",
        description=(
            "Steer a training while it runs, on this machine or a Ray cluster: the training reads the request "
            "between batches and says in its events what it did. Waits a few seconds for that answer and prints "
            "it. A paused training keeps its place for CIFAR_PAUSE_MINUTES (default 10), then stops, keeping its "
            "finished epochs."
        ),
    )
    control.add_argument("run", help="run id or run directory")
    asked = control.add_mutually_exclusive_group(required=True)
    asked.add_argument("--pause", action="store_true", help="pause after the current batch")
    asked.add_argument("--resume", action="store_true", help="go on after a pause")
    asked.add_argument(
        "--lr",
        type=field_parser(FIELDS["learning_rate"]),
        metavar="RATE",
        help="the learning rate from the next batch (above 0, at most 10); a schedule goes on from it, scaled",
    )
    asked.add_argument(
        "--epochs", type=field_parser(FIELDS["epochs"]), metavar="N", help="end at epoch N (not before the current one)"
    )
    asked.add_argument("--stop-after-epoch", action="store_true", help="finish the epoch under way, keep it, and stop")
    asked.add_argument("--step", action="store_true", help="train until one more epoch has finished, then pause")
    control.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")
    control.add_argument("--who", help="your name, for the run's events and the audit log")
    control.add_argument("--no-wait", action="store_true", help="return once asked, without waiting for the answer")


def cmd_control(args: argparse.Namespace) -> int:
    run = find_run(args.run, args.runs_dir)
    if args.lr is not None:
        action, value = "lr", args.lr
    elif args.epochs is not None:
        action, value = "epochs", args.epochs
    else:
        action = next(name for name in ("pause", "resume", "stop_after_epoch", "step") if getattr(args, name))
        value = None
    request = steer(run, action, value, person=administrator(args.who))
    print(f"asked {run.id}: {request.describe()}", flush=True)
    if args.no_wait:
        return 0
    event = answer(run, request, ANSWER_SECONDS)
    if event is None:
        print(f"no answer yet after {ANSWER_SECONDS:g} s: the training does it after its current batch or validation")
        return 0
    print(f"{event.get('outcome', 'done')}: {event.get('detail', '')}")
    return EXIT_REFUSED if event.get("outcome") == "refused" else 0
