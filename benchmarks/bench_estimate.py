"""Benchmark 13: the time estimate against whole trainings on this machine.

    CIFAR10_DIR=... .venv/bin/python benchmarks/bench_estimate.py [--presets quick fast best] [--repeats 3]

For each preset, in this order, while nothing else trains:
1. `python -m cifar estimate --preset P --no-measure` with an empty cache and no runs: the
   preset's figure from the project's machine, scaled (what the estimate said before it
   measured anything here);
2. `python -m cifar estimate --preset P --measure`: this machine's speed for the preset's
   network, measured (a few seconds), and the estimate put together from it;
3. `python -m cifar train --preset P`, `--repeats` times, each timed from launch to exit:
   the whole process, the figure the estimate means.
Prints each estimate's ratio to the median whole time. Goal: within ±30% (0.7 to 1.3).
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

from common import ROOT, median, save


def cli(arguments: list[str], env: dict) -> dict:
    command = [sys.executable, "-m", "cifar", *arguments]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return {**json.loads(done.stdout.splitlines()[-1]), "command_seconds": time.perf_counter() - began}


def whole_training(preset: str, env: dict, runs_dir: str) -> float:
    command = [sys.executable, "-m", "cifar", "train", "--preset", preset, "--runs-dir", runs_dir]
    began = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["quick", "fast", "best"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not os.environ.get("CIFAR10_DIR"):
        sys.exit("set CIFAR10_DIR to the real CIFAR-10 (scripts/shared_data.sh prints ../shared's, unpacked)")
    results = {}
    for preset in args.presets:
        cache, runs = tempfile.mkdtemp(prefix="bench-estimate-cache-"), tempfile.mkdtemp(prefix="bench-estimate-runs-")
        # The decoded dataset is read from the usual cache: a first training would decode it into an empty one.
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        speed_env = {**env, "CIFAR_CACHE_DIR": cache, "CIFAR_RUNS_DIR": runs}
        flags = ["--preset", preset, "--json", "--runs-dir", runs]
        stored = cli(["estimate", *flags, "--no-measure"], speed_env)
        measured = cli(["estimate", *flags, "--measure"], speed_env)
        wholes = [
            whole_training(preset, env, tempfile.mkdtemp(prefix="bench-estimate-train-")) for _ in range(args.repeats)
        ]
        actual = median(wholes)
        (kept,) = (json.loads(path.read_text()) for path in Path(cache).glob("speed-*.json"))
        results[preset] = {
            "measured_rates": next(iter(kept.values())),
            "whole_seconds": {"median": actual, "all": wholes},
            "estimate_measured_here": measured["seconds"],
            "ratio_measured_here": measured["seconds"] / actual,
            "measuring_took_seconds": measured["command_seconds"],
            "estimate_from_the_preset_figure": stored["seconds"],
            "ratio_from_the_preset_figure": stored["seconds"] / actual,
        }
        print(preset, json.dumps(results[preset]), flush=True)
    command = "benchmarks/bench_estimate.py " + " ".join(sys.argv[1:])
    save("estimate", command.strip(), results)


if __name__ == "__main__":
    main()
