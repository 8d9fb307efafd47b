"""Benchmark 9: runs finished per minute through this machine's queue against a one-machine Ray
cluster on the same machine, interleaved.

    .venv/bin/python benchmarks/bench_cluster.py [--runs 6] [--repeats 2] [--train-size 1000] [--epochs 2]

Each round launches --runs small trainings at once through `cifar.launch.launcher.launch`, as a class of
students would, and times from the first launch to the last run's end:
- `local`: the local queue as it ships, one training at a time (CIFAR_MAX_TRAININGS=1);
- `local, 2 slots`: the local queue with CIFAR_MAX_TRAININGS=2, as many at once as Ray runs;
- `ray`: CIFAR_RAY_ADDRESS set to a head started here (tests/ray_head.py) with as many CPUs as
  the machine has cores, each training asking for one (CIFAR_RAY_CPUS=1).
The modes take turns within each repeat. The data are synthetic CIFAR-shaped batches
(tests/synthetic.py) of --train-size training and 500 test images; the network is the tests'
tiny one, so a run's time is mostly its process starting (Python, TensorFlow, the data), which
is what a class of `quick` runs queues behind. Every run must end `finished`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, median, save

sys.path.insert(0, str(ROOT / "tests"))  # the tests' tiny network, synthetic data and Ray head

from helpers import TINY
from ray_head import ray_head
from synthetic import write_batches

from cifar.runs.owner import ALONE

MODES = ("local", "local, 2 slots", "ray")


def one_round(mode: str, runs: int, config, data: Path, address: str) -> dict:
    """Launch `runs` trainings at once in `mode`; wait for all; return runs per minute."""
    from cifar.launch import launcher

    os.environ.pop("CIFAR_RAY_ADDRESS", None)
    os.environ["CIFAR_MAX_TRAININGS"] = "2" if mode == "local, 2 slots" else "1"
    if mode == "ray":
        os.environ["CIFAR_RAY_ADDRESS"] = address
    runs_dir = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    started = time.monotonic()
    launched = [
        launcher.launch(config, runs_dir=runs_dir, data=data, name=f"bench-{index}", person=ALONE)
        for index in range(runs)
    ]
    while any(launcher.status(run).live for run in launched):
        time.sleep(0.2)
    seconds = time.monotonic() - started
    states = sorted({launcher.status(run).state for run in launched})
    if states != ["finished"]:
        reasons = {run.id: launcher.status(run).error or launcher.status(run).message for run in launched}
        raise SystemExit(f"{mode}: runs ended {states}: {reasons}")
    return {"seconds": round(seconds, 1), "runs_per_minute": round(runs / seconds * 60, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6, help="trainings launched at once in each round")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of each mode, interleaved")
    parser.add_argument("--train-size", type=int, default=1000, help="synthetic training images a run trains on")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    scratch = Path(tempfile.mkdtemp(prefix="bench-cluster-data-"))
    data = write_batches(scratch / "cifar-10-batches-py", train=args.train_size, test=500)
    os.environ["CIFAR_CACHE_DIR"] = str(scratch / "cache")
    config = TINY.replace(epochs=args.epochs)
    rounds: dict[str, list[dict]] = {mode: [] for mode in MODES}
    with ray_head(cpus=os.cpu_count() or 1) as head:
        for repeat in range(args.repeats):
            for mode in MODES:
                result = one_round(mode, args.runs, config, data, head.address)
                rounds[mode].append(result)
                print(f"repeat {repeat + 1} {mode}: {result}", flush=True)
    rates = {mode: median([r["runs_per_minute"] for r in results]) for mode, results in rounds.items()}
    command = f"benchmarks/bench_cluster.py --runs {args.runs} --repeats {args.repeats} "
    command += f"--train-size {args.train_size} --epochs {args.epochs}"
    save(
        "cluster",
        command,
        {
            "runs": args.runs,
            "train_images": args.train_size,
            "epochs": args.epochs,
            "ray_cpus": os.cpu_count(),
            "rounds": rounds,
            "median_runs_per_minute": rates,
            "ray_over_local": round(rates["ray"] / rates["local"], 2),
            "ray_over_local_2_slots": round(rates["ray"] / rates["local, 2 slots"], 2),
            "load_average_at_end": os.getloadavg(),
        },
    )


if __name__ == "__main__":
    main()
