"""Where trainings run: a backend starts, stops and lists them; the launcher (cifar/jobs.py) asks.

`LocalBackend` runs each training as a process of this machine, in the local queue
(cifar/local_queue.py). `RayBackend` (cifar/cluster.py) submits it to a Ray cluster when
CIFAR_RAY_ADDRESS is set: it starts the same trainer entry, `python -m cifar.train RUN_DIR`,
wherever Ray places it. A run's status records its backend, so that the trainer knows whether
to wait in the local queue, and stopping or listing a run asks the backend that started it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cifar import local_queue
from cifar.liveness import effective_status, process_alive
from cifar.runs import Run, list_runs
from cifar.status import RunStatus

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


def live_jobs_of(
    name: str, runs_dir: str | os.PathLike | None, in_line_order: Callable[[list[tuple[Run, RunStatus]]], list[Run]]
) -> list[Job]:
    """The runs started by backend `name` that train or wait: the training ones first, then the
    waiting ones in the order `in_line_order` gives them."""
    live = []
    for run in list_runs(runs_dir):
        written = run.written_status()
        if written.backend == name and written.live and (shown := effective_status(written)).live:
            live.append((run, shown))
    running = [Job(run, "running", 0) for run, status in live if status.state == "running"]
    waiting = in_line_order([(run, status) for run, status in live if status.state == "queued"])
    return running + [Job(run, "queued", position) for position, run in enumerate(waiting, start=1)]


def trainer_command(run_dir: Path) -> list[str]:
    """The command that trains the prepared run in `run_dir`, on any machine that has this package."""
    return [sys.executable, "-m", TRAINER_MODULE, str(run_dir)]


class LocalBackend:
    """Trainings as processes of this machine, one slot each, the rest waiting in line."""

    name = "local"

    def __init__(self) -> None:
        self._children: list[subprocess.Popen] = []  # reaped on every call, so none lingers as a zombie
        # Streamlit serves each session on a thread of its own: a class pressing Launch at once
        # starts and reaps from many threads.
        self._children_lock = threading.Lock()

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
        with self._children_lock:
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
        return live_jobs_of(self.name, runs_dir, local_queue.in_line_order)

    def reap(self) -> None:
        with self._children_lock:
            self._children = [child for child in self._children if child.poll() is None]


_LOCAL = LocalBackend()


def backend() -> Backend:
    """The backend new trainings go to: the Ray cluster CIFAR_RAY_ADDRESS names, else this machine's queue.

    Raises:
        RunError: CIFAR_RAY_ADDRESS is set, and Ray is not installed or a CIFAR_RAY_ setting is bad.
    """
    if os.environ.get("CIFAR_RAY_ADDRESS", "").strip():
        from cifar.cluster import RayBackend

        return RayBackend.from_environment()
    return _LOCAL


def backend_of(run: Run) -> Backend:
    """The backend that started `run`, as its status says: a run on a Ray cluster is stopped
    there, whatever this shell's CIFAR_RAY_ADDRESS says."""
    status = run.written_status()
    if status.backend == "ray":
        from cifar.cluster import RayBackend

        return RayBackend(status.cluster or os.environ.get("CIFAR_RAY_ADDRESS", ""))
    return _LOCAL


def all_backends() -> list[Backend]:
    """Every backend whose runs may be in a runs folder: this machine's, and a Ray cluster's."""
    from cifar.cluster import RayBackend

    return [_LOCAL, RayBackend(os.environ.get("CIFAR_RAY_ADDRESS", ""))]
