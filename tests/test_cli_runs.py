"""`python -m cifar runs` and `stop` (cifar/cli/runs.py): the list of runs with where each live
one stands, and a stop that waits only where the run's backend gives a grace. Live runs here
belong to a fake backend, so nothing trains unless a test trains for real."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import (
    TINY,
    FakeBackend,
    assert_stopped_keeping_its_epochs,
    registered,
    run_cli,
    training_in_a_terminal,
    wait_until,
)

from cifar.cli.main import main
from cifar.launch import launcher, waits
from cifar.runs.owner import alone
from cifar.runs.run import Run
from cifar.runs.status import write_status


@pytest.fixture
def minute_an_epoch(monkeypatch):
    """Every run's estimate: a minute an epoch, so that waits can be worked out by hand."""
    monkeypatch.setattr(waits, "estimate_seconds", lambda config, train, test, trained=None: 60.0 * config.epochs)


def _prepared(runs_dir, backend, name: str, epochs: int = 2, who: str = "") -> Run:
    return Run(launcher.prepare_run(TINY.replace(epochs=epochs), runs_dir, name, person=alone(who), backend=backend))


def _listed(capsys, *flags: str) -> list[dict]:
    assert main(["runs", "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


# --- runs ------------------------------------------------------------------------------------


def test_runs_lists_and_says_what_to_do_when_empty(finished_run, tmp_path):
    run = finished_run
    listed = run_cli("runs", "--runs-dir", str(run.path.parent))
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(run.id)).split()
    assert row[1:4] == ["finished", "2/2", f"{run.history()['val_accuracy'][-1]:.3f}"]
    empty = run_cli("runs", "--runs-dir", str(tmp_path))
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout == f"No runs in {tmp_path} yet. Start one: python -m cifar train --preset quick\n"


def test_runs_json_gives_an_ended_run_as_its_files_say_and_no_place(finished_run, runs_dir, capsys):
    shutil.copytree(finished_run.path, runs_dir / finished_run.id)
    (row,) = _listed(capsys, "--runs-dir", str(runs_dir))
    history = json.loads((runs_dir / finished_run.id / "history.json").read_text())
    assert (row["id"], row["state"], row["epoch"], row["epochs"], row["who"]) == (finished_run.id, "finished", 2, 2, "")
    assert (row["final_accuracy"], row["best_accuracy"]) == (history["val_accuracy"][-1], max(history["val_accuracy"]))
    assert row["seconds"] == pytest.approx(sum(history["seconds"]))
    assert [row[key] for key in ("place", "queue_position", "starts_in_seconds", "ends_in_seconds")] == [None] * 4


def test_live_runs_come_in_training_order_with_their_place_and_wait(
    fake_backend, runs_dir, minute_an_epoch, monkeypatch, capsys
):
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "1")
    ended = _prepared(runs_dir, fake_backend, "a-ended")
    write_status(ended.files.status, ended.written_status().replace(state="finished"))
    first, second, training = (
        _prepared(runs_dir, fake_backend, name, epochs) for name, epochs in [("b", 1), ("c", 3), ("d", 2)]
    )
    fake_backend.states[training.id] = "running"
    rows = _listed(capsys, "--runs-dir", str(runs_dir), "--live")
    # One slot: d trains its 2 minutes (no progress yet: its estimate), then b for 1, then c for 3.
    assert [(row["id"], row["state"], row["queue_position"]) for row in rows] == [
        (training.id, "running", 0),
        (first.id, "queued", 1),
        (second.id, "queued", 2),
    ]
    assert [(row["starts_in_seconds"], row["ends_in_seconds"]) for row in rows] == [(0, 120), (120, 180), (180, 360)]
    assert [row["place"] for row in rows] == [
        "training: starting",
        "queued: number 1 in line, starts in about 2 min",
        "queued: number 2 in line, starts in about 3 min",
    ]
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "2")
    rows = _listed(capsys, "--runs-dir", str(runs_dir), "--live")
    # Two slots: b starts in the free one at once; c when the first of d (2 min) and b (1 min) ends.
    assert [(row["starts_in_seconds"], row["ends_in_seconds"]) for row in rows] == [(0, 120), (0, 60), (60, 240)]


