"""Benchmark 3: wall time for the `fast` preset to reach a test accuracy, against the tutorial
preset's 10 epochs, on the same machine in the same run.

    .venv/bin/python benchmarks/bench_time_to_accuracy.py [--target 0.68] [--repeats 2]

Both go through the app's own path, a `python -m cifar train` process on all 50,000 training
images with the test set validated after every epoch. For `fast`, the time is from launching
the process to the epoch event whose test accuracy first reaches the target, so it includes
starting Python, importing TensorFlow and loading the data. The tutorial's reference is one
of its epochs (training and validation) times 10, plus its own start-up, as the issue defines
it; a full 10-epoch tutorial run takes about 18 minutes here. The two alternate, so a drift in
the machine's speed hits both. Data: --data, else CIFAR10_DIR.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import median, save, train_process


def train(preset: str, runs: Path, data: str | None, epochs: int | None = None) -> dict:
    """Launch one training process and read back when each epoch ended and what it scored."""
    arguments = ["--preset", preset, "--runs-dir", str(runs)]
    if epochs:
        arguments += ["--epochs", str(epochs)]
    if data:
        arguments += ["--data", data]
    training = train_process(arguments)
    if training.returncode != 0:
        raise SystemExit(f"{preset} training failed: see {training.run_dir}/status.json")
    events, launched = training.events, training.launched
    start = next(e for e in events if e["type"] == "start")
    epochs_done = [e for e in events if e["type"] == "epoch"]
    return {
        "startup_seconds": start["time"] - launched,
        "peak_rss_mb": round(training.peak_rss_bytes / 1e6),
        "epochs": [
            {
                "epoch": e["epoch"],
                "since_launch_seconds": round(e["time"] - launched, 1),
                "epoch_seconds": e["seconds"],
                "train_seconds": e["train_seconds"],
                "images_per_second": e["images_per_second"],
                "val_accuracy": e["val_accuracy"],
            }
            for e in epochs_done
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.68)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", default=os.environ.get("CIFAR10_DIR"))
    args = parser.parse_args()
    fast, tutorial = [], []
    with tempfile.TemporaryDirectory() as runs:
        for repeat in range(args.repeats):
            fast.append(train("fast", Path(runs), args.data))
            tutorial.append(train("tutorial", Path(runs), args.data, epochs=1))
            print(f"repeat {repeat + 1}: fast {fast[-1]}, tutorial {tutorial[-1]}", flush=True)

    def reached(result: dict) -> dict | None:
        return next((e for e in result["epochs"] if e["val_accuracy"] >= args.target), None)

    hits = [reached(result) for result in fast]
    tutorial_ten = [10 * r["epochs"][0]["epoch_seconds"] + r["startup_seconds"] for r in tutorial]
    results = {
        "target": args.target,
        "repeats": args.repeats,
        "fast_final_accuracy": [r["epochs"][-1]["val_accuracy"] for r in fast],
        "fast_reached_target": [hit is not None for hit in hits],
        "fast_epoch_reaching_target": [hit and hit["epoch"] for hit in hits],
        "fast_seconds_to_target_median": None,
        "fast_startup_seconds_median": round(median([r["startup_seconds"] for r in fast]), 1),
        "fast_images_per_second_median": round(median([e["images_per_second"] for r in fast for e in r["epochs"]]), 1),
        "tutorial_epoch_seconds_median": round(median([r["epochs"][0]["epoch_seconds"] for r in tutorial]), 1),
        "tutorial_images_per_second_median": round(median([r["epochs"][0]["images_per_second"] for r in tutorial]), 1),
        "tutorial_ten_epochs_seconds_median": round(median(tutorial_ten), 1),
        "tutorial_epoch_one_accuracy": [r["epochs"][0]["val_accuracy"] for r in tutorial],
        "peak_rss_mb_median": {
            "fast": median([r["peak_rss_mb"] for r in fast]),
            "tutorial": median([r["peak_rss_mb"] for r in tutorial]),
        },
        "ratio_fast_to_tutorial": None,
        "runs": {"fast": fast, "tutorial_one_epoch": tutorial},
    }
    if all(hits):
        seconds = median([hit["since_launch_seconds"] for hit in hits])
        results["fast_seconds_to_target_median"] = round(seconds, 1)
        results["ratio_fast_to_tutorial"] = round(seconds / median(tutorial_ten), 3)
    command = f"python benchmarks/bench_time_to_accuracy.py --target {args.target} --repeats {args.repeats}"
    save("time-to-accuracy", command, results)


if __name__ == "__main__":
    main()
