"""The queue of trainings on one machine (cifar/training/local_queue.py), with real `flock`s and
run folders in a temporary runs folder and no process but this one: whose turn a launch gets,
the order of the entries on disk, who may take a slot, and how a dead waiter is cleared."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest
from helpers import SlotHeld

from cifar.runs.layout import ClassFiles, RunFiles
from cifar.runs.liveness import process_start_ticks
from cifar.runs.status import RunStatus, write_status
from cifar.training import local_queue

ME = os.getpid()


def _status(who: str = "", turn: int = 0, key: int = 0, state: str = "queued", alive: bool = True) -> RunStatus:
    """A status whose process is this one (alive), or this pid started at another time (dead)."""
    ticks = process_start_ticks(ME)
    return RunStatus(
        state=state, who=who, queue_turn=turn, queue_key=key, pid=ME, pid_start=ticks if alive else ticks + 1
    )


def _run(runs_dir: Path, name: str, status: RunStatus) -> Path:
    path = runs_dir / name
    path.mkdir(parents=True, exist_ok=True)
    write_status(RunFiles(path).status, status)
    return path


def _queue(runs_dir: Path) -> list[str]:
    return sorted(os.listdir(runs_dir / local_queue.QUEUE_FOLDER))


def _locked(path: Path) -> bool:
    """Whether another open of `path` finds it locked (flock locks belong to the open file)."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@pytest.fixture(autouse=True)
def no_poll_wait(monkeypatch):
    """Poll without pause (each test's `should_stop` counts the polls instead), with one slot."""
    monkeypatch.setattr(local_queue, "POLL_SECONDS", 0)
    monkeypatch.delenv("CIFAR_MAX_TRAININGS", raising=False)


class Polls:
    """A `should_stop` that says stop after `limit` polls and can act at a given poll."""

    def __init__(self, limit: int = 50, at: int | None = None, action=None):
        self.count, self.limit, self.at, self.action = 0, limit, at, action

    def __call__(self) -> bool:
        self.count += 1
        if self.count == self.at:
            self.action()
        return self.count > self.limit


@pytest.mark.parametrize(("value", "expected"), [(None, 1), ("3", 3), ("1", 1), ("0", 1), ("-2", 1), ("two", 1)])
def test_the_number_of_trainings_at_once_comes_from_the_environment(value, expected, monkeypatch):
    if value is not None:
        monkeypatch.setenv("CIFAR_MAX_TRAININGS", value)
    assert local_queue.max_trainings() == expected


def test_one_persons_runs_keep_their_order_and_turns_restart_when_theirs_end(runs_dir):
    def status(who: str, turn: int, key: int, state: str = "queued") -> RunStatus:
        return RunStatus(state=state, who=who, queue_turn=turn, queue_key=key, created_unix=1e12)

    assert local_queue.next_turn(runs_dir, "ann") == 0
    for index, (who, turn, state) in enumerate(
        [("ann", 0, "running"), ("ann", 1, "queued"), ("bob", 0, "queued"), ("ann", 4, "finished")]
    ):
        path = runs_dir / f"run-{index}"
        path.mkdir(parents=True)
        # A live status whose process has not written its pid yet counts as live for a minute.
        write_status(RunFiles(path).status, status(who, turn, index, state).replace(created_unix=time.time()))
    assert local_queue.next_turn(runs_dir, "ann") == 2  # one more than her latest live turn
    assert local_queue.next_turn(runs_dir, "bob") == 1
    assert local_queue.next_turn(runs_dir, "cem") == 0
    waiting = [("a2", status("ann", 2, 5)), ("b0", status("bob", 0, 9)), ("a1", status("ann", 1, 1))]
    assert local_queue.in_line_order(waiting) == ["b0", "a1", "a2"]


