"""Benchmark 12: the map of what a network learned, and the attack lab, on a `quick` run.

    .venv/bin/python benchmarks/bench_seeing.py [--run RUN_DIR] [--repeats 3]

Without --run it first trains a `quick` run on the data CIFAR10_DIR names (about a minute).

1. The map of 2,000 test images, cold: a cache folder of its own each time, the network opened,
   features read, PCA, t-SNE and the neighbours; beside it, the reference, the forward pass of
   the same 2,000 images alone. Goal: under 15 s. Then the second look, read from the cache.
   Goal: under 1 s.
2. One image attacked: FGSM (goal: under 100 ms) and a 10-step PGD (goal: under 500 ms), each
   beside the reference, one forward pass of the same image.
3. The accuracy-under-attack curve: 500 images, ε = 0, 1, 2, 4, 8, FGSM and PGD, cold.
   Goal: under 30 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import median, save, timed, train_process

from cifar.data import load_dataset
from cifar.runs.run import open_run_dir
from cifar.study import embedding
from cifar.study.attack import Attacker, attack_image, robustness_of
from cifar.study.explain import open_epoch


def fresh_cache() -> None:
    os.environ["CIFAR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-seeing-")


def map_speed(run, images, labels, repeats: int) -> dict:
    model = open_epoch(run)
    sample = embedding.map_sample(labels)
    layer = embedding.default_layer(model)
    embedding.features(model, images[sample], layer)  # traced once
    cold, reference = [], []
    for _ in range(repeats):
        fresh_cache()
        started = time.perf_counter()
        embedding.map_of(run, images, labels)
        cold.append(time.perf_counter() - started)
        reference.extend(timed(lambda: embedding.features(model, images[sample], layer), 1))
    warm = timed(lambda: embedding.map_of(run, images, labels), 10)
    found = embedding.map_of(run, images, labels)
    return {
        "images": len(sample),
        "cold_seconds": {"median": median(cold), "all": cold},
        "features_alone_seconds": median(reference),
        "ratio_to_features_alone": median(cold) / median(reference),
        "cached_seconds": median(warm),
        "neighbour_agreement": found.agreement(),
        "chance": found.chance(),
    }


def attack_speed(run, images, labels, repeats: int) -> dict:
    attacker = Attacker(open_epoch(run))
    image, true = images[0], int(labels[0])
    attack_image(attacker, image, 8, "pgd", true_class=true)  # traced once
    results = {}
    for method, count in (("fgsm", 30 * repeats), ("pgd", 10 * repeats)):
        seconds, reference = [], []
        for _ in range(count):
            seconds.extend(timed(lambda method=method: attack_image(attacker, image, 8, method, true_class=true), 1))
            reference.extend(timed(lambda: attacker.probabilities(image[None]), 1))
        results[method] = {
            "median_ms": median(seconds) * 1e3,
            "forward_pass_ms": median(reference) * 1e3,
            "ratio_to_forward_pass": median(seconds) / median(reference),
        }
    return results


def curve_speed(run, images, labels, repeats: int) -> dict:
    seconds, found = [], None
    for _ in range(repeats):
        fresh_cache()
        started = time.perf_counter()
        found = robustness_of(run, images, labels)
        seconds.append(time.perf_counter() - started)
    return {"median_seconds": median(seconds), "all": seconds, "curve": found.as_record()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a finished run folder (default: train a quick run first)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.run is None:
        training = train_process(["--preset", "quick", "--runs-dir", tempfile.mkdtemp(prefix="bench-runs-")])
        if training.returncode:
            sys.exit(f"the quick training failed (exit {training.returncode})")
        args.run = str(training.run_dir)
    run = open_run_dir(Path(args.run))
    data = load_dataset(run.written_status().data_path)
    results = {
        "run": run.id,
        "test_accuracy": (run.history().get("val_accuracy") or [None])[-1],
        "map": map_speed(run, data.x_test, data.y_test, args.repeats),
        "attack": attack_speed(run, data.x_test, data.y_test, args.repeats),
        "curve": curve_speed(run, data.x_test, data.y_test, args.repeats),
    }
    save("seeing", " ".join(["benchmarks/bench_seeing.py", *sys.argv[1:]]), results)


if __name__ == "__main__":
    main()
