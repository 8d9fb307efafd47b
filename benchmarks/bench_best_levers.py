"""Benchmark 8b: the speed levers of the `best` preset's network, and what each of its
techniques costs in speed, interleaved.

    .venv/bin/python benchmarks/bench_best_levers.py [--seconds 12] [--repeats 3]

Each measurement is its own process: build `best`'s network with one change, warm up, then
train for about --seconds on random uint8 images in the app's way (tensors over the arrays'
memory) and count images. The levers: float32 against mixed_bfloat16, batch 64 and 256
against 128, `steps_per_execution=4`. The techniques, each turned off alone: early pooling,
the max head (flatten instead), residual connections, augmentation. The share of the machine
is the training's FLOPs per second (3 forward passes' worth per image) over a 2048² float32
matrix product's in numpy, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from bench_throughput import matmul_gflops
from common import ROOT, median, save, steady_rate

BEST = "mixed_bfloat16"
# name: (changes to best's config, precision, steps per execution)
PLAN = {
    "best": ({}, BEST, 1),
    "float32": ({}, "float32", 1),
    "batch 64": ({"batch_size": 64}, BEST, 1),
    "batch 256": ({"batch_size": 256}, BEST, 1),
    "steps_per_execution 4": ({}, BEST, 4),
    "no early pool": ({"early_pool": False}, BEST, 1),
    "flatten head": ({"head": "flatten"}, BEST, 1),
    "no residual": ({"residual": False}, BEST, 1),
    "no augmentation": ({"augment": False}, BEST, 1),
}


def child(name: str, seconds: float) -> None:
    """Train best's network for about `seconds` with one change; print images/s as JSON."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import keras
    import numpy as np

    from cifar.config.presets import preset
    from cifar.data import aligned
    from cifar.network.build import build_model
    from cifar.training.fit import shared_tensor

    changes, precision, steps_per_execution = PLAN[name]
    config = preset("best").replace(**changes)
    batch = config.batch_size
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = aligned(rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8))
    y = aligned(rng.integers(0, 10, 50_000).astype(np.uint8))
    model = build_model(config, precision=precision)
    targets = np.eye(10, dtype=np.float32)[y]  # best smooths its labels: one-hot targets, as the trainer gives
    if steps_per_execution > 1:
        model.compile(
            optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"], steps_per_execution=steps_per_execution
        )
    data = (shared_tensor(x), shared_tensor(aligned(targets)))

    def fit(steps: int) -> float:
        start = time.perf_counter()
        model.fit(*data, batch_size=batch, epochs=1, steps_per_epoch=steps, verbose=0)
        return time.perf_counter() - start

    print(json.dumps({"images_per_second": steady_rate(fit, batch, seconds, 800)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=list(PLAN), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.seconds)
        return
    measured: dict[str, list[float]] = {name: [] for name in PLAN}
    for repeat in range(args.repeats):  # interleaved, so a slow minute hits every variant
        for name in PLAN:
            command = [sys.executable, __file__, "--child", name, "--seconds", str(args.seconds)]
            output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
            rate = json.loads(output.strip().splitlines()[-1])["images_per_second"]
            measured[name].append(rate)
            print(f"repeat {repeat + 1}: {name:>22}: {rate:7.1f} images/s", flush=True)

    from cifar.config.presets import preset
    from cifar.network.size import forward_macs

    peak = matmul_gflops()
    reference = median(measured["best"])
    rows = []
    for name, rates in measured.items():
        rate = median(rates)
        flops = rate * 3 * 2 * forward_macs(preset("best").replace(**PLAN[name][0])) / 1e9
        rows.append(
            {
                "variant": name,
                "images_per_second": round(rate, 1),
                "repeats": [round(r, 1) for r in rates],
                "ratio_to_best": round(rate / reference, 3),
                "training_gflops": round(flops, 1),
                "share_of_numpy_matmul": round(flops / peak["numpy"], 3),
            }
        )
    results = {"matmul_2048_gflops": {k: round(v, 1) for k, v in peak.items()}, "variants": rows}
    save("best-levers", f"python benchmarks/bench_best_levers.py --seconds {args.seconds:g} --repeats {args.repeats}",
         results)  # fmt: skip


if __name__ == "__main__":
    main()
