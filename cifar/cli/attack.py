"""`python -m cifar attack`: fool a run's network with a change too small to see (FGSM, PGD)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from cifar.cli.study import tested_images
from cifar.errors import ConfigError
from cifar.runs.run import Run, find_run
from cifar.study import attack, infer
from cifar.study.compare import held_out, scored_on
from cifar.study.explain import kept_epoch, open_epoch

ATTACK_BUDGET = 8  # the usual budget on CIFAR-10, in pixel levels of 255


def add_attack_command(commands) -> None:
    parser = commands.add_parser(
        "attack",
        help="fool a run's network: change an image within a budget of pixel levels (FGSM, PGD)",
        description=(
            "Change one test image (--image N) or an image file (--file) by at most ε pixel levels of 255 in "
            "every colour, so that the run's network answers something else (or, with --target, the class "
            f"named). FGSM takes one step; PGD takes {attack.PGD_STEPS}. --against tries the same changed image "
            "on another run. --curve instead measures the test accuracy under both attacks at ε = 0, "
            f"{', '.join(map(str, attack.BUDGETS))} on a fixed sample of {attack.ROBUSTNESS_IMAGES} test images, "
            "kept in the cache folder. Exit codes: 0 done, 2 bad arguments or no network yet."
        ),
    )
    parser.add_argument("run", help="run id or run directory")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=int, metavar="N", help="the test image number N (0 to 9,999)")
    source.add_argument("--file", metavar="IMAGE", help="an image file (PNG, JPEG, WebP, BMP or GIF)")
    source.add_argument("--curve", action="store_true", help="the accuracy-under-attack curve instead")
    parser.add_argument("--eps", help=f"the budget in pixel levels, 0 to {attack.MAX_BUDGET} (default {ATTACK_BUDGET})")
    parser.add_argument("--method", choices=attack.METHODS, help="fgsm (default) or pgd")
    parser.add_argument(
        "--target", metavar="CLASS", help="make it answer this class (default: anything but the right one)"
    )
    parser.add_argument("--against", metavar="OTHER_RUN", help="also show the changed image to this run's network")
    parser.add_argument("--epoch", type=int, help="the network after this epoch (default: the last kept)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")


def cmd_attack(args: argparse.Namespace) -> int:
    """Attack one test image (or an uploaded file) of RUN, or with --curve measure its accuracy
    under attack; print the outcome in words or as JSON. Returns the exit code."""
    run = find_run(args.run, args.runs_dir)
    if args.curve:
        return _curve(run, args)
    budget = attack.check_budget(ATTACK_BUDGET if args.eps is None else args.eps)
    names = run.class_names()
    target = None if args.target is None else attack.class_index(args.target, names)
    other = None if args.against is None else find_run(args.against, args.runs_dir)
    attacker = attack.Attacker(open_epoch(run, args.epoch), f"Run {run.id}'s network")
    image, true_class, what = _image(run, args)
    made = attack.attack_image(attacker, image, budget, args.method or "fgsm", target, true_class)
    report = _report(made, names) | {"run": run.id, "image": what, "true_class": _name(names, true_class)}
    if other is not None:
        other_attacker = attack.Attacker(open_epoch(other), f"Run {other.id}'s network")
        before, after = other_attacker.probabilities(np.stack([made.original, made.attacked]))
        report["against"] = {"run": other.id, "before": _answer(before, names), "after": _answer(after, names)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def _image(run: Run, args: argparse.Namespace) -> tuple[np.ndarray, int | None, str]:
    if args.file is not None:
        prepared = infer.prepare_image(infer.read_image_file(Path(args.file)), args.file)
        return prepared.pixels, None, args.file
    images, labels = tested_images(run)
    if not 0 <= args.image < len(images):
        raise ConfigError(f"--image {args.image} is not a test image: choose a number from 0 to {len(images) - 1}.")
    return images[args.image], int(labels[args.image]), f"test image #{args.image}"


def _name(names: tuple[str, ...], index: int | None) -> str | None:
    return None if index is None else names[index]


def _answer(probabilities: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    top = int(probabilities.argmax())
    return {"class": names[top], "probability": round(float(probabilities[top]), 4)}


def _report(made: attack.Attack, names: tuple[str, ...]) -> dict[str, Any]:
    return {
        "method": made.method, "eps": made.budget, "target": _name(names, made.target),
        "before": _answer(made.before, names), "after": _answer(made.after, names),
        "fooled": made.fooled(), "largest_change": made.largest_change(),
        "changed_values": int(np.count_nonzero(made.change)),
    }  # fmt: skip


def _print(report: dict[str, Any]) -> None:
    before, after = report["before"], report["after"]
    aim = f"towards {report['target']}" if report["target"] else "away from its answer"
    attack_words = f"{report['method'].upper()} at ε = {report['eps']} {aim}"
    print(f"{report['image']} ({report['true_class'] or 'class unknown'}), {attack_words}:")
    print(f"  before: {before['class']} {before['probability']:.1%}")
    print(f"  after:  {after['class']} {after['probability']:.1%} ({'fooled' if report['fooled'] else 'not fooled'})")
    print(f"  largest change: {report['largest_change']} of 255")
    if "against" in report:
        other = report["against"]
        print(f"  run {other['run']}: {other['before']['class']} before, {other['after']['class']} after")


def _curve(run: Run, args: argparse.Namespace) -> int:
    given = [flag for flag, value in (("--eps", args.eps), ("--method", args.method), ("--target", args.target),
                                      ("--against", args.against)) if value is not None]  # fmt: skip
    if given:
        raise ConfigError(
            "--curve measures both methods at every budget, untargeted, on this run alone: "
            f"leave out {', '.join(given)}."
        )
    kept_epoch(run, args.epoch)  # before the data is read: a run with no network says so
    images, labels = tested_images(run)
    found = attack.robustness_of(run, images, labels, args.epoch, on_step=lambda text: print(text, file=sys.stderr))
    if args.json:
        print(json.dumps({"run": run.id, "tested_on": scored_on(run), **found.as_record()}, indent=2))
        return 0
    scored = "held-out" if held_out(run) else "test"
    print(f"run {run.id}, epoch {found.epoch}: {scored} accuracy under attack on {found.images} {scored} images")
    print("    ε " + " ".join(f"{budget:>6}" for budget in found.budgets))
    for method, values in found.accuracy.items():
        print(f"{method.upper():>5} " + " ".join(f"{value:>6.3f}" for value in values))
    return 0
