"""`python -m cifar`: train, evaluate, predict, explain, list and stop runs from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cifar.cli_explain import add_explain_command, cmd_explain
from cifar.errors import CifarError, ConfigError, RunError
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
        help="train a model; writes a run directory and prints its path first",
        description=(
            "Train a CNN on CIFAR-10. Creates <runs>/<id>/ and prints its path first; the run "
            "directory holds the config, status, live events, history, model.keras and the "
            "test-set predictions of every epoch. Waits its turn if another training runs "
            "(CIFAR_MAX_TRAININGS, default 1). Ctrl-C or SIGTERM stops after the current batch "
            "and keeps the finished epochs. Exit codes: 0 finished, 1 failed, 2 bad arguments, "
            "3 stopped."
        ),
    )
    train.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="starting point (default: tutorial): " + "; ".join(f"{n}: {note}" for n, note in PRESET_NOTES.items()),
    )
    train.add_argument(
        "--resume",
        metavar="RUN",
        help="continue a finished or stopped run (id or directory) from its weights and optimizer state, "
        "as a new run; --epochs then says how many more epochs to train",
    )
    train.add_argument(
        "--data", help="CIFAR-10 archive, batches folder or image tree (default: $CIFAR10_DIR, else download)"
    )
    train.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")
    train.add_argument("--run-name", help="a label for the run, part of its id")
    _config_flags(train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cifar",
        description="CIFAR-10 CNN Lab: train a CNN on CIFAR-10 and study what it learned.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_train_command(commands)

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

    add_explain_command(commands)

    runs = commands.add_parser("runs", help="list runs, newest first", description="List runs, newest first.")
    runs.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")
    runs.add_argument("--json", action="store_true", help="print JSON")

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
    from cifar import jobs, local_queue, train

    if args.resume:
        run_dir = _prepare_resume(args)
    else:
        from cifar.estimate import check_feasible
        from cifar.model import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES

        config = config_from_args(args)
        for warning in check_feasible(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES).warnings:
            print(f"warning: {warning}", file=sys.stderr)
        run_dir = jobs.prepare_run(config, args.runs_dir, args.run_name or args.preset or "tutorial", args.data)
    print(run_dir, flush=True)
    # This process is the training process: it waits its turn in line like any other.
    local_queue.enqueue(run_dir)
    return train.run_training(run_dir)


def _prepare_resume(args: argparse.Namespace) -> Path:
    from cifar import jobs
    from cifar.runs import find_run

    given = [name for name in FIELDS if name != "epochs" and getattr(args, name) is not None]
    if args.preset or given:
        flags = ", ".join("--" + name.replace("_", "-") for name in (["preset"] if args.preset else []) + given)
        raise ConfigError(f"--resume continues the run's own config; {flags} cannot change it. Give only --epochs.")
    if args.epochs is None:
        raise ConfigError("--resume needs --epochs N: how many more epochs to train.")
    parent = find_run(args.resume, args.runs_dir)
    return jobs.prepare_resume(parent, args.epochs, args.runs_dir, args.run_name, args.data)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cifar import evaluate
    from cifar.runs import find_run

    run = find_run(args.run, args.runs_dir)
    epochs = run.prediction_epochs()
    if args.flip and not epochs:
        raise RunError(f"Run {run.id} has no finished epoch yet, so there is no model to test with a flip.")
    probabilities = run.predictions(args.epoch)
    epoch = args.epoch or epochs[-1]
    report = {"run": run.id, "epoch": epoch, **evaluate.summarize(run.labels(), probabilities, run.class_names())}
    if args.flip:
        report["flip"] = _flip_test(run, epoch)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"run {run.id}, epoch {epoch} of {epochs[-1]} stored")
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
    from cifar.data import load_dataset
    from cifar.network import flip_accuracies

    if not run.has_model():
        raise RunError(f"Run {run.id} has no model file ({run.files.model.name}) to test with a flip.")
    if epoch != run.prediction_epochs()[-1]:
        raise RunError(f"--flip tests the model of the last epoch only; leave out --epoch {epoch}.")
    data = load_dataset(run.written_status().data_path)
    labels = run.labels()
    if len(labels) != len(data.y_test) or not (labels == data.y_test).all():
        raise RunError(f"Run {run.id} was tested on other data than {data.source}: point CIFAR10_DIR at its data.")
    plain, flipped = flip_accuracies(run.load_model(), data.x_test, labels)
    return {"accuracy": plain, "with_flip": flipped}


def cmd_predict(args: argparse.Namespace) -> int:
    from cifar import infer
    from cifar.runs import find_run

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


def cmd_runs(args: argparse.Namespace) -> int:
    from cifar.compare import run_summary
    from cifar.runs import list_runs, runs_root

    rows = [run_summary(run) for run in list_runs(args.runs_dir)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"No runs in {runs_root(args.runs_dir)} yet. Start one: python -m cifar train --preset quick")
        return 0
    print(f"{'run':<44} {'state':<11} {'epochs':>7} {'test acc':>8} {'best':>6} {'time':>8}")
    for row in rows:
        accuracy = "" if row["final_accuracy"] is None else f"{row['final_accuracy']:.3f}"
        best = "" if row["best_accuracy"] is None else f"{row['best_accuracy']:.3f}"
        seconds = "" if row["seconds"] is None else f"{row['seconds'] / 60:.1f} min"
        print(
            f"{row['id']:<44} {row['state']:<11} {row['epoch']:>3}/{row['epochs'] or '?':<3} "
            f"{accuracy:>8} {best:>6} {seconds:>8}"
        )
    return 0


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
