"""Where each live run stands: its place in line and estimated wait, or its progress.

Waits are estimates: the trainings ahead of a run, each for its estimated time (its own
remaining time once it reports progress), shared between the machine's training slots.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cifar.config.settings import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES
from cifar.errors import CifarError
from cifar.launch import launcher
from cifar.launch.backend import Job
from cifar.launch.estimate import TrainedTimes, estimate_seconds, trained_times
from cifar.runs.progress import Progress, describe_duration, describe_progress
from cifar.runs.run import Run, runs_root
from cifar.training import local_queue


@dataclass(frozen=True)
class Place:
    """Where a live run stands: its place in line (0 while training), its progress once it
    reports one, and the estimated seconds until it starts and until it ends."""

    run_id: str
    state: str
    position: int
    starts_in: float
    ends_in: float
    progress: Progress | None = None

    @property
    def fraction(self) -> float | None:
        return self.progress.fraction if self.progress else None

    def describe(self) -> str:
        """'training: epoch 2 of 3, about 1 min left' or 'queued: number 3 in line, starts in about 4 min'."""
        if self.state == "running":
            return f"training: {describe_progress(self.progress)}" if self.progress else "training: starting"
        return f"queued: number {self.position} in line, starts in {describe_duration(self.starts_in)}"


def _estimate(run: Run, trained: TrainedTimes) -> float:
    try:
        config = run.config()
    except CifarError:
        return 0.0
    return estimate_seconds(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES, trained=trained)


def _running_place(job: Job, trained: TrainedTimes) -> Place:
    progress = job.run.progress()
    ends_in = _estimate(job.run, trained) if progress is None else progress.eta_seconds
    return Place(job.run.id, "running", 0, 0.0, ends_in, progress)


def places(jobs: Sequence[Job], slots: int) -> dict[str, Place]:
    """Every live run's place, by run id: queued runs start in order, each when the first of
    `slots` trainings ahead of it ends.

    Args:
        jobs: the live runs, as `launcher.live_jobs` lists them (training first, then in line).
        slots: how many train at once.

    Returns:
        Each run's `Place`: its position, and the estimated seconds until it starts and ends.
    """
    # The runs folder's finished runs are read once for the whole listing, not once a run.
    trained = trained_times(jobs[0].run.path.parent) if jobs else {}
    running = [_running_place(job, trained) for job in jobs if job.state == "running"]
    free_at = sorted([place.ends_in for place in running] + [0.0] * max(slots - len(running), 0))[: max(slots, 1)]
    heapq.heapify(free_at)
    result = {place.run_id: place for place in running}
    for job in sorted((job for job in jobs if job.state == "queued"), key=lambda job: job.queue_position):
        starts = heapq.heappop(free_at) if free_at else 0.0
        ends = starts + _estimate(job.run, trained)
        heapq.heappush(free_at, ends)
        result[job.run.id] = Place(job.run.id, "queued", job.queue_position, starts, ends)
    return result


Picture = tuple[list[Job], dict[str, Place]]

# How often a view of the queue redraws: every second while the run it shows trains, every 2 s
# while it waits, every 5 s while nothing trains (a tab left open on a laptop should not work
# for nothing); the sidebar's bar every 2 s while anything trains.
TRAINING_PACE, WAITING_PACE, IDLE_PACE, SIDEBAR_PACE = 1, 2, 5, 2


def redraw_pace(job: Job | None) -> int:
    """Seconds between redraws of a view of `job` (None: nothing to show)."""
    if job is None:
        return IDLE_PACE
    return TRAINING_PACE if job.state == "running" else WAITING_PACE


@dataclass(frozen=True)
class _Taken:
    """A picture of a runs folder, when it was taken and the folder's own change time then."""

    at: float
    folder_changed: int
    picture: Picture


_taken: dict[Path, _Taken] = {}
_taking = threading.Lock()


def _folder_changed(root: Path) -> int:
    """The runs folder's modification time (ns): a run added or deleted changes it; -1 without one."""
    try:
        return root.stat().st_mtime_ns
    except OSError:
        return -1


def live_places(runs_dir: str | os.PathLike | None = None, fresh_within: float = 0.0) -> Picture:
    """The runs that train or wait (`launcher.live_jobs`) and where each stands, with this
    machine's training slots (CIFAR_MAX_TRAININGS).

    Args:
        runs_dir: the runs folder (default: `runs_root`).
        fresh_within: seconds; a picture of the same folder taken at most this long ago, with no
            run added or deleted since, or one taken while this call waited for it, will do.
            Views redrawn every second pass 1. 0, the default, always reads afresh.

    Returns:
        The live jobs, training first, and each one's `Place` by run id.
    """
    root = runs_root(runs_dir)
    asked = time.monotonic()
    with _taking:  # one reader at a time: the others wait for its picture instead of taking thirty
        changed, now = _folder_changed(root), time.monotonic()
        last = _taken.get(root)
        # Young enough, or taken while this caller waited (a slow read must not make thirty).
        fresh = last is not None and (now - last.at < fresh_within or (fresh_within > 0 and last.at >= asked))
        if fresh and last.folder_changed == changed:
            return last.picture
        jobs = launcher.live_jobs(root)
        picture = jobs, places(jobs, local_queue.max_trainings())
        _taken[root] = _Taken(now, changed, picture)
        return picture
