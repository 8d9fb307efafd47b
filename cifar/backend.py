"""Where trainings run: a backend starts, stops and lists them; the launcher (cifar/jobs.py) asks.

`LocalBackend` runs each training as a process of this machine, in the local queue
(cifar/local_queue.py). Another backend (a cluster) fits beside it: it starts the same trainer
entry, `python -m cifar.train RUN_DIR`, wherever it places it, and records its name in the
run's status so that the trainer knows whether to wait in the local queue.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cifar import local_queue
from cifar.liveness import process_alive
from cifar.runs import Run, list_runs

TRAINER_MODULE = "cifar.train"


@dataclass(frozen=True)
class Job:
    """A live training: its run, state and place in the queue (0 = training now)."""

    run: Run
    state: str
    queue_position: int


class Backend(Protocol):
    name: str

    def start(self, run_dir: Path) -> None:
        """Start training the prepared run in `run_dir` (it may wait its turn)."""

    def stop(self, run: Run) -> None:
        """Ask the live run to stop after its current batch."""

    def live_jobs(self, runs_dir: str | os.PathLike | None = None) -> list[Job]:
        """Runs that train or wait, the training ones first, then in the order they will train."""


def trainer_command(run_dir: Path) -> list[str]:
    """The command that trains the prepared run in `run_dir`, on any machine that has this package."""
    return [sys.executable, "-m", TRAINER_MODULE, str(run_dir)]


class LocalBackend:
    """Trainings as processes of this machine, one slot each, the rest waiting in line."""

    name = "local"

    def __init__(self) -> None:
        self._children: list[subprocess.Popen] = []  # reaped on every call, so none lingers as a zombie

    def start(self, run_dir: Path) -> None:
        # In line before the process exists: a child that starts faster cannot jump the queue.
        local_queue.enqueue(run_dir)
        package_parent = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with open(Run(run_dir).files.log, "ab") as log:
            child = subprocess.Popen(
                trainer_command(run_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                # Its own session: a Ctrl-C in the server's terminal does not reach the training.
                start_new_session=True,
            )
        self._children.append(child)
        self.reap()

    def stop(self, run: Run) -> None:
        self.reap()
        run.files.stop.touch()
        status = run.written_status()
        if status.pid and process_alive(status.pid, status.pid_start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(status.pid, signal.SIGTERM)

    def live_jobs(self, runs_dir: str | os.PathLike | None = None) -> list[Job]:
        self.reap()
        live = [(run, run.status()) for run in list_runs(runs_dir)]
        running = [run for run, status in live if status.state == "running"]
        waiting = [(run, status) for run, status in live if status.state == "queued"]
        jobs = [Job(run, "running", 0) for run in running]
        ordered = local_queue.in_line_order(waiting)
        return jobs + [Job(run, "queued", position) for position, run in enumerate(ordered, start=1)]

    def reap(self) -> None:
        for child in list(self._children):
            if child.poll() is not None:
                self._children.remove(child)


_LOCAL = LocalBackend()


def backend() -> Backend:
    """The backend new trainings go to: this machine's queue."""
    return _LOCAL
