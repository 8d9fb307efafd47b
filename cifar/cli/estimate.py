"""`python -m cifar estimate`: how long a training would take here, and on what the figure rests."""

from __future__ import annotations

import argparse
import json

from cifar.cli.train import config_flags, config_from_args
from cifar.config.presets import PRESETS
from cifar.config.settings import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES
from cifar.launch.estimate import estimate, measure_here
from cifar.network.speed import kept_speed
from cifar.runs.progress import describe_duration


def add_estimate_command(commands) -> None:
    parser = commands.add_parser(
        "estimate",
        help="how long a training would take on this machine, and on what the figure rests",
        description=(
            "Estimate the whole time of `train` with the same flags on this machine. The first time for a "
            "network it measures this machine's speed (a few seconds of real training steps, kept in the "
            "cache folder for this machine), unless a training runs here; runs of the same preset this "
            "machine trained are used before that. Prints the seconds and the basis."
        ),
    )
    parser.add_argument("--preset", choices=list(PRESETS), help="starting point (default: tutorial), as for train")
    parser.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")
    measuring = parser.add_mutually_exclusive_group()
    measuring.add_argument("--measure", action="store_true", help="measure this machine's speed again")
    measuring.add_argument("--no-measure", action="store_true", help="never measure; use what is known")
    parser.add_argument("--json", action="store_true", help="print JSON")
    config_flags(parser)


def cmd_estimate(args: argparse.Namespace) -> int:
    """Print the estimated whole time of the config the flags give, with its basis. Returns 0."""
    config = config_from_args(args)
    note = None
    if args.measure or (not args.no_measure and kept_speed(config) is None):
        note = measure_here(config, args.runs_dir)
    found = estimate(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES, args.runs_dir)
    if args.json:
        print(
            json.dumps(
                {
                    "preset": args.preset or "tutorial",
                    "seconds": round(found.seconds, 1),
                    "basis": found.basis,
                    "note": note,
                }
            )
        )
        return 0
    if note:
        print(note)
    spoken = f" ({describe_duration(found.seconds)})" if found.seconds >= 120 else ""
    print(f"{found.seconds:.0f} s{spoken}, from {found.basis}.")
    return 0
