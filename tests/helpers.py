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

from cifar.config.settings import ModelConfig
from cifar.launch import launcher
from cifar.runs.run import Run, open_run_dir
from cifar.runs.status import RunStatus
from cifar.training import local_queue

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


def train_run(data: Path, runs_dir: Path, *flags: str, epochs: int = 2, timeout: float = 240) -> Run:
    """A finished run of the tiny network, with `flags` on top, trained by `python -m cifar train`."""
    flags = (*TINY_FLAGS, "--epochs", str(epochs), *flags)
    result = run_cli("train", "--data", str(data), "--runs-dir", str(runs_dir), *flags, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return open_run_dir(result.stdout.splitlines()[0])


def run_trainer(run_dir: Path, timeout: float = 240, **options) -> subprocess.CompletedProcess:
    """`python -m cifar.training RUN_DIR --wait-in-line` on a prepared run, put in line first as
    this machine's launcher does."""
    local_queue.enqueue(run_dir)
    return subprocess.run(
        [sys.executable, "-m", "cifar.training", str(run_dir), "--wait-in-line"],
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
    wait_until(lambda: not launcher.status(run).live, timeout, f"{run.id} to end")
    return launcher.status(run)


def kill_mid_epoch(run: Run, after: int, timeout: float = 120) -> None:
    """SIGKILL `run`'s training while it trains an epoch past its first `after` finished ones."""

    def training_a_later_epoch() -> bool:
        last = run.progress()  # the newest batch event
        return last is not None and last.epoch > after and last.batch < last.batches

    wait_until(training_a_later_epoch, timeout, f"an epoch after epoch {after} to be under way")
    os.kill(launcher.status(run).pid, signal.SIGKILL)


# Four people's best test accuracy in each of their three runs: a class board to look at.
PEOPLE = {"ann": [0.61, 0.55, 0.70], "bob": [0.40, 0.52, 0.49], "cem": [0.66, 0.31, 0.58], "dee": [0.45, 0.47, 0.30]}


def write_twelve_runs(source: Run, runs_dir: Path) -> None:
    """Twelve finished runs from four names (copies of `source`), each with its own dropout
    and the best accuracy PEOPLE gives it."""
    import json
    import shutil

    from cifar.atomic import write_json_atomic
    from cifar.runs.config_file import load_config, save_config
    from cifar.runs.layout import RunFiles
    from cifar.runs.status import read_status, write_status

    for who, bests in PEOPLE.items():
        for index, best in enumerate(bests):
            path = runs_dir / f"20261130-1000{index}{len(who)}-{who}-{index}"
            shutil.copytree(source.path, path)
            config = load_config(source.files.config).replace(dropout=round(0.1 * index, 1), epochs=2)
            save_config(config, RunFiles(path).config)
            history = json.loads(RunFiles(path).history.read_text())
            history["val_accuracy"] = [best - 0.1, best]
            write_json_atomic(RunFiles(path).history, history)
            write_status(RunFiles(path).status, read_status(RunFiles(path).status).replace(who=who))


class SlotHeld:
    """The machine's one training slot taken, as a long training would: every launch waits in line."""

    def __init__(self, runs_dir: Path):
        self.path = runs_dir / local_queue.SLOTS_FOLDER / "slot-0.lock"

    def take(self) -> SlotHeld:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.path.open("a")
        fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def release(self) -> None:
        self.handle.close()

    def __enter__(self) -> SlotHeld:
        return self.take()

    def __exit__(self, *exc) -> None:
        self.release()