def test_a_run_whose_process_died_does_not_count_towards_a_turn(tmp_path):
    _run(tmp_path, "ann-dead", _status("ann", turn=3, alive=False))
    _run(tmp_path, "ann-live", _status("ann", turn=1))
    (tmp_path / ".queue").mkdir()  # hidden folders are not runs
    assert local_queue.next_turn(tmp_path, "ann") == 2
    assert local_queue.next_turn(tmp_path / "no-such-folder", "ann") == 0


def test_entries_on_disk_sort_by_turn_then_launch_whatever_the_digits(tmp_path):
    # Turn 10 after turn 9, and a key of 19 digits after one of 1: they sort as numbers.
    launches = {"c": (10, 1), "a": (0, 10**18), "b": (9, 5), "d": (0, 2), "e": (9, 10**19)}
    for name, (turn, key) in launches.items():
        local_queue.enqueue(_run(tmp_path, name, _status(turn=turn, key=key)))
    assert [entry.rsplit("-", 1)[-1] for entry in _queue(tmp_path)] == ["d", "a", "b", "e", "c"]
    statuses = [(name, _status(turn=turn, key=key)) for name, (turn, key) in launches.items()]
    assert local_queue.in_line_order(statuses) == ["d", "a", "b", "e", "c"]


def test_leaving_takes_the_entry_out_and_leaving_twice_is_harmless(tmp_path):
    status = _status(turn=2, key=7)
    run = _run(tmp_path, "run-a", status)
    local_queue.enqueue(run)
    assert _queue(tmp_path) == [f"0002-{7:020d}-run-a"]
    local_queue.leave(run, status)
    local_queue.leave(run, status)
    assert _queue(tmp_path) == []


def test_the_first_in_line_takes_the_free_slot_and_holds_it_until_closed(tmp_path):
    status = _status()
    run = _run(tmp_path, "run-a", status)
    local_queue.enqueue(run)
    polls = Polls()
    slot = local_queue.wait_for_turn(run, status, polls)
    slot_file = tmp_path / local_queue.SLOTS_FOLDER / "slot-0.lock"
    assert slot is not None and Path(slot.name) == slot_file and polls.count == 1
    assert _locked(slot_file)
    slot.close()
    assert not _locked(slot_file)


def test_a_stop_before_its_turn_returns_no_slot(tmp_path):
    status = _status()
    run = _run(tmp_path, "run-a", status)
    local_queue.enqueue(run)
    assert local_queue.wait_for_turn(run, status, lambda: True) is None
    assert not (tmp_path / local_queue.SLOTS_FOLDER).exists()  # it never even looked for one


def test_a_held_slot_makes_it_wait_until_the_slot_is_free(tmp_path):
    status = _status()
    run = _run(tmp_path, "run-a", status)
    local_queue.enqueue(run)
    held = SlotHeld(tmp_path).take()
    polls = Polls(at=5, action=held.release)
    slot = local_queue.wait_for_turn(run, status, polls)
    assert slot is not None and polls.count == 5  # not before the poll that released it
    slot.close()


def test_while_the_slot_is_held_a_stop_ends_the_wait(tmp_path):
    status = _status()
    run = _run(tmp_path, "run-a", status)
    local_queue.enqueue(run)
    with SlotHeld(tmp_path):
        assert local_queue.wait_for_turn(run, status, Polls(limit=5)) is None
    assert _queue(tmp_path) == [f"0000-{0:020d}-run-a"]  # leaving the line is the caller's to do


def test_with_two_slots_a_second_training_takes_the_other(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "2")
    status = _status()
    run = _run(tmp_path, "run-a", status)
    with SlotHeld(tmp_path):
        slot = local_queue.wait_for_turn(run, status, Polls())
        assert slot is not None and Path(slot.name).name == "slot-1.lock"
        assert local_queue.wait_for_turn(_run(tmp_path, "run-b", status), status, Polls(limit=3)) is None
        slot.close()


