"""Benchmark 1: the app's training path against a bare `model.fit` of the same config on the
same data, interleaved, one epoch each.

    .venv/bin/python benchmarks/bench_overhead.py [--preset tutorial] [--train-size 10000] [--repeats 5]

The app's path is a `python -m cifar train` process with its live callback, event log, the
per-epoch test predictions and the saved model. The reference is benchmarks/bare_fit.py:
`model.fit` on the numpy arrays, then `model.evaluate`; it runs twice, plain and with
TensorFlow's deterministic ops, which the app used to turn on. The speed compared is the
steady one, from the end of batch 50 to the end of the epoch: the first steps trace the graph,
and that took from 0.1 to 4 s at random, more than the effect sought. The whole epoch's speed
is reported beside it.
Data: --data, else CIFAR10_DIR (the real CIFAR-10, as users train on it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bare_fit import WARMUP_BATCHES
from common import ROOT, median, save, train_process


def app_epoch(args, runs: Path) -> dict:
    arguments = ["--preset", args.preset, "--epochs", "1", "--runs-dir", str(runs), "--run-name", "bench"]
    if args.train_size:
        arguments += ["--train-size", str(args.train_size)]
    if args.data:
        arguments += ["--data", args.data]
    training = train_process(arguments)
    events = training.events
    epoch = next(e for e in events if e["type"] == "epoch")
    start = next(e for e in events if e["type"] == "start")
    # The steady rate between two batch events, as bare_fit measures it: from the first event
    # after its warm-up batches to the epoch's last batch (always reported).
    batches = [e for e in events if e["type"] == "batch"]
    first = next(e for e in batches if e["batch"] >= WARMUP_BATCHES)
    last = batches[-1]
    steady = (last["batch"] - first["batch"]) * start["batch_size"] / (last["time"] - first["time"])
    return {
        "images": start["train_images"],
        "steady_images_per_second": steady,
        "train_seconds": epoch["train_seconds"],
        "epoch_seconds": epoch["seconds"],
        "peak_rss_bytes": training.peak_rss_bytes,
    }


def bare_epoch(args, deterministic: bool = False) -> dict:
    command = [sys.executable, str(ROOT / "benchmarks" / "bare_fit.py"), "--preset", args.preset]
    if deterministic:
        command.append("--deterministic")
    if args.train_size:
        command += ["--train-size", str(args.train_size)]
    if args.data:
        command += ["--data", args.data]
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["epoch_seconds"] = result["train_seconds"] + result["val_seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tutorial")
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", default=os.environ.get("CIFAR10_DIR"))
    args = parser.parse_args()
    app, bare, deterministic = [], [], []
    with tempfile.TemporaryDirectory() as runs:
        for repeat in range(args.repeats):  # interleaved: drifts in the machine's speed hit all three
            bare.append(bare_epoch(args))
            deterministic.append(bare_epoch(args, deterministic=True))
            app.append(app_epoch(args, Path(runs)))
            print(f"repeat {repeat + 1}: bare {bare[-1]}, deterministic {deterministic[-1]}, app {app[-1]}", flush=True)

    def rate(results: list[dict]) -> float:
        """Median steady training speed: after the warm-up batches, to the end of the epoch."""
        return median([r["steady_images_per_second"] for r in results])

    def epoch_rate(results: list[dict]) -> float:
        """Median over the whole epoch, the first steps' tracing included."""
        return median([r["images"] / r["train_seconds"] for r in results])

    pairs = list(zip(app, bare, strict=True))
    results = {
        "preset": args.preset,
        "train_images": app[0]["images"],
        "repeats": args.repeats,
        "warmup_batches_left_out": WARMUP_BATCHES,
        "bare_images_per_second": round(rate(bare), 1),
        "bare_deterministic_images_per_second": round(rate(deterministic), 1),
        "app_images_per_second": round(rate(app), 1),
        "speed_ratio_app_to_bare": round(rate(app) / rate(bare), 3),
        "speed_ratio_deterministic_to_bare": round(rate(deterministic) / rate(bare), 3),
        # Each repeat's app against the bare run just before it: robust to slow drifts.
        "paired_ratio_app_to_bare_median": round(median([rate([a]) / rate([b]) for a, b in pairs]), 3),
        "whole_epoch_images_per_second": {
            "bare": round(epoch_rate(bare), 1),
            "bare_deterministic": round(epoch_rate(deterministic), 1),
            "app": round(epoch_rate(app), 1),
        },
        "spread_images_per_second": {
            "bare": [round(r["steady_images_per_second"], 1) for r in bare],
            "bare_deterministic": [round(r["steady_images_per_second"], 1) for r in deterministic],
            "app": [round(r["steady_images_per_second"], 1) for r in app],
        },
        "bare_epoch_seconds_with_evaluate": round(median([r["epoch_seconds"] for r in bare]), 2),
        "app_epoch_seconds_with_validation_and_saving": round(median([r["epoch_seconds"] for r in app]), 2),
        "bare_peak_rss_mb": round(median([r["peak_rss_bytes"] for r in bare]) / 1e6),
        "app_peak_rss_mb": round(median([r["peak_rss_bytes"] for r in app]) / 1e6),
    }
    command = (
        f"python benchmarks/bench_overhead.py --preset {args.preset} --train-size {args.train_size} "
        f"--repeats {args.repeats}"
    )
    save(f"overhead-{args.preset}", command, results)


if __name__ == "__main__":
    main()