def test_the_table_ends_a_live_runs_line_with_where_it_stands(fake_backend, runs_dir, minute_an_epoch, capsys):
    queued = _prepared(runs_dir, fake_backend, "q", epochs=2, who="ann")
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == ["run", "who", "state", "epochs", "test", "acc", "best", "time"]
    assert line.startswith(f"{queued.id} ") and line.split()[1:4] == ["ann", "queued", "0/2"]
    assert line.endswith("   queued: number 1 in line, starts in about 5 s")  # nothing ahead of it


def test_runs_who_keeps_one_persons_runs_by_their_name_as_typed(fake_backend, runs_dir, capsys):
    anns = [_prepared(runs_dir, fake_backend, f"a{i}", who="Ann Lee") for i in range(2)]
    _prepared(runs_dir, fake_backend, "b", who="bob")
    rows = _listed(capsys, "--runs-dir", str(runs_dir), "--who", "  Ann   Lee ")
    assert [row["id"] for row in rows] == [anns[1].id, anns[0].id]  # newest first
    assert main(["runs", "--runs-dir", str(runs_dir), "--who", "cem"]) == 0
    assert capsys.readouterr().out == "No runs match.\n"
    assert main(["runs", "--runs-dir", str(runs_dir), "--who", "x" * 41]) == 2


def test_runs_live_with_nothing_live_says_no_runs_match(finished_run, capsys):
    assert main(["runs", "--runs-dir", str(finished_run.path.parent), "--live"]) == 0
    assert capsys.readouterr().out == "No runs match.\n"


# --- stop ------------------------------------------------------------------------------------


def test_stop_asks_the_backend_and_returns_where_a_stop_needs_no_wait(fake_backend, runs_dir, capsys):
    run = _prepared(runs_dir, fake_backend, "live")
    assert main(["stop", run.id, "--runs-dir", str(runs_dir)]) == 0
    assert capsys.readouterr().out == f"asked {run.id} to stop after its current batch\n"
    assert fake_backend.asked("stop") == [run.id] and fake_backend.asked("end_overdue") == []


def test_stop_waits_through_the_grace_and_says_how_the_run_ended(monkeypatch, runs_dir, capsys):
    hung = FakeBackend(name="hung", grace=0.0, hung=True)
    registered(monkeypatch, hung)
    run = _prepared(runs_dir, hung, "hung")
    hung.overdue[run.id] = "It had not stopped, so its job was ended."
    assert main(["stop", str(run.path)]) == 0  # a run directory, as well as an id
    assert capsys.readouterr().out == (
        f"asked {run.path} to stop after its current batch\n{run.id} is stopped: it has ended\n"
    )


def test_stop_of_a_run_that_is_not_there_is_an_error_in_words(runs_dir, capsys):
    assert main(["stop", "no-such-run", "--runs-dir", str(runs_dir)]) == 2
    assert capsys.readouterr().err == f"error: No run 'no-such-run' in {runs_dir}; `python -m cifar runs` lists them.\n"


def test_the_stop_command_stops_a_training_which_exits_3(batches_dir, tmp_path):
    with training_in_a_terminal(batches_dir, tmp_path) as (training, run):
        wait_until(lambda: run.history().get("epoch"), what="a finished epoch")
        stop = run_cli("stop", run.id, "--runs-dir", str(tmp_path))
        assert (stop.returncode, stop.stdout) == (0, f"asked {run.id} to stop after its current batch\n")
        assert training.wait(timeout=120) == 3, (tmp_path / "stderr.txt").read_text()
    assert_stopped_keeping_its_epochs(run)
    again = run_cli("stop", run.id, "--runs-dir", str(tmp_path))
    assert (again.returncode, again.stdout) == (0, f"{run.id} is not queued or running; nothing to stop\n")
