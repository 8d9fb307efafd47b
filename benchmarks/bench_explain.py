"""Benchmark 7: looking inside the network, and what keeping every epoch's weights costs.

    .venv/bin/python benchmarks/bench_explain.py [--repeats 50] [--train-size 10000]

1. One image, model loaded (the tutorial's network): feature maps of every layer plus Grad-CAM
   of the predicted class, interleaved with the reference, a bare `model.predict` of the same
   image. Goal: under 100 ms median.
2. Switching the epoch slider: open another epoch's weights (a new network, the weights file
   read into it), make its Inspector and answer one image, uncached, alternating between two
   epochs of a tutorial-sized run. Goal: under 0.5 s median.
3. Keeping weights: the trainer reports the seconds each epoch's weights file took
   (`weights_seconds` in its epoch events); against the epoch's own time in the same training,
   that is the cost, measured in place rather than as the difference of two noisy trainings.
   Goal: under 2%.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from common import median, percentile, save, train_process

from cifar.atomic import write_json_atomic
from cifar.config.settings import ModelConfig
from cifar.launch.launcher import prepare_run
from cifar.network.build import build_model
from cifar.network.saving import save_model, save_weights
from cifar.runs.owner import ALONE
from cifar.runs.run import open_run_dir
from cifar.runs.status import write_status
from cifar.study.explain import Inspector, open_epoch


def look_once(inspector: Inspector, image: np.ndarray) -> None:
    _, probabilities = inspector.feature_maps(image)
    inspector.grad_cam(image, int(probabilities.argmax()))


def explain_speed(repeats: int) -> dict:
    model = build_model(ModelConfig())
    inspector = Inspector(model)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    look_once(inspector, image)
    model.predict(image[None], verbose=0)  # both warmed up: traced once
    looking, predicting = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        look_once(inspector, image)
        looking.append(time.perf_counter() - started)
        started = time.perf_counter()
        model.predict(image[None], verbose=0)
        predicting.append(time.perf_counter() - started)
    return {
        "feature_maps_and_grad_cam_ms": {"median": median(looking) * 1e3, "p95": percentile(looking, 0.95) * 1e3},
        "bare_predict_ms": {"median": median(predicting) * 1e3, "p95": percentile(predicting, 0.95) * 1e3},
        "ratio_to_predict": median(looking) / median(predicting),
    }


def two_epoch_run(folder: Path):
    """A tutorial-sized run with two epochs of (untrained, different) weights kept."""
    config = ModelConfig(epochs=2)
    run = open_run_dir(prepare_run(config, folder, "bench-epochs", person=ALONE))
    run.files.weights.mkdir()
    for epoch in (1, 2):
        model = build_model(config)  # a new random network each time
        save_weights(model, run.files.weights_file(epoch))
    save_model(model, run.files.model)
    write_json_atomic(run.files.history, {"epoch": [1, 2], "val_accuracy": [0.1, 0.1]})
    write_status(run.files.status, run.written_status().replace(state="finished", epoch=2))
    return run


def epoch_switch_speed(repeats: int) -> dict:
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        run = two_epoch_run(Path(folder))
        look_once(Inspector(open_epoch(run, 1)), image)  # the first network ever built traces Keras' code
        switching = []
        for repeat in range(repeats):
            started = time.perf_counter()
            look_once(Inspector(open_epoch(run, 1 + repeat % 2)), image)
            switching.append(time.perf_counter() - started)
    return {"epoch_switch_s": {"median": median(switching), "p95": percentile(switching, 0.95)}}


def weights_overhead(train_size: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        arguments = ["--preset", "tutorial", "--epochs", "2", "--train-size", str(train_size), "--runs-dir", folder]
        training = train_process(arguments)
        weights_bytes = (training.run_dir / "weights" / "epoch-001.npz").stat().st_size
    epochs = [event for event in training.events if event["type"] == "epoch"]
    shares = [event["weights_seconds"] / (event["train_seconds"] + event["val_seconds"]) for event in epochs]
    return {
        "returncode": training.returncode,
        "train_images": train_size,
        "epochs": [
            {k: event[k] for k in ("epoch", "train_seconds", "val_seconds", "weights_seconds")} for event in epochs
        ],
        "weights_share_of_epoch": {"median": median(shares), "max": max(shares)},
        "weights_file_bytes": weights_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--train-size", type=int, default=10_000)
    args = parser.parse_args()
    results = {"explain": explain_speed(args.repeats), "epoch_switch": epoch_switch_speed(max(6, args.repeats // 5))}
    results["weights_overhead"] = weights_overhead(args.train_size)
    save("explain", " ".join(["benchmarks/bench_explain.py", *sys.argv[1:]]), results)


if __name__ == "__main__":
    main()
