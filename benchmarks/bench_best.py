"""Benchmark 8: the `best` preset against the tutorial's 10 epochs, side by side in one run.

    .venv/bin/python benchmarks/bench_best.py [--repeats 2] [--preset best] [--target 0.80] [--data PATH]

Each repeat times, one after the other on the same machine:

- the reference: one epoch of the tutorial's network as a bare `model.fit` at batch 10 on all
  50,000 training images, then its test (benchmarks/bare_fit.py); ten of those epochs are the
  time the preset must beat. The process's start-up is left out of the reference and its test
  runs at batch 500, so the budget is, if anything, short.
- the preset: the whole `python -m cifar train --preset best` process, from launch to exit,
  start-up, data loading, every epoch's test and the test-time flip included.

It reports the preset's test accuracy, both times and their ratio, the time from launch to the
first epoch at --target, its images/s and its peak memory. Data: --data, else CIFAR10_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, median, save, train_process

EPOCHS_OF_TUTORIAL = 10


def tutorial_epoch(data: str | None) -> dict:
    """One bare epoch of the tutorial's fit and its test, in a process of its own."""
    command = [sys.executable, str(ROOT / "benchmarks" / "bare_fit.py"), "--preset", "tutorial"]
    command += ["--data", data] if data else []
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["epoch_seconds"] = result["train_seconds"] + result["val_seconds"]
    return result


def preset_run(name: str, runs: Path, data: str | None, target: float) -> dict:
    """The whole training process of a preset, timed from launch to exit."""
    arguments = ["--preset", name, "--runs-dir", str(runs)] + (["--data", data] if data else [])
    training = train_process(arguments)
    ended = time.time()
    if training.returncode != 0:
        raise SystemExit(f"{name} training failed: see {training.run_dir}/status.json")
    epochs = [e for e in training.events if e["type"] == "epoch"]
    start = next(e for e in training.events if e["type"] == "start")
    status = json.loads((training.run_dir / "status.json").read_text())
    hit = next((e for e in epochs if e["val_accuracy"] >= target), None)
    return {
        "seconds": round(ended - training.launched, 1),
        "seconds_to_target": hit and round(hit["time"] - training.launched, 1),
        "startup_seconds": round(start["time"] - training.launched, 1),
        "accuracy": epochs[-1]["val_accuracy"],
        "peak_rss_mb": round(training.peak_rss_bytes / 1e6),
        "precision": status.get("precision"),
        "machine": status.get("machine"),
        "images_per_second_median": median([e["images_per_second"] for e in epochs]),
        "epochs": [
            {key: e[key] for key in ("epoch", "val_accuracy", "accuracy", "loss", "val_loss", "seconds")}
            | {"since_launch_seconds": round(e["time"] - training.launched, 1)}
            for e in epochs
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--preset", default="best")
    parser.add_argument("--target", type=float, default=0.80, help="a test accuracy whose time to reach is reported")
    parser.add_argument("--data", default=os.environ.get("CIFAR10_DIR"))
    args = parser.parse_args()
    references, runs = [], []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):  # alternating, so a drift in the machine's speed hits both
            references.append(tutorial_epoch(args.data))
            runs.append(preset_run(args.preset, Path(folder), args.data, args.target))
            budget = EPOCHS_OF_TUTORIAL * references[-1]["epoch_seconds"]
            print(
                f"repeat {repeat + 1}: {args.preset} {runs[-1]['accuracy']:.4f} in {runs[-1]['seconds']:.0f} s; "
                f"tutorial's 10 epochs {budget:.0f} s",
                flush=True,
            )
    budgets = [EPOCHS_OF_TUTORIAL * r["epoch_seconds"] for r in references]
    ratios = [run["seconds"] / budget for run, budget in zip(runs, budgets, strict=True)]
    results = {
        "preset": args.preset,
        "repeats": args.repeats,
        "accuracy": [run["accuracy"] for run in runs],
        "seconds": [run["seconds"] for run in runs],
        "target": args.target,
        "seconds_to_target": [run["seconds_to_target"] for run in runs],
        "tutorial_ten_epochs_seconds": [round(b, 1) for b in budgets],
        "ratio_per_repeat": [round(r, 3) for r in ratios],
        "ratio_median": round(median(ratios), 3),
        "preset_images_per_second_median": median([run["images_per_second_median"] for run in runs]),
        "tutorial_images_per_second_median": round(median([r["steady_images_per_second"] for r in references]), 1),
        "peak_rss_mb": [run["peak_rss_mb"] for run in runs],
        "runs": runs,
        "tutorial_epochs": references,
    }
    command = f"python benchmarks/bench_best.py --repeats {args.repeats} --preset {args.preset} --target {args.target}"
    save(f"best-{args.preset}" if args.preset != "best" else "best", command, results)


if __name__ == "__main__":
    main()
