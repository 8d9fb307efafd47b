"""Backends through their protocol: a third backend, a dict of jobs (helpers.FakeBackend),
launches, lists and stops a run through the very calls the pages and the command line make,
and the launcher never asks which backend it is."""

from __future__ import annotations

import pytest
from helpers import TINY, FakeBackend, registered

from cifar.errors import RunError
from cifar.launch import backends, launcher
from cifar.runs.owner import ALONE
from cifar.runs.run import list_runs


def test_a_third_backend_launches_lists_and_stops_a_run_through_the_same_calls(fake_backend, runs_dir):
    first = launcher.launch(TINY, runs_dir=runs_dir, name="first", backend=fake_backend, person=ALONE)
    second = launcher.launch(TINY, runs_dir=runs_dir, name="second", backend=fake_backend, person=ALONE)
    assert first.written_status().backend == "fake" and first.written_status().job_id == first.id
    assert fake_backend.states == {first.id: "queued", second.id: "queued"}
    listed = launcher.live_jobs(runs_dir)
    assert [(job.run.id, job.state, job.queue_position) for job in listed] == [
        (first.id, "queued", 1),
        (second.id, "queued", 2),
    ]
    fake_backend.states[second.id] = "running"  # the backend's word, not the written status, decides
    assert [(job.run.id, job.state) for job in launcher.live_jobs(runs_dir)] == [
        (second.id, "running"),
        (first.id, "queued"),
    ]
    assert launcher.status(second).state == "running" and second.written_status().state == "queued"
    assert launcher.stop(second, person=ALONE) and fake_backend.asked("stop") == [second.id]
    assert launcher.status(second).state == "stopped"
    assert not launcher.stop(second, person=ALONE)  # nothing left to stop
    assert [job.run.id for job in launcher.live_jobs(runs_dir)] == [first.id]
    with pytest.raises(RunError, match=r"is queued: stop it first"):
        launcher.delete(first, person=ALONE)


def test_a_backend_that_cannot_start_a_run_leaves_it_failed_in_its_words(monkeypatch, runs_dir):
    refusing = FakeBackend(name="refusing", refuse="The dict is full: free a job, then launch again.")
    registered(monkeypatch, refusing)
    with pytest.raises(RunError, match=r"^The dict is full"):
        launcher.launch(TINY, runs_dir=runs_dir, backend=refusing, person=ALONE)
    (run,) = list_runs(runs_dir)
    written = run.written_status()
    assert written.state == "failed" and written.error == "The dict is full: free a job, then launch again."
    assert launcher.live_jobs(runs_dir) == []


def test_a_run_of_a_backend_this_version_does_not_know_reads_as_written(fake_backend, monkeypatch, runs_dir):
    run = launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=ALONE)
    monkeypatch.delitem(backends.BY_NAME, fake_backend.name)  # as a newer version's run, read by this one
    assert launcher.status(run) == run.written_status()
    assert launcher.live_jobs(runs_dir) == []
    with pytest.raises(RunError, match=r"was started by a backend this version does not know \('fake'\)"):
        launcher.stop(run, person=ALONE)
