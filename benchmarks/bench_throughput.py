"""Benchmark 2: training throughput of the tutorial model, and the levers that change it.

    .venv/bin/python benchmarks/bench_throughput.py [--seconds 20] [--repeats 2]

Each measurement is its own process (thread and oneDNN settings only take effect before
TensorFlow starts): build the model, warm up, then train for about --seconds and count images.
Variants, side by side and interleaved:
- batch 10, 32 and 128: the app's way (uint8 tensors over the arrays' own memory,
  `cifar.training.fit.shared_tensor`, handed to `model.fit` and scaled inside the model) against the
  uint8 numpy arrays handed to `model.fit`, which Keras first copies into tensors;
- at batch 32, one lever at a time: batches gathered by a Python generator (no copy of the
  data, the memory lever of benchmark 6), TensorFlow's deterministic ops, float32 input (the
  tutorial divides the arrays by 255 itself), a `tf.data` pipeline from tensor slices with a
  shuffle buffer and prefetch, and on top of the app's way `steps_per_execution=8`, one
  inter-op thread, and oneDNN turned off.
The share of the machine is the training's FLOPs per second (3 forward passes' worth per image)
over a 2048² float32 matrix product's, measured in the same run in numpy and TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from common import ROOT, median, save, steady_rate

LEVERS = [
    "app",
    "arrays",
    "generator",
    "deterministic",
    "float32",
    "tensor_slices",
    "steps_per_execution_8",
    "inter_op_1",
    "onednn_off",
]


def child(variant: str, batch: int, seconds: float) -> None:
    """Train the tutorial model for about `seconds` with one variant; print images/s as JSON."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if variant == "onednn_off":
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    import numpy as np
    import tensorflow as tf

    if variant == "inter_op_1":
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if variant == "deterministic":
        tf.config.experimental.enable_op_determinism()
    import keras

    from cifar.config.settings import ModelConfig
    from cifar.data import aligned
    from cifar.network.build import build_model
    from cifar.training.fit import shared_tensor

    config = ModelConfig(batch_size=batch)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    # The speed does not depend on the content; aligned, as the app's cache gives them.
    x = aligned(rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8))
    y = aligned(rng.integers(0, 10, 50_000).astype(np.uint8))
    model = build_model(config)
    if variant == "steps_per_execution_8":
        model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"], steps_per_execution=8)
    if variant == "float32":
        model = keras.models.clone_model(model, input_tensors=keras.Input((32, 32, 3), dtype="float32"))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        data = (x.astype(np.float32) / 255, y)
    elif variant == "arrays":
        data = (x, y)
    elif variant == "generator":
        data = generator_batches(x, y, batch)
    elif variant == "tensor_slices":
        data = (
            tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32)))
            .shuffle(10_000, seed=0)
            .batch(batch)
            .prefetch(tf.data.AUTOTUNE)
        )
    else:  # the app's way: tensors over the arrays' memory
        data = (shared_tensor(x), shared_tensor(y))

    def fit(steps: int) -> float:
        start = time.perf_counter()
        if isinstance(data, tuple):
            model.fit(*data, batch_size=batch, epochs=1, steps_per_epoch=steps, verbose=0)
        else:
            model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
        return time.perf_counter() - start

    print(json.dumps({"variant": variant, "batch": batch, "images_per_second": steady_rate(fit, batch, seconds, 400)}))


def generator_batches(x, y, batch: int):
    """Shuffled batches gathered from the arrays by a Python generator, a new order each epoch."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)

    def batches():
        order = rng.permutation(len(y))
        for start in range(0, len(order), batch):
            chosen = np.sort(order[start : start + batch])
            yield x[chosen], y[chosen]

    signature = (tf.TensorSpec((None, 32, 32, 3), tf.uint8), tf.TensorSpec((None,), tf.uint8))
    return tf.data.Dataset.from_generator(batches, output_signature=signature).repeat().prefetch(2)


def matmul_gflops() -> dict[str, float]:
    import numpy as np

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    flops = 2 * 2048**3

    def best(function, repeats: int = 10) -> float:
        function()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return flops / median(times) / 1e9

    import tensorflow as tf

    t = tf.constant(a)
    return {"numpy": best(lambda: a @ a), "tensorflow": best(lambda: tf.matmul(t, t).numpy())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.seconds)
        return

    plan = [(v, b) for b in (10, 32, 128) for v in ("app", "arrays")]
    plan += [(v, 32) for v in LEVERS if v not in ("app", "arrays")]
    measured: dict[tuple[str, int], list[float]] = {key: [] for key in plan}
    for repeat in range(args.repeats):  # interleaved, so a slow minute hits every variant
        for variant, batch in plan:
            command = [sys.executable, __file__, "--child", variant, str(batch), "--seconds", str(args.seconds)]
            output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
            rate = json.loads(output.strip().splitlines()[-1])["images_per_second"]
            measured[(variant, batch)].append(rate)
            print(f"repeat {repeat + 1}: {variant:>22} batch {batch:>3}: {rate:7.1f} images/s", flush=True)

    from cifar.config.settings import ModelConfig
    from cifar.network.size import forward_macs

    peak = matmul_gflops()
    train_flops_per_image = 3 * 2 * forward_macs(ModelConfig())
    results: dict = {"matmul_2048_gflops": {k: round(v, 1) for k, v in peak.items()}, "variants": []}
    app = {b: median(measured[("app", b)]) for b in (10, 32, 128)}
    for (variant, batch), rates in measured.items():
        rate = median(rates)
        gflops = rate * train_flops_per_image / 1e9
        results["variants"].append(
            {
                "variant": variant,
                "batch": batch,
                "images_per_second": round(rate, 1),
                "ratio_to_app_default": round(rate / app[batch], 3),
                "training_gflops": round(gflops, 1),
                "share_of_numpy_matmul": round(gflops / peak["numpy"], 3),
            }
        )
    command = f"python benchmarks/bench_throughput.py --seconds {args.seconds:g} --repeats {args.repeats}"
    save("throughput", command, results)


if __name__ == "__main__":
    main()
