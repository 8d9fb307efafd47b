"""The class board: for each person, their best run, what they changed, and where their
training stands (queued with its place and wait, or training with its progress).

Waits are estimates: the trainings ahead of a run, each for its estimated time (its own
remaining time once it reports progress), shared between the machine's training slots.
Nothing here imports Streamlit; the Class page and `python -m cifar runs` show what it builds.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cifar.backend import Job
from cifar.errors import CifarError
from cifar.estimate import describe_duration, estimate_seconds
from cifar.model import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES, FIELDS, nearest_preset
from cifar.runs import Run

NO_NAME = "(no name)"
BOARD_COLUMNS = ("who", "best accuracy", "now", "progress", "preset", "changes", "runs", "best run")


@dataclass(frozen=True)
class Place:
    """Where a live run stands: its place in line (0 while training), the share of it done,
    and the estimated seconds until it starts and until it ends."""

    run_id: str
    state: str
    position: int
    fraction: float | None
    starts_in: float
    ends_in: float
    epoch: int | None = None
    epochs: int | None = None

    def describe(self) -> str:
        """'training: epoch 2 of 3, about 1 min left' or 'queued: 3rd in line, starts in about 4 min'."""
        if self.state == "running":
            if self.fraction is None:
                return "training: starting"
            return f"training: epoch {self.epoch} of {self.epochs}, {describe_duration(self.ends_in)} left"
        return f"queued: number {self.position} in line, starts in {describe_duration(self.starts_in)}"


def _estimate(run: Run) -> float:
    try:
        config = run.config()
    except (CifarError, OSError):
        return 0.0
    return estimate_seconds(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES)


def _running_place(job: Job) -> Place:
    progress = job.run.progress()
    if progress is None:
        return Place(job.run.id, "running", 0, None, 0.0, _estimate(job.run))
    return Place(
        job.run.id,
        "running",
        0,
        progress["fraction"],
        0.0,
        float(progress["eta_seconds"]),
        progress["epoch"],
        progress["epochs"],
    )


def places(jobs: Sequence[Job], slots: int) -> dict[str, Place]:
    """Every live run's place, by run id. Queued runs start in order, each when the first of
    `slots` trainings ahead of it ends."""
    running = [_running_place(job) for job in jobs if job.state == "running"]
    free_at = sorted([place.ends_in for place in running] + [0.0] * max(slots - len(running), 0))[: max(slots, 1)]
    heapq.heapify(free_at)
    result = {place.run_id: place for place in running}
    for job in sorted((job for job in jobs if job.state == "queued"), key=lambda job: job.queue_position):
        starts = heapq.heappop(free_at) if free_at else 0.0
        ends = starts + _estimate(job.run)
        heapq.heappush(free_at, ends)
        result[job.run.id] = Place(job.run.id, "queued", job.queue_position, None, starts, ends)
    return result


def _best(run: Run) -> float | None:
    values = run.history().get("val_accuracy") or []
    return max(values) if values else None


def person_row(who: str, runs: Sequence[Run], live: dict[str, Place]) -> dict[str, Any]:
    """One person's line of the board; `runs` are theirs, newest first."""
    scored = [(accuracy, run) for run in runs if (accuracy := _best(run)) is not None]
    accuracy, best = max(scored, key=lambda pair: pair[0]) if scored else (None, None)
    theirs = sorted((live[run.id] for run in runs if run.id in live), key=lambda place: (place.position, place.run_id))
    if theirs:
        now = theirs[0].describe() + (f" (+{len(theirs) - 1} more queued)" if len(theirs) > 1 else "")
    else:
        now = runs[0].status().state if runs else ""
    row = {
        "who": who or NO_NAME,
        "runs": len(runs),
        "best accuracy": accuracy,
        "now": now,
        "progress": theirs[0].fraction if theirs and theirs[0].state == "running" else None,
        "best run": best.id if best else "",
        "preset": "",
        "changes": "",
    }
    if best is not None:
        row.update(_changes(best))
    return row


def _changes(run: Run) -> dict[str, str]:
    try:
        config = run.config()
    except (CifarError, OSError):
        return {}
    name, changed = nearest_preset(config)
    shown = ", ".join(f"{FIELDS[field].axis} {FIELDS[field].show(getattr(config, field))}" for field in changed)
    return {"preset": name, "changes": shown or "none"}


def board_rows(runs: Sequence[Run], live: dict[str, Place]) -> list[dict[str, Any]]:
    """The board: one row per person, the best accuracy first; people with none last."""
    people: dict[str, list[Run]] = {}
    for run in runs:
        people.setdefault(run.written_status().who, []).append(run)
    rows = [person_row(who, theirs, live) for who, theirs in people.items()]
    return sorted(rows, key=lambda row: (row["best accuracy"] is None, -(row["best accuracy"] or 0), row["who"]))


def board_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(BOARD_COLUMNS))


def board_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The board as CSV, for a spreadsheet or a grade book."""
    return board_frame(rows).to_csv(index=False)
