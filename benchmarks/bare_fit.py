"""The reference for benchmark 1: a bare `model.fit` of a preset on numpy arrays, as the
tutorial does it, then one `model.evaluate` on the test set. Prints one JSON line.

    .venv/bin/python benchmarks/bare_fit.py --preset tutorial --train-size 10000 [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import peak_rss_bytes

from cifar.config.presets import preset
from cifar.data import load_dataset, stratified_subset
from cifar.network.build import build_model, training_targets

WARMUP_BATCHES = 50


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tutorial")
    parser.add_argument("--train-size", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--data")
    parser.add_argument("--deterministic", action="store_true", help="TensorFlow's deterministic ops, as the app had")
    args = parser.parse_args()
    import keras
    import tensorflow as tf

    if args.deterministic:
        tf.config.experimental.enable_op_determinism()

    config = preset(args.preset)
    if args.batch_size:
        config = config.replace(batch_size=args.batch_size)
    keras.utils.set_random_seed(config.seed)
    data = load_dataset(args.data)
    x, y = data.x_train, data.y_train
    if args.train_size:
        chosen = stratified_subset(y, args.train_size, config.seed)
        x, y = x[chosen], y[chosen]
    model = build_model(config)
    steps = math.ceil(len(y) / config.batch_size)

    class EpochTimer(keras.callbacks.Callback):
        """The epoch alone, as the app's epoch event times it: not fit's set-up before it.
        Also the steady rate: from the end of batch WARMUP_BATCHES to the end of the epoch,
        leaving out the first steps' tracing and warm-up, as bench_overhead reads the app's."""

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None) -> None:
            if batch + 1 == WARMUP_BATCHES:
                self.warm = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            now = time.perf_counter()
            self.seconds = now - self.start
            self.steady_seconds = now - self.warm

    timer = EpochTimer()
    start = time.perf_counter()
    targets = training_targets(config, y)  # one-hot rows when the preset smooths its labels
    model.fit(x, targets, batch_size=config.batch_size, epochs=1, shuffle=True, verbose=0, callbacks=[timer])
    fit_seconds = time.perf_counter() - start
    train_seconds = timer.seconds
    start = time.perf_counter()
    model.evaluate(data.x_test, data.y_test, batch_size=500, verbose=0)
    val_seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "images": len(y),
                "train_seconds": train_seconds,
                "steady_images_per_second": (steps - WARMUP_BATCHES) * config.batch_size / timer.steady_seconds,
                "fit_seconds_with_setup": fit_seconds,
                "val_seconds": val_seconds,
                "peak_rss_bytes": peak_rss_bytes(),
            }
        )
    )


if __name__ == "__main__":
    main()