def test_a_live_waiter_ahead_goes_first_and_one_behind_does_not_hold_it_up(tmp_path):
    ahead_status, mine, behind_status = _status(key=1), _status(key=2), _status(key=3)
    ahead = _run(tmp_path, "ahead", ahead_status)
    run = _run(tmp_path, "mine", mine)
    behind = _run(tmp_path, "behind", behind_status)
    for each in (ahead, run, behind):
        local_queue.enqueue(each)
    assert local_queue.wait_for_turn(run, mine, Polls(limit=5)) is None
    assert len(_queue(tmp_path)) == 3  # a live waiter's entry stays
    # The one ahead leaves the line as its training process does once it trains.
    slot = local_queue.wait_for_turn(run, mine, Polls(at=3, action=lambda: local_queue.leave(ahead, ahead_status)))
    assert slot is not None
    slot.close()
    assert local_queue.wait_for_turn(behind, behind_status, Polls(limit=3)) is None  # mine has not left yet
    local_queue.leave(run, mine)
    slot = local_queue.wait_for_turn(behind, behind_status, Polls(limit=3))
    assert slot is not None
    slot.close()


@pytest.mark.parametrize("gone", ["died waiting", "trains already", "has no run folder"])
def test_an_entry_ahead_that_no_longer_waits_is_cleared(gone, tmp_path):
    state = "running" if gone == "trains already" else "queued"
    ahead_status = _status(key=1, alive=gone != "died waiting", state=state)
    ahead = _run(tmp_path, "ahead", ahead_status)
    local_queue.enqueue(ahead)
    if gone == "has no run folder":
        (RunFiles(ahead).status).unlink()
        ahead.rmdir()
    mine = _status(key=2)
    run = _run(tmp_path, "mine", mine)
    local_queue.enqueue(run)
    slot = local_queue.wait_for_turn(run, mine, Polls())
    assert slot is not None
    slot.close()
    assert _queue(tmp_path) == [f"0000-{2:020d}-mine"]


def test_a_run_with_no_entry_waits_behind_a_live_waiter_but_not_an_empty_line(tmp_path):
    mine = _status(key=5)
    run = _run(tmp_path, "mine", mine)
    slot = local_queue.wait_for_turn(run, mine, Polls())  # no queue folder at all
    assert slot is not None
    slot.close()
    local_queue.enqueue(_run(tmp_path, "other", _status(key=9)))
    assert local_queue.wait_for_turn(run, mine, Polls(limit=3)) is None


def test_a_paused_queue_gives_no_slot_until_the_teacher_resumes_it(runs_dir):
    status = _status("ann")
    run = _run(runs_dir, "run-a", status)
    local_queue.enqueue(run)
    paused = ClassFiles(runs_dir).paused
    paused.parent.mkdir(parents=True)
    paused.touch()
    assert local_queue.paused(runs_dir)
    assert local_queue.wait_for_turn(run, status, Polls(limit=5)) is None  # first in line, a free slot: it waits
    slot = local_queue.wait_for_turn(run, status, Polls(at=3, action=paused.unlink))
    assert slot is not None and not local_queue.paused(runs_dir)
    slot.close()


def test_a_clusters_training_waits_while_the_queue_is_paused(runs_dir):
    paused = ClassFiles(runs_dir).paused
    paused.parent.mkdir(parents=True)
    paused.touch()
    polls = Polls(at=4, action=paused.unlink)
    local_queue.wait_while_paused(runs_dir, polls)
    assert polls.count == 4  # waited until it was resumed
    local_queue.wait_while_paused(runs_dir, polls)
    assert polls.count == 4  # not paused: no wait at all


def test_turns_count_by_owner_in_a_class_and_by_name_alone(runs_dir):
    _run(runs_dir, "run-a", _status("Ann").replace(owner="name:ann"))
    assert local_queue.next_turn(runs_dir, "name:ann") == 1
    assert local_queue.next_turn(runs_dir, "Ann") == 0  # another person: the name alone is not the key
    _run(runs_dir, "run-b", _status("bob"))
    assert local_queue.next_turn(runs_dir, "bob") == 1
