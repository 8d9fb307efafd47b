"""`python -m cifar embed`: the map of what a run's network learned, as coordinates in a CSV."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from cifar.atomic import write_bytes_atomic
from cifar.cli.study import tested_images
from cifar.errors import ConfigError, os_errors_as
from cifar.launch import launcher
from cifar.runs.run import find_run
from cifar.study.embedding import MAP_IMAGES, NEIGHBOURS, map_of
from cifar.study.explain import kept_epoch

COLUMNS = ("image", "x", "y", "true_class", "predicted_class", "right", "neighbours")


def add_embed_command(commands) -> None:
    embed = commands.add_parser(
        "embed",
        help="the map of what a run's network learned: test images placed by their features (t-SNE)",
        description=(
            f"Place {MAP_IMAGES:,} test images (the same {MAP_IMAGES // 10} of each class every time; all with --all) "
            "by their features in one layer of a run's network, reduced to 50 principal components and laid out "
            "by t-SNE. Writes one row per image: its number, x, y, true and predicted class, and its "
            f"{NEIGHBOURS} nearest images in feature space. Kept in the cache folder (CIFAR_CACHE_DIR), so a "
            "second call is quick. Exit codes: 0 written, 2 bad arguments or no network yet."
        ),
    )
    embed.add_argument("run", help="run id or run directory")
    embed.add_argument("--epoch", type=int, help="the network after this epoch (default: the last kept)")
    embed.add_argument(
        "--layer", metavar="NAME", help="the layer (default: the classifier's input; a wrong name lists them)"
    )
    embed.add_argument("--all", action="store_true", help="every test image rather than the fixed sample")
    embed.add_argument("--out", metavar="FILE", required=True, help="the CSV file to write (- for the terminal)")
    embed.add_argument(
        "--json", action="store_true", help="also print a JSON summary (layer, epoch, neighbour agreement)"
    )
    embed.add_argument("--runs-dir", help="where runs live (default: $CIFAR_RUNS_DIR, else ./runs)")


def cmd_embed(args: argparse.Namespace) -> int:
    """Write the feature map of RUN (one row per test image: its place, classes and neighbours)
    as CSV, to --out or standard output; with --json, a summary too. Returns the exit code."""
    run = find_run(args.run, args.runs_dir)
    if args.out == "-" and args.json:
        raise ConfigError("--json with --out - would print the CSV and the JSON together: write the CSV to a file.")
    if args.out != "-" and Path(args.out).is_dir():
        raise ConfigError(f"--out {args.out} is a folder: name a file, such as map.csv.")
    epoch = kept_epoch(run, args.epoch)  # before the data is read: a run with no network says so
    if args.epoch is None and launcher.status(run).live:
        print(f"note: run {run.id} is still training; the map is of epoch {epoch}, its last kept.", file=sys.stderr)
    images, labels = tested_images(run)
    found = map_of(
        run, images, labels, args.epoch, args.layer, args.all, on_step=lambda text: print(text, file=sys.stderr)
    )
    names = run.class_names()
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(COLUMNS)
    for position, index in enumerate(found.indices):
        true, predicted = int(found.labels[position]), int(found.predicted[position])
        x, y = (float(v) for v in found.points[position])
        near = " ".join(str(int(found.indices[n])) for n in found.neighbours[position])
        writer.writerow(
            [int(index), f"{x:.4f}", f"{y:.4f}", names[true], names[predicted], int(true == predicted), near]
        )
    _write(args.out, table.getvalue())
    summary = {
        "run": run.id, "epoch": found.epoch, "layer": found.layer, "images": len(found.indices),
        "neighbour_agreement": round(found.agreement(), 4), "chance": round(found.chance(), 4), "out": args.out,
    }  # fmt: skip
    if args.json:
        print(json.dumps(summary, indent=2))
    elif args.out != "-":
        print(
            f"{args.out}: {summary['images']:,} images from {found.layer} after epoch {found.epoch}; "
            f"{summary['neighbour_agreement']:.0%} of their {NEIGHBOURS} nearest share their class "
            f"(chance: {summary['chance']:.0%})."
        )
    return 0


def _write(out: str, text: str) -> None:
    if out == "-":
        sys.stdout.write(text)
        return
    path = Path(out)
    with os_errors_as(ConfigError, f"Could not write {out}", "check that its folder exists and is writable"):
        write_bytes_atomic(path, text.encode())
