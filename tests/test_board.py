"""The class board (cifar/classroom/board.py): one row per person, their best run and what it
changed, best first and people with no finished epoch last, and where their live runs stand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TINY, SlotHeld, wait_for_end, wait_until, write_twelve_runs

from cifar.atomic import write_json_atomic
from cifar.classroom import board
from cifar.classroom.board import (
    BOARD_COLUMNS,
    EarlierBoard,
    board_csv,
    board_frame,
    board_rows,
    board_start,
    on_board,
    person_row,
    start_afresh,
)
from cifar.config.presets import nearest_preset, preset
from cifar.config.settings import FIELDS
from cifar.errors import ConfigError, NotAllowed
from cifar.launch import launcher
from cifar.launch.waits import Place, places
from cifar.runs.audit import read_audit
from cifar.runs.config_file import load_config, save_config
from cifar.runs.layout import ClassFiles, RunFiles
from cifar.runs.owner import ALONE, Person, alone
from cifar.runs.progress import Progress
from cifar.runs.run import Run, list_runs
from cifar.runs.status import RunStatus, write_status


@pytest.fixture
def twelve_runs(finished_run, runs_dir) -> Path:
    write_twelve_runs(finished_run, runs_dir)
    return runs_dir


def _run(runs_dir: Path, run_id: str, who: str, accuracies=(), state="finished", config=TINY) -> Run:
    """A run folder written by hand: its config, status and (when it has epochs) history."""
    path = runs_dir / run_id
    path.mkdir(parents=True)
    save_config(config, RunFiles(path).config)
    write_status(RunFiles(path).status, RunStatus(state=state, who=who, epoch=len(accuracies), epochs=2))
    if accuracies:
        write_json_atomic(
            RunFiles(path).history, {"epoch": list(range(1, len(accuracies) + 1)), "val_accuracy": list(accuracies)}
        )
    return Run(path)


def test_the_board_has_each_persons_best_run_and_what_it_changed(twelve_runs):
    rows = board_rows(list_runs(twelve_runs), {})
    assert [row["who"] for row in rows] == ["ann", "cem", "bob", "dee"]
    assert [row["best accuracy"] for row in rows] == [0.70, 0.66, 0.52, 0.47]
    ann = rows[0]
    assert ann["runs"] == 3 and ann["best run"].endswith("-ann-2") and ann["now"] == "finished"
    best = load_config(twelve_runs / ann["best run"] / "config.json")
    name, changed = nearest_preset(best)
    assert ann["preset"] == name and ann["changes"].startswith(f"{FIELDS[changed[0]].axis} ")
    assert "dropout 0.2" in ann["changes"]
    csv = board_csv(rows).splitlines()
    assert csv[0] == "who,best accuracy,tested on,under attack,now,progress,preset,changes,runs,best run"
    assert csv[1].startswith("ann,0.7,,,finished,,") and csv[1].endswith(",3," + ann["best run"])


def test_people_with_no_finished_epoch_come_last_in_name_order_even_after_a_zero(runs_dir):
    _run(runs_dir, "run-01", "zoe", [0.0])
    _run(runs_dir, "run-02", "abe", state="stopped")
    _run(runs_dir, "run-03", "", [0.3, 0.55])
    _run(runs_dir, "run-04", "moe", [0.55, 0.2])
    _run(runs_dir, "run-05", "aga", state="failed")
    _run(runs_dir, "run-06", "lee", [0.4])
    rows = board_rows(list_runs(runs_dir), {})
    # Equal bests go by name; "(no name)" sorts before letters.
    assert [(row["who"], row["best accuracy"]) for row in rows] == [
        ("(no name)", 0.55),
        ("moe", 0.55),
        ("lee", 0.4),
        ("zoe", 0.0),
        ("abe", None),
        ("aga", None),
    ]
    assert [row["now"] for row in rows[-2:]] == ["stopped", "failed"]
    assert (rows[-1]["best run"], rows[-1]["preset"], rows[-1]["changes"]) == ("", "", "")


def test_a_persons_row_counts_their_runs_and_says_how_their_newest_stands(runs_dir):
    _run(runs_dir, "run-1", "ann", [0.5, 0.62])
    _run(runs_dir, "run-2", "ann", [0.58])
    _run(runs_dir, "run-3", "ann", state="failed")
    (row,) = board_rows(list_runs(runs_dir), {})
    assert {key: row[key] for key in ("who", "runs", "best accuracy", "best run", "now", "progress")} == {
        "who": "ann",
        "runs": 3,
        "best accuracy": 0.62,
        "best run": "run-1",
        "now": "failed",  # the newest run's state, though an older one did best
        "progress": None,
    }


def test_the_best_runs_preset_and_changes_are_named(runs_dir):
    _run(runs_dir, "run-1", "ann", [0.6], config=preset("quick"))
    _run(runs_dir, "run-2", "bob", [0.6], config=preset("quick").replace(dropout=0.35, epochs=7))
    ann, bob = board_rows(list_runs(runs_dir), {})
    assert (ann["preset"], ann["changes"]) == ("quick", "none")
    assert bob["preset"] == "quick"
    assert set(bob["changes"].split(", ")) == {"dropout 0.35", "epochs 7"}


def test_a_best_run_tested_on_held_out_images_says_so_beside_its_accuracy(runs_dir):
    _run(runs_dir, "run-1", "ann", [0.6])
    _run(runs_dir, "run-2", "bob", [0.7], config=TINY.replace(holdout=50))
    _run(runs_dir, "run-3", "bob", [0.65])
    bob, ann = board_rows(list_runs(runs_dir), {})
    assert (bob["best accuracy"], bob["tested on"]) == (0.7, "50 held-out training images")
    assert (ann["best accuracy"], ann["tested on"]) == (0.6, "")  # the test set: the board's usual figure
    assert board_csv([bob]).splitlines()[1].startswith("bob,0.7,50 held-out training images,")


def test_a_best_run_whose_config_cannot_be_read_still_has_its_row(runs_dir):
    run = _run(runs_dir, "run-1", "ann", [0.6])
    run.files.config.write_text("{damaged")
    (row,) = board_rows(list_runs(runs_dir), {})
    assert (row["best accuracy"], row["best run"], row["preset"], row["changes"]) == (0.6, "run-1", "", "")


def test_a_persons_live_runs_show_the_first_in_line_and_how_many_more(runs_dir):
    runs = [_run(runs_dir, f"run-{i}", "ann", state="queued") for i in range(3)]
    training = Progress(epoch=2, epochs=4, batch=5, batches=10, eta_seconds=100)
    live = {
        runs[0].id: Place(runs[0].id, "queued", 4, 300.0, 400.0),
        runs[1].id: Place(runs[1].id, "running", 0, 0.0, 100.0, training),
        runs[2].id: Place(runs[2].id, "queued", 2, 100.0, 300.0),
    }
    row = person_row("ann", list(reversed(runs)), live)
    assert row["now"] == "training: epoch 2 of 4, about 2 min left (+2 more queued)"
    assert row["progress"] == pytest.approx((1 + 5 / 10) / 4)  # one whole epoch and half the second, of 4
    del live[runs[1].id]
    row = person_row("ann", list(reversed(runs)), live)
    assert row["now"] == "queued: number 2 in line, starts in about 2 min (+1 more queued)"
    assert row["progress"] is None  # a queued run has no bar


def test_the_board_says_where_each_queued_run_stands_and_when_it_should_start(twelve_runs, batches_dir):
    with SlotHeld(twelve_runs):
        waiting = [
            launcher.launch(
                preset("quick").replace(epochs=1), runs_dir=twelve_runs, data=batches_dir, person=alone(who)
            )
            for who in ("bob", "bob", "eve")
        ]
        wait_until(lambda: len(launcher.live_jobs(twelve_runs)) == 3, what="three to wait")
        live = places(launcher.live_jobs(twelve_runs), 1)
        rows = {row["who"]: row for row in board_rows(list_runs(twelve_runs), live)}
        for run in waiting:
            launcher.stop(run, person=ALONE)
    assert rows["eve"]["now"].startswith("queued: number 2 in line, starts in about")  # before bob's second
    assert rows["bob"]["now"].startswith("queued: number 1 in line, starts in about 5 s (+1 more queued)")
    assert rows["eve"]["best accuracy"] is None and rows["eve"]["runs"] == 1
    ordered = sorted(live.values(), key=lambda place: place.position)
    assert [place.starts_in for place in ordered] == sorted(place.starts_in for place in ordered)
    assert ordered[1].starts_in == pytest.approx(ordered[0].ends_in)
    for run in waiting:
        wait_for_end(run)


def test_the_boards_csv_and_frame_keep_the_columns_in_order_even_when_empty(runs_dir):
    assert board_csv([]) == ",".join(BOARD_COLUMNS) + "\n"
    assert list(board_frame([]).columns) == list(BOARD_COLUMNS)
    _run(runs_dir, "run-1", "Lee, Ann", [0.5])
    csv = board_csv(board_rows(list_runs(runs_dir), {})).splitlines()
    assert csv[1].startswith('"Lee, Ann",0.5,,,finished,,')  # a comma in a name stays in its cell
    assert json.loads(board_frame(board_rows(list_runs(runs_dir), {})).to_json(orient="records"))[0]["runs"] == 1


# --- starting the board afresh -------------------------------------------------------------

TEACHER = Person("Teacher", "teacher", "teacher password", "teacher")


def _launched_at(runs_dir: Path, run_id: str, when: float) -> Run:
    run = _run(runs_dir, run_id, "ann", (0.5,))
    write_status(run.files.status, run.written_status().replace(created_unix=when))
    return run


def test_starting_afresh_sets_the_boards_runs_aside_under_a_name_and_moves_nothing(runs_dir, monkeypatch):
    earlier = _launched_at(runs_dir, "20261207-080000-a-0001", 1_000.0)
    assert board_start(runs_dir) == (0.0, []) and on_board(list_runs(runs_dir), 0.0) == [earlier]
    monkeypatch.setattr(board.time, "time", lambda: 2_000.0)
    start_afresh(TEACHER, "  Lesson 3 ", runs_dir)
    later = _launched_at(runs_dir, "20261207-090000-b-0002", 2_500.0)
    since, boards = board_start(runs_dir)
    assert since == 2_000.0 and boards == [EarlierBoard("Lesson 3", 0.0, 2_000.0)]
    assert on_board(list_runs(runs_dir), since) == [later]
    assert earlier.path.is_dir() and list_runs(runs_dir) == [later, earlier]  # nothing moved or deleted
    monkeypatch.setattr(board.time, "time", lambda: 3_000.0)
    start_afresh(TEACHER, "Lesson 4", runs_dir)
    assert [b.name for b in board_start(runs_dir)[1]] == ["Lesson 4", "Lesson 3"]
    assert read_audit(runs_dir).entries[-1].detail == "the board until now is kept as Lesson 4"


def test_only_a_teacher_starts_afresh_and_a_board_needs_a_name(runs_dir):
    with pytest.raises(NotAllowed, match="Only a teacher may start the board afresh"):
        start_afresh(Person("Ann", "name:ann", "class code", "student"), "x", runs_dir)
    with pytest.raises(ConfigError, match="name the board you set aside"):
        start_afresh(TEACHER, "   ", runs_dir)
    assert board_start(runs_dir) == (0.0, [])
    assert [(entry.action, entry.outcome) for entry in read_audit(runs_dir).entries] == [
        ("start the board afresh", "refused")
    ]


@pytest.mark.parametrize(
    "text", ["", "[]", '{"since": "x", "earlier": [3]}', '{"earlier": [{"since": "soon"}]}', '{"earlier": 5}', "{bad"]
)
def test_a_damaged_board_file_shows_every_run(runs_dir, text):
    ClassFiles(runs_dir).folder.mkdir(parents=True)
    ClassFiles(runs_dir).board.write_text(text)
    assert board_start(runs_dir) == (0.0, [])


def test_in_a_class_two_people_of_one_shown_name_have_a_row_each(runs_dir):
    for run_id, owner, accuracy in [("r1", "account:ann@a.org", 0.5), ("r2", "name:ann lee", 0.6)]:
        run = _run(runs_dir, run_id, "Ann Lee", (accuracy,))
        write_status(run.files.status, run.written_status().replace(owner=owner))
    rows = board_rows(list_runs(runs_dir), {})
    assert [(row["who"], row["best accuracy"], row["runs"]) for row in rows] == [
        ("Ann Lee", 0.6, 1),
        ("Ann Lee", 0.5, 1),
    ]
