"""Trainings as processes of this machine, one slot each, the rest waiting in line
(cifar/training/local_queue.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from cifar.errors import RunError, os_errors_as
from cifar.launch.backend import Job, jobs_in_order
from cifar.runs.layout import RunFiles
from cifar.runs.liveness import process_alive, training_alive
from cifar.runs.progress import epochs_kept
from cifar.runs.run import Run
from cifar.runs.status import RunStatus
from cifar.training import local_queue
from cifar.training.process import PROJECT_ROOT, trainer_command


class LocalBackend:
    """Trainings as processes of this machine, one slot each, the rest waiting in line."""

    name = "local"
    waits_in_local_queue = True

    def __init__(self) -> None:
        self._children: list[subprocess.Popen] = []  # reaped on every call, so none lingers as a zombie
        # Streamlit serves each session on a thread of its own: a class pressing Launch at once
        # starts and reaps from many threads.
        self._children_lock = threading.Lock()

    def placement(self, run_id: str) -> dict[str, str]:
        return {}

    def start(self, run_dir: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with os_errors_as(RunError, "Could not start the training process", "check that the runs folder is writable"):
            # In line before the process exists: a child that starts faster cannot jump the queue.
            local_queue.enqueue(run_dir)
            with open(RunFiles(run_dir).log, "ab") as log:
                child = subprocess.Popen(
                    trainer_command(run_dir, self.waits_in_local_queue),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    # Its own session: a Ctrl-C in the server's terminal does not reach the training.
                    start_new_session=True,
                )
        self._track(child)

    def stop(self, run: Run) -> None:
        self.reap()
        run.files.stop.touch()
        status = run.written_status()
        if status.pid and process_alive(status.pid, status.pid_start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(status.pid, signal.SIGTERM)  # the trainer stops after its current batch

    def stop_grace(self) -> float | None:
        return None  # SIGTERM reaches the trainer at once

    def end_overdue(self, run: Run) -> str | None:
        return None

    def status(self, written: RunStatus) -> RunStatus:
        """A live status whose process has ended (killed, crashed) reads as interrupted."""
        if training_alive(written):
            return written
        message = written.message or (
            f"The training process ended without finishing (killed or crashed); {epochs_kept(written.epoch)}."
        )
        return written.replace(state="interrupted", message=message)

    def live_jobs(self, live: Sequence[tuple[Run, RunStatus]]) -> list[Job]:
        self.reap()
        return jobs_in_order(live, local_queue.in_line_order([pair for pair in live if pair[1].state == "queued"]))

    def _track(self, child: subprocess.Popen) -> None:
        with self._children_lock:
            self._children.append(child)
        self.reap()

    def reap(self) -> None:
        with self._children_lock:
            self._children = [child for child in self._children if child.poll() is None]
