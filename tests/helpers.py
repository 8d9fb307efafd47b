"""Shared by the process tests: a tiny config, starting a training process, and waiting on a
run without fixed sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cifar import local_queue
from cifar.model import ModelConfig
from cifar.runs import Run
from cifar.status import RunStatus

ROOT = Path(__file__).resolve().parent.parent
# Small enough to train an epoch of 200 images in well under a second.
TINY = ModelConfig(
    conv_blocks=1, filters=(8,), convs_per_block=1, dense_units=16, dropout=0.0, batch_size=20, epochs=2, seed=1
)
TINY_FLAGS = [
    "--conv-blocks",
    "1",
    "--filters",
    "8",
    "--convs-per-block",
    "1",
    "--dense-units",
    "16",
    "--dropout",
    "0",
    "--batch-size",
    "20",
    "--seed",
    "1",
]


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cifar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=os.environ,
    )


def run_trainer(run_dir: Path, timeout: float = 240, **options) -> subprocess.CompletedProcess:
    """`python -m cifar.train RUN_DIR` on a prepared run, put in line first as a launcher does."""
    local_queue.enqueue(run_dir)
    return subprocess.run(
        [sys.executable, "-m", "cifar.train", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=os.environ,
        **options,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_for_end(run: Run, timeout: float = 180) -> RunStatus:
    wait_until(lambda: not run.status().live, timeout, f"{run.id} to end")
    return run.status()


def kill_mid_epoch(run: Run, after: int, timeout: float = 120) -> None:
    """SIGKILL `run`'s training while it trains an epoch past its first `after` finished ones."""

    def training_a_later_epoch() -> bool:
        last = run.progress()  # the newest batch event
        return last is not None and last["epoch"] > after and last["batch"] < last["batches"]

    wait_until(training_a_later_epoch, timeout, f"an epoch after epoch {after} to be under way")
    os.kill(run.status().pid, signal.SIGKILL)
