"""Benchmark 15: the `record` recipe on this CPU: how close its networks train to the machine's
roof, and the whole `record` process beside the tutorial's 10 epochs in one run.

    .venv/bin/python benchmarks/bench_record.py [--throughput-only] [--repeats 1 | --seeds 0,1,2] [--preset record]
        [--flags '--holdout 5000 --learning-rate 0.3'] [--networks tutorial,best,record] [--seconds 4]
        [--data PATH]

The throughput table: for each network, a few seconds of real training steps on random images
at its own batch (cifar/network/speed.py, after a warm-up), in float32 and in bfloat16, as
images per second and as TFLOPS (three forward passes' multiply-adds per image, two FLOPs
each), beside this machine's own matrix-product speed in TensorFlow (4096² in float32 and
bfloat16, the median of five) in the same run, and the CPU named.

Then, unless --throughput-only, each repeat (with --seeds, one per seed, each run with that
`--seed`) times one bare epoch of the tutorial (its 10 are the budget: benchmarks/bare_fit.py, as
benchmark 8) and the whole `python -m cifar train --preset record` process from launch to exit,
and prints the ratio. Data: --data, else CIFAR10_DIR.
"""

from __future__ import annotations

import argparse
import os
import shlex
import tempfile
import time

from common import machine, median, save, side_by_side

MATRIX_SIDE = 4096


def matrix_tflops(dtype: str) -> float:
    """TensorFlow's matrix product on this machine, in TFLOPS: the median of five 4096² products."""
    import tensorflow as tf

    a = tf.random.normal([MATRIX_SIDE, MATRIX_SIDE], dtype=tf.float32)
    a = tf.cast(a, dtype)
    tf.linalg.matmul(a, a).numpy()  # warm-up
    times = []
    for _ in range(5):
        began = time.perf_counter()
        tf.linalg.matmul(a, a).numpy()
        times.append(time.perf_counter() - began)
    return 2 * MATRIX_SIDE**3 / median(times) / 1e12


def network_throughput(name: str, bfloat16: bool, seconds: float) -> dict:
    """One preset's network trained for about `seconds`: images/s and TFLOPS."""
    from cifar.config.presets import preset
    from cifar.network.devices import compute_precision
    from cifar.network.size import forward_macs
    from cifar.network.speed import measure_speed

    config = preset(name).replace(mixed_precision=bfloat16)
    speed = measure_speed(config, seconds=seconds)
    images_per_second = config.batch_size / speed.step_seconds
    return {
        "network": name,
        "precision": compute_precision(config).policy,
        "batch": config.batch_size,
        "forward_mmacs": round(forward_macs(config) / 1e6, 1),
        "images_per_second": round(images_per_second, 1),
        "tflops": round(3 * 2 * forward_macs(config) * images_per_second / 1e12, 3),
    }


def throughput_table(networks: list[str], seconds: float) -> dict:
    roof = {"float32": matrix_tflops("float32"), "bfloat16": matrix_tflops("bfloat16")}
    rows = []
    for name in networks:
        for bfloat16 in (False, True):
            row = network_throughput(name, bfloat16, seconds)
            row["share_of_matrix_speed"] = round(row["tflops"] / roof["bfloat16" if bfloat16 else "float32"], 3)
            rows.append(row)
            print(
                f"{name:9} {row['precision']:15} batch {row['batch']:4}: {row['images_per_second']:7.1f} images/s, "
                f"{row['tflops']:.3f} TFLOPS ({row['share_of_matrix_speed']:.0%} of the matrix product's)",
                flush=True,
            )
    print(f"matrix product {MATRIX_SIDE}²: float32 {roof['float32']:.3f}, bfloat16 {roof['bfloat16']:.3f} TFLOPS")
    return {"matrix_tflops": {key: round(value, 3) for key, value in roof.items()}, "networks": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--throughput-only", action="store_true")
    how_many = parser.add_mutually_exclusive_group()
    how_many.add_argument("--repeats", type=int, default=1, help="of the same seed: the machine's own spread")
    how_many.add_argument("--seeds", default="", help="one repeat per seed, e.g. 0,1,2: the recipe's spread")
    parser.add_argument("--preset", default="record")
    parser.add_argument("--networks", default="tutorial,best,record")
    parser.add_argument("--seconds", type=float, default=4.0, help="of timed training steps for each network")
    parser.add_argument("--target", type=float, default=0.90)
    parser.add_argument("--data", default=os.environ.get("CIFAR10_DIR"))
    parser.add_argument("--flags", default="", help="train's flags on top of the preset, e.g. '--holdout 5000'")
    args = parser.parse_args()
    seeds = tuple(int(seed) for seed in args.seeds.split(",")) if args.seeds else ()
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("CIFAR_CACHE_DIR", folder)  # measured afresh, never the estimate's kept figures
        results = {"cpu": machine()["cpu"], "throughput": throughput_table(args.networks.split(","), args.seconds)}
        if not args.throughput_only:
            flags = tuple(shlex.split(args.flags))
            results |= side_by_side(args.preset, args.repeats, args.data, args.target, flags, seeds)
    repeats = f" --seeds {args.seeds}" if seeds else f" --repeats {args.repeats}"
    flags = " --throughput-only" if args.throughput_only else f"{repeats} --preset {args.preset}"
    flags += f" --flags '{args.flags}'" if args.flags else ""
    save("record", f"python benchmarks/bench_record.py{flags} --networks {args.networks}", results)


if __name__ == "__main__":
    main()
