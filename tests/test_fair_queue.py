"""The fair queue on one machine: round-robin by the name a run was launched under, with real
training processes waiting in line; and a class's burst of thirty launches."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from helpers import TINY, TINY_FLAGS, SlotHeld, app_page, run_cli, wait_for_end, wait_until

from cifar.launch import launcher
from cifar.launch.waits import places
from cifar.runs.liveness import process_alive
from cifar.runs.owner import ALONE, alone
from cifar.runs.run import Run

ROOT = Path(__file__).resolve().parent.parent


def _all_waiting(runs: list[Run]) -> bool:
    return all(run.written_status().pid and process_alive(run.written_status().pid) for run in runs)


@pytest.mark.slow  # tens of seconds of real trainings
def test_a_second_launch_waits_behind_everyone_elses_first(batches_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "1")
    slot = SlotHeld(runs_dir).take()
    config = TINY.replace(epochs=1, train_size=40)
    names = ["ann", "ann", "bob", "cem", "bob", "ann"]  # in a burst, in this order
    try:
        launched = [
            launcher.launch(config, runs_dir=runs_dir, data=batches_dir, name=f"{who}-{i}", person=alone(who))
            for i, who in enumerate(names)
        ]
        wait_until(lambda: _all_waiting(launched), 120, "every training process to wait in line")
        fair = [launched[i] for i in (0, 2, 3, 1, 4, 5)]  # ann, bob, cem, then ann and bob again, then ann
        assert [job.run.id for job in launcher.live_jobs(runs_dir)] == [run.id for run in fair]
        assert [job.queue_position for job in launcher.live_jobs(runs_dir)] == [1, 2, 3, 4, 5, 6]
    finally:
        slot.release()
    for run in launched:
        assert wait_for_end(run, 300).state == "finished"
    started = sorted(launched, key=lambda run: run.written_status().started)
    assert [run.id for run in started] == [run.id for run in fair]


def test_thirty_launches_from_thirty_names_in_a_burst(batches_dir, runs_dir, monkeypatch):
    """A class presses Launch at once, then five press it again: all queued, fair, none lost,
    and the pages that show the queue still answer. Nobody trains (the slot is held), then
    everyone is stopped."""
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "1")
    slot = SlotHeld(runs_dir).take()
    config = TINY.replace(epochs=1, train_size=40)
    launched: dict[str, Run] = {}
    refused: list[str] = []  # a launch that raised, though its run may exist: a student sees an error
    lock = threading.Lock()

    def press(who: str, name: str) -> None:
        try:
            run = launcher.launch(config, runs_dir=runs_dir, data=batches_dir, name=name, person=alone(who))
        except Exception as error:
            with lock:
                refused.append(f"{who}: {error!r}")
            raise
        with lock:
            launched[name] = run

    try:
        names = [f"student {n:02d}" for n in range(30)]
        presses = [threading.Thread(target=press, args=(who, who.replace(" ", "-"))) for who in names]
        for thread in presses:
            thread.start()
        for thread in presses:
            thread.join()
        assert not refused, refused
        wait_until(lambda: _all_waiting(list(launched.values())), 240, "thirty training processes to wait")
        again = [threading.Thread(target=press, args=(who, f"again-{who[-2:]}")) for who in names[:5]]
        for thread in again:
            thread.start()
        for thread in again:
            thread.join()
        assert not refused, refused
        runs = list(launched.values())
        wait_until(lambda: _all_waiting(runs), 240, "the second launches to wait")
        line = launcher.live_jobs(runs_dir)
        assert len(line) == 35 and {job.run.id for job in line} == {run.id for run in runs}  # none lost
        assert [job.queue_position for job in line] == list(range(1, 36))
        assert {job.run.written_status().who for job in line[:30]} == set(names)  # everyone's first first
        assert sorted(job.run.written_status().who for job in line[30:]) == names[:5]  # then the second ones
        where = places(line, 1)
        assert [where[job.run.id].starts_in for job in line] == sorted(where[job.run.id].starts_in for job in line)
        _pages_answer(runs_dir, monkeypatch)
    finally:
        slot.release()
        for run in launched.values():
            launcher.stop(run, person=ALONE)
    for run in launched.values():
        assert wait_for_end(run, 300).state == "stopped"


def _pages_answer(runs_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("CIFAR_RUNS_DIR", str(runs_dir))
    board = app_page("board", timeout=120).run()
    assert not board.exception
    table = board.dataframe[0].value
    assert len(table) == 30 and table["now"].str.startswith("queued: number").all()
    runs_page = app_page("runs", timeout=120).run()
    assert not runs_page.exception and len(runs_page.dataframe[0].value) == 35


def test_launch_returns_at_once_and_runs_says_where_each_stands(batches_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "1")
    slot = SlotHeld(runs_dir).take()
    flags = ["--data", str(batches_dir), "--runs-dir", str(runs_dir), *TINY_FLAGS, "--epochs", "1"]
    try:
        ids = []
        for who in ("ann", "ann", "bob"):
            launched = run_cli("launch", *flags, "--who", who, timeout=120)
            assert launched.returncode == 0, launched.stderr
            first, second = launched.stdout.splitlines()[:2]
            ids.append(first)
            assert (runs_dir / first).is_dir() and second.startswith("queued: number ")
        listed = run_cli("runs", "--runs-dir", str(runs_dir), "--live", "--json")
        rows = json.loads(listed.stdout)
        assert [(row["id"], row["who"], row["queue_position"]) for row in rows] == [
            (ids[0], "ann", 1),
            (ids[2], "bob", 2),  # bob's first before ann's second
            (ids[1], "ann", 3),
        ]
        assert all(row["place"].startswith(f"queued: number {row['queue_position']} in line") for row in rows)
        table = run_cli("runs", "--runs-dir", str(runs_dir), "--who", "bob").stdout.splitlines()
        assert len(table) == 2 and table[1].startswith(ids[2]) and "queued: number 2 in line" in table[1]
    finally:
        slot.release()
        for run_id in ids:
            run_cli("stop", run_id, "--runs-dir", str(runs_dir))
