"""Benchmark 8: the `best` preset against the tutorial's 10 epochs, side by side in one run.

    .venv/bin/python benchmarks/bench_best.py [--repeats 2] [--preset best] [--target 0.80] [--data PATH]

Each repeat times, one after the other on the same machine:

- the reference: one epoch of the tutorial's network as a bare `model.fit` at batch 10 on all
  50,000 training images, then its test (benchmarks/bare_fit.py); ten of those epochs are the
  time the preset must beat. The process's start-up is left out of the reference and its test
  runs at batch 500, so the budget is, if anything, short.
- the preset: the whole `python -m cifar train --preset best` process, from launch to exit,
  start-up, data loading, every epoch's test and the test-time flip included.

It reports the preset's test accuracy, both times and their ratio, the time from launch to the
first epoch at --target, its images/s and its peak memory. Data: --data, else CIFAR10_DIR.
"""

from __future__ import annotations

import argparse
import os

from common import save, side_by_side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--preset", default="best")
    parser.add_argument("--target", type=float, default=0.80, help="a test accuracy whose time to reach is reported")
    parser.add_argument("--data", default=os.environ.get("CIFAR10_DIR"))
    args = parser.parse_args()
    results = side_by_side(args.preset, args.repeats, args.data, args.target)
    command = f"python benchmarks/bench_best.py --repeats {args.repeats} --preset {args.preset} --target {args.target}"
    save(f"best-{args.preset}" if args.preset != "best" else "best", command, results)


if __name__ == "__main__":
    main()
