"""`python -m cifar`: train, evaluate, predict, explain, map, attack, list and stop runs from a terminal."""

from __future__ import annotations

import argparse
import sys

from cifar.cli.attack import add_attack_command, cmd_attack
from cifar.cli.audit import add_audit_command, cmd_audit
from cifar.cli.control import add_control_command, cmd_control
from cifar.cli.embed import add_embed_command, cmd_embed
from cifar.cli.estimate import add_estimate_command, cmd_estimate
from cifar.cli.experiment import add_experiment_command, cmd_experiment
from cifar.cli.explain import add_explain_command, cmd_explain
from cifar.cli.runs import add_runs_command, add_stop_command, cmd_runs, cmd_stop
from cifar.cli.study import add_study_commands, cmd_evaluate, cmd_predict
from cifar.cli.train import add_train_commands, cmd_launch, cmd_train
from cifar.errors import CifarError

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cifar",
        description="CIFAR-10 CNN Lab: train a CNN on CIFAR-10 and study what it learned.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_train_commands(commands)
    add_estimate_command(commands)
    add_study_commands(commands)
    add_explain_command(commands)
    add_embed_command(commands)
    add_attack_command(commands)
    add_runs_command(commands)
    add_stop_command(commands)
    add_control_command(commands)
    add_experiment_command(commands)
    add_audit_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {
        "train": cmd_train,
        "launch": cmd_launch,
        "estimate": cmd_estimate,
        "evaluate": cmd_evaluate,
        "predict": cmd_predict,
        "explain": cmd_explain,
        "embed": cmd_embed,
        "attack": cmd_attack,
        "runs": cmd_runs,
        "stop": cmd_stop,
        "control": cmd_control,
        "experiment": cmd_experiment,
        "audit": cmd_audit,
    }
    try:
        return handlers[args.command](args)
    except CifarError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # a last resort: cifar says its OSErrors in words where it meets them
        where = f" {error.filename}" if error.filename else ""
        reason = error.strerror or error
        print(f"error: could not read or write{where}: {reason}. Check the folder and the disk.", file=sys.stderr)
        return EXIT_USAGE
