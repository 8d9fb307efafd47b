"""Benchmark 11: what steering costs a training, and an experiment's answer costs a page.

    .venv/bin/python benchmarks/bench_steering.py [--seconds 8] [--rounds 3]

- Training steps of the tutorial's model (batch 10) with the steerable rate against Keras'
  own constant rate, and of the `fast` preset's network (batch 64) with the steerable cosine
  against Keras' `CosineDecay`: the references, side by side in the same run, rounds
  interleaved, images a second of a steady fit on random images.
- The trainer's check of the control file between batches (a `stat`, the file unchanged),
  against an empty call, the reference.
- An experiment's answer (`cifar/study/grid.py` importances) for 36 and 72 runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from common import median, save, steady_rate, timed

from cifar.config.presets import preset
from cifar.config.settings import ModelConfig
from cifar.network.build import build_model
from cifar.network.schedule import OptimizerRate, SteerableRate
from cifar.runs.control import add_request
from cifar.runs.writer import RunWriter
from cifar.study.grid import CellRun, Setting, importances
from cifar.training.steering import Place, Steering


def _fitter(config: ModelConfig, rate):
    model = build_model(config, 50_000, precision="float32")
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (config.batch_size * 64, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, len(images)).astype(np.uint8)
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(config.batch_size).repeat()

    def fit(steps: int) -> float:
        started = time.perf_counter()
        model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
        return time.perf_counter() - started

    return fit


def _rates(config: ModelConfig, ours, theirs, seconds: float, rounds: int) -> dict:
    """Images a second with our rate and Keras' (rounds interleaved), and their ratio."""
    fits = {"steerable": _fitter(config, ours), "keras": _fitter(config, theirs)}
    found: dict[str, list[float]] = {name: [] for name in fits}
    for _ in range(rounds):
        for name, fit in fits.items():
            found[name].append(steady_rate(fit, config.batch_size, seconds, 500))
    return {
        "images_per_second": {name: median(values) for name, values in found.items()},
        "steerable_over_keras": median(found["steerable"]) / median(found["keras"]),
    }


def _control_check(repeats: int) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="bench-steering-"))
    (run_dir / "status.json").write_text("{}")
    add_request(run_dir, "lr", 0.001, "bench")
    writer = RunWriter(run_dir)
    optimizer = keras.optimizers.Adam(SteerableRate(0.001))
    steering = Steering(writer, OptimizerRate(optimizer), 100, 10, lambda: False)
    place = Place(1, 1)
    steering.between_batches(place)  # the one request, carried out once
    check = timed(lambda: steering.between_batches(place), repeats)
    reference = timed(lambda: None, repeats)
    writer.close()
    return {
        "check_us": median(check) * 1e6,
        "empty_call_us": median(reference) * 1e6,
        "check_over_empty_call": median(check) / median(reference),
    }


def _answer(runs: int) -> float:
    settings = [Setting("dropout", "Dropout", ("0", "0.25", "0.5")), Setting("filters", "Filters", ("a", "b")),
                Setting("epochs", "Epochs", ("2", "4", "6", "8", "10", "12"))]  # fmt: skip
    rng = np.random.default_rng(1)
    cells = [(i, j, k) for i in range(3) for j in range(2) for k in range(6)]
    found = [
        CellRun(cells[index % len(cells)], str(index), "x", float(rng.uniform(0.4, 0.7)), ()) for index in range(runs)
    ]
    return median(timed(lambda: importances(settings, found), 5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    fast = preset("fast")
    total = 2 * 782  # the preset's 2 epochs of 50,000 images in batches of 64
    warmup = int(total * 0.1)
    reference = keras.optimizers.schedules.CosineDecay(
        fast.learning_rate / 10, total - warmup, alpha=0.0, warmup_target=fast.learning_rate, warmup_steps=warmup
    )
    timing = (args.seconds, args.rounds)
    results = {
        "tutorial_constant_rate": _rates(ModelConfig(), SteerableRate(0.001), 0.001, *timing),
        "fast_cosine": _rates(fast, SteerableRate(fast.learning_rate, warmup, total), reference, *timing),
        "control_check": _control_check(20_000),
        "answer_seconds": {"36_runs": _answer(36), "72_runs": _answer(72)},
    }
    save(
        "steering",
        f".venv/bin/python benchmarks/bench_steering.py --seconds {args.seconds:g} --rounds {args.rounds}",
        results,
    )


if __name__ == "__main__":
    main()
