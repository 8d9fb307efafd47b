"""Where trainings run: the `Backend` protocol that the launcher (cifar/launch/launcher.py) uses.

A backend starts a prepared run's trainer, asks it to stop, says how a live run stands by what
it alone knows (a process that died, a job its cluster ended) and puts its waiting runs in the
order they will train. Each backend keeps to a file of its own: this machine's in
local_backend.py, a Ray cluster's in ray_backend.py. A run's status records the name of the
backend that started it; backends.py maps the name back to the backend, and no other code
tells backends apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cifar.runs.run import Run
from cifar.runs.status import RunStatus


@dataclass(frozen=True)
class Job:
    """A live training: its run, state and place in the queue (0 = training now)."""

    run: Run
    state: str
    queue_position: int


class Backend(Protocol):
    """What the launcher asks of a place where trainings run."""

    name: str  # recorded in the status of every run it starts
    waits_in_local_queue: bool  # whether its trainer waits its turn in this machine's line

    def placement(self, run_id: str) -> dict[str, str]:
        """What a run's status records of where it goes (a cluster's address, the job's id there)."""

    def start(self, run_dir: Path) -> None:
        """Start training the prepared run in `run_dir` (it may wait its turn).

        Raises:
            RunError: the training could not be started; the message says why, in words.
        """

    def stop(self, run: Run) -> None:
        """Ask the live run to stop after its current batch."""

    def stop_grace(self) -> float | None:
        """Seconds a training asked to stop has to end by itself before `end_overdue` ends it;
        None where a stop needs no waiting."""

    def end_overdue(self, run: Run) -> str | None:
        """End the training of `run` if its stop was asked longer than the grace ago; what was
        done, in words, or None when nothing was overdue.

        Raises:
            RunError: the backend could not be asked to end it.
        """

    def status(self, written: RunStatus) -> RunStatus:
        """How a run whose status says live stands, by what this backend knows: `written`, or
        the way its training ended where the trainer could not say so."""

    def live_jobs(self, live: Sequence[tuple[Run, RunStatus]]) -> list[Job]:
        """Its runs that train or wait (each with the status `status` gave it): the training
        ones first, then the waiting ones in the order they will train."""


def jobs_in_order(live: Sequence[tuple[Run, RunStatus]], waiting_order: Sequence[Run]) -> list[Job]:
    """The training runs of `live` first, then its waiting ones numbered as `waiting_order` puts them."""
    running = [Job(run, "running", 0) for run, status in live if status.state == "running"]
    return running + [Job(run, "queued", position) for position, run in enumerate(waiting_order, start=1)]
