"""`python -m cifar experiment new|show`: a class experiment from the command line."""

from __future__ import annotations

import argparse
import json

from cifar.classroom.experiments import (
    answer,
    describe_grid,
    make_experiment,
    parse_vary,
    read_experiment,
    save_experiment,
)
from cifar.cli.train import config_flags, config_from_args
from cifar.config.presets import PRESETS
from cifar.config.settings import FIELDS
from cifar.errors import ConfigError
from cifar.runs.owner import administrator


def add_experiment_command(commands) -> None:
    experiment = commands.add_parser(
        "experiment",
        help="a class experiment: a grid of settings the class covers, one cell a person",
        description="Make a class experiment and print its link, or show what its runs found so far.",
    )
    actions = experiment.add_subparsers(dest="experiment_command", required=True, metavar="ACTION")
    new = actions.add_parser(
        "new",
        help="make an experiment and print its link",
        description=(
            "Make an experiment: a preset with any fixed settings (the usual flags), and one to three settings to "
            "vary, each with --vary SETTING=VALUE/VALUE/... (values written as on the command line, separated by "
            "'/'); at most 36 cells. Prints the link to give the class; `launch --experiment NAME` takes the next "
            "cell from the command line."
        ),
    )
    new.add_argument("name", help="the experiment's name: letters, digits, '-' and '_' (at most 40)")
    new.add_argument("--preset", choices=list(PRESETS), default="quick", help="the base (default: quick)")
    new.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="SETTING=V1/V2/...",
        help="a setting and its values, like dropout=0/0.25/0.5 or filters=16,32/32,64; one to three of these",
    )
    new.add_argument("--note", default="", help="what the class is to find out, shown with the experiment")
    new.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")
    config_flags(new)
    show = actions.add_parser(
        "show", help="what the experiment's runs found so far", description="Each cell's runs and accuracy, and "
        "which setting mattered most (a permutation importance with its spread over resamples of the runs)."
    )  # fmt: skip
    show.add_argument("name")
    show.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")
    show.add_argument("--json", action="store_true", help="print JSON")


def cmd_experiment(args: argparse.Namespace) -> int:
    if args.experiment_command == "new":
        return _new(args)
    return _show(args)


def _new(args: argparse.Namespace) -> int:
    vary = [parse_vary(text) for text in args.vary]
    base = config_from_args(args)
    fixed = {name: value for name in FIELDS if (value := getattr(args, name, None)) is not None}
    varied_and_fixed = sorted({name for name, _ in vary} & set(fixed))
    if varied_and_fixed:
        raise ConfigError(f"{', '.join(varied_and_fixed)} is both fixed and varied: give it with --vary only.")
    experiment = make_experiment(args.name, args.preset, vary, base.to_dict(), args.note, person=administrator())
    save_experiment(experiment, args.runs_dir, person=administrator())
    print(f"experiment {experiment.name}: {describe_grid(experiment)}")
    print(f"link for the class: {experiment.link}  (after the app's address, like http://localhost:8501/)")
    print(f"from the command line: python -m cifar launch --experiment {experiment.name} --who NAME")
    return 0


def _show(args: argparse.Namespace) -> int:
    found = answer(read_experiment(args.name, args.runs_dir), args.runs_dir)
    if args.json:
        print(json.dumps(found.to_json(), indent=2))
        return 0
    print(f"experiment {found.experiment.name}: {describe_grid(found.experiment)}")
    for summary in found.summaries:
        where = found.experiment.describe_cell(summary.cell)
        if summary.mean is None:
            print(f"  {where:<48} {summary.launched} run(s), none finished")
            continue
        spread = f" ± {summary.spread:.3f}" if summary.spread is not None else ""
        print(f"  {where:<48} {summary.runs} finished: {summary.mean:.3f}{spread}")
    print(found.words)
    return 0
