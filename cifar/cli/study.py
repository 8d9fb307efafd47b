"""`python -m cifar evaluate` and `predict`: a run's test results, and its answers for image files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cifar.data import load_dataset
from cifar.errors import RunError
from cifar.network.build import flip_accuracies
from cifar.runs.run import find_run, images_tested_on
from cifar.study import evaluate, infer
from cifar.study.compare import held_out, scored_on


def add_study_commands(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="test loss and accuracy, confusion matrix and per-class table of a run",
        description="Evaluate a run from its stored test-set predictions (no model is run).",
    )
    evaluate.add_argument("run", help="run id (see `python -m cifar runs`) or run directory")
    evaluate.add_argument("--epoch", type=int, help="replay this epoch (default: the last finished)")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of tables")
    evaluate.add_argument(
        "--flip",
        action="store_true",
        help="also test the last epoch's model with a test-time flip (each image and its mirror image; "
        "needs the model and the test images)",
    )
    evaluate.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")

    predict = commands.add_parser(
        "predict",
        help="top classes for image files, with a run's model",
        description=(
            "Classify image files with a run's model: EXIF orientation, RGB, centre crop to a "
            "square, resize to 32×32 (the same as the dashboard)."
        ),
    )
    predict.add_argument("run", help="run id or run directory")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, WebP, BMP or GIF files")
    predict.add_argument("--top", type=int, default=3, help="how many classes to show (default: 3)")
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")


def cmd_evaluate(args: argparse.Namespace) -> int:
    run = find_run(args.run, args.runs_dir)
    epochs = run.prediction_epochs()
    if args.flip and not epochs:
        raise RunError(f"Run {run.id} has no finished epoch yet, so there is no model to test with a flip.")
    probabilities = run.predictions(args.epoch)
    epoch = args.epoch or epochs[-1]
    report = {
        "run": run.id,
        "epoch": epoch,
        "tested_on": scored_on(run),
        **evaluate.summarize(run.labels(), probabilities, run.class_names()),
    }
    if args.flip:
        report["flip"] = _flip_test(run, epoch)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"run {run.id}, epoch {epoch} of {epochs[-1]} stored")
    if held_out(run):
        print(f"tested on {report['tested_on']}, not on the test set: 'test' below means those images")
    print(f"test loss {report['test_loss']:.4f}   test accuracy {report['test_accuracy']:.4f}\n")
    names = report["class_names"]
    width = max(len(n) for n in names)
    print("confusion matrix (rows: true class, columns: predicted)")
    print(" " * (width + 1) + " ".join(f"{n[:5]:>5}" for n in names))
    for name, row in zip(names, report["confusion"], strict=True):
        print(f"{name:>{width}} " + " ".join(f"{v:>5}" for v in row))
    print(f"\n{'class':>{width}}  precision  recall     f1  support")
    for row in report["per_class"]:
        print(
            f"{row['class']:>{width}}  {row['precision']:>9.3f}  {row['recall']:>6.3f}  "
            f"{row['f1']:>5.3f}  {row['support']:>7}"
        )
    print("\nmost confused:")
    for cell in report["most_confused"]:
        print(f"  {evaluate.Confusion(**cell)}")
    if args.flip:
        flip = report["flip"]
        print(f"\ntest accuracy {flip['accuracy']:.4f} without a test-time flip, {flip['with_flip']:.4f} with one")
    return 0


def _flip_test(run, epoch: int) -> dict[str, float]:
    """The last epoch's model tested plainly and with the test-time flip.

    Raises:
        RunError: the run has no model yet, or `epoch` is not its last.
        DataError: the test images cannot be loaded.
    """

    if not run.has_model():
        raise RunError(f"Run {run.id} has no model file ({run.files.model.name}) to test with a flip.")
    if epoch != run.prediction_epochs()[-1]:
        raise RunError(f"--flip tests the model of the last epoch only; leave out --epoch {epoch}.")
    x_test, y_test = tested_images(run)
    plain, flipped = flip_accuracies(run.load_model(), x_test, y_test)
    return {"accuracy": plain, "with_flip": flipped}


def tested_images(run) -> tuple:
    """The test images (uint8) and labels `run` was tested on.

    Raises:
        DataError: the data cannot be loaded.
        RunError: the data found is not the data the run was tested on.
    """
    data = load_dataset(run.written_status().data_path)
    tested = images_tested_on(run, data)
    if tested is None:
        raise RunError(f"Run {run.id} was tested on other data than {data.source}: point CIFAR10_DIR at its data.")
    return tested


def cmd_predict(args: argparse.Namespace) -> int:
    run = find_run(args.run, args.runs_dir)
    model = run.load_model()
    names = run.class_names()
    config = run.config()  # answered as the run was tested
    results: list[dict[str, Any]] = []
    failed = 0
    for image_path in args.images:
        try:
            data = infer.read_image_file(Path(image_path))
            prepared = infer.prepare_image(data, image_path)
        except infer.ImageError as error:
            failed += 1
            results.append({"image": image_path, "error": str(error)})
            continue
        probabilities = infer.predict(model, prepared.pixels, config)
        top = infer.top_classes(probabilities, names, args.top)
        results.append({"image": image_path, "top": [{"class": c, "probability": p} for c, p in top]})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            if "error" in result:
                print(f"error: {result['error']}", file=sys.stderr)  # the message starts with the file's name
                continue
            tops = ", ".join(f"{t['class']} {t['probability']:.1%}" for t in result["top"])
            print(f"{result['image']}: {tops}")
    return 1 if failed else 0
