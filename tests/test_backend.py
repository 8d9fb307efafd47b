"""A backend's line of jobs (cifar/launch/backend.py): its training runs first, then its waiting
ones numbered from 1 in the order the backend says they will train."""

from __future__ import annotations

from pathlib import Path

from cifar.launch.backend import Job, jobs_in_order
from cifar.runs.run import Run
from cifar.runs.status import RunStatus

A, B, C, D, E = (Run(Path("/runs") / name) for name in "abcde")


def _live(*pairs: tuple[Run, str]) -> list[tuple[Run, RunStatus]]:
    return [(run, RunStatus(state=state)) for run, state in pairs]


def test_training_runs_come_first_then_the_waiting_ones_numbered_from_one():
    live = _live((A, "queued"), (B, "running"), (C, "queued"), (D, "running"))
    assert jobs_in_order(live, [C, A]) == [
        Job(B, "running", 0),
        Job(D, "running", 0),
        Job(C, "queued", 1),
        Job(A, "queued", 2),
    ]


def test_the_backends_order_numbers_the_waiting_runs_not_the_listing():
    live = _live((A, "queued"), (B, "queued"), (C, "queued"))
    assert [(job.run, job.queue_position) for job in jobs_in_order(live, [B, C, A])] == [(B, 1), (C, 2), (A, 3)]


def test_a_run_that_neither_trains_nor_waits_in_line_is_left_out():
    # E is live but the backend did not put it in its line (its job is gone, say); a stopped run is not live.
    live = _live((A, "running"), (E, "queued"), (C, "stopped"))
    assert jobs_in_order(live, []) == [Job(A, "running", 0)]


def test_no_live_runs_make_an_empty_line():
    assert jobs_in_order([], []) == []
