"""A run's changes of course (cifar/study/changes.py), read from the events the trainer's own
steering (cifar/training/steering.py) writes when it answers requests between batches."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from helpers import TINY

from cifar.config.settings import FIELDS
from cifar.launch.launcher import prepare_run
from cifar.runs.control import add_request
from cifar.runs.owner import ALONE
from cifar.runs.run import Run
from cifar.runs.writer import RunWriter
from cifar.study.changes import TABLE_COLUMNS, Change, Mark, changes, changes_table, marks, rate_now
from cifar.training.steering import Place, Steering

STEPS = 4  # batches in an epoch: batch 2 of epoch 2 is 1.5 epochs done


class Rate:
    """Stands in for the optimizer's rate: checked as the real one is, with no model."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def now(self) -> float:
        return self.rate

    def set(self, rate: float) -> None:
        FIELDS["learning_rate"].check(rate)
        self.rate = rate

    def end_at(self, total_steps: int) -> None:
        pass


@pytest.fixture(scope="module")
def steered(tmp_path_factory) -> Run:
    """A run whose steering answered, between batches, what its owner asked: a rate, a pause with
    a rate and a resume while paused, a resume while training, a rate out of range, more epochs,
    and a step, whose pause the training makes itself."""
    run_dir = prepare_run(TINY.replace(epochs=5), tmp_path_factory.mktemp("runs"), person=ALONE)
    then = [("lr", 0.01), ("pause", None), ("resume", None), ("resume", None)]  # one at each wait while paused

    def sleep(seconds: float) -> None:
        add_request(run_dir, *then.pop(0), "Emma")

    writer = RunWriter(run_dir)
    steering = Steering(writer, Rate(0.001), STEPS, 5, lambda: False, sleep=sleep)
    for place, asked in [
        (Place(1, 1), [("lr", 0.0001)]),
        (Place(2, 2), [("pause", None)]),
        (Place(2, 3), [("resume", None), ("lr", 11.0), ("epochs", 6)]),
        (Place(2, 4), [("step", None)]),
    ]:
        for action, value in asked:
            add_request(run_dir, action, value, "Emma")
        steering.between_batches(place)
    steering.at_epoch_end(Place(3, STEPS))  # the step's epoch has ended: it pauses, and is resumed
    writer.close()
    with open(writer.files.events, "a") as log:  # a control event damaged by hand
        log.write(json.dumps({"type": "control", "action": "pause", "epoch": 2, "batch": True}) + "\n")
    return Run(run_dir)


def test_every_answer_becomes_a_change_where_the_training_was_when_it_answered(steered):
    found = changes(steered.events()[0])
    assert [(change.action, change.outcome, change.position) for change in found] == [
        ("lr", "done", 0.25),
        ("pause", "done", 1.5),
        ("lr", "done", 1.5),
        ("pause", "done", 1.5),  # paused already: done, yet nothing changed
        ("resume", "done", 1.5),
        ("resume", "done", 1.75),  # not paused: nothing changed
        ("lr", "refused", 1.75),
        ("epochs", "done", 1.75),
        ("step", "done", 2.0),
        ("pause", "done", 3.0),
        ("resume", "done", 3.0),
    ]
    assert [change.who for change in found[-3:]] == ["Emma", "step", "Emma"]
    assert (found[0].value, found[0].learning_rate, found[0].batches) == (0.0001, 0.0001, STEPS)
    assert found[6].learning_rate == 0.01 and "at most 10" in found[6].detail
    assert all(abs(change.when - datetime.now(UTC).timestamp()) < 120 for change in found)


def test_the_marks_of_the_steered_run(steered):
    assert [(mark.x, mark.label) for mark in marks(changes(steered.events()[0]))] == [
        (0.25, "lr 0.0001"),
        (1.5, "paused, lr 0.01, resumed"),
        (1.75, "ends at 6"),
        (2.0, "one more epoch"),
        (3.0, "paused, resumed"),
    ]
    (lowered,) = [mark for mark in marks(changes(steered.events()[0])) if mark.x == 0.25]
    assert lowered.note == "Emma: Learning rate 0.001 → 0.0001 from the next batch."


def test_the_table_words_each_change(steered):
    found = changes(steered.events()[0])
    table = changes_table(found)
    assert list(table.columns) == list(TABLE_COLUMNS) and len(table) == len(found)
    first = table.iloc[0]
    assert (first["epoch"], first["batch"], first["what"], first["by"], first["outcome"]) == (
        1,
        "1 of 4",
        "learning rate 0.0001",
        "Emma",
        "done",
    )
    assert first["time"] == datetime.fromtimestamp(found[0].when, UTC).replace(tzinfo=None)
    assert list(table["what"][7:10]) == [
        "end at epoch 6",
        "train one more epoch, then pause",
        "pause after the step's epoch",
    ]
    assert table["by"][9] == "the training" and table["outcome"][6] == "refused"
    assert list(changes_table([]).columns) == list(TABLE_COLUMNS)


def test_the_rate_now_is_the_last_one_set(steered):
    found = changes(steered.events()[0])
    assert rate_now(found, 0.001) == 0.01  # the refused 11 is not the rate
    assert rate_now([], 0.001) == 0.001


def _change(action: str, outcome: str = "done", epoch: int = 1, batch: int = 5, value: float | None = None) -> Change:
    return Change(0.0, epoch, batch, 10, action, value, "Ann", outcome, "", None)


def test_a_refused_ignored_or_ended_answer_marks_nothing():
    found = [
        _change("lr", "refused", value=20.0),
        _change("unreadable", "ignored"),
        _change("pause", batch=6),
        _change("pause", "ended", batch=6),
        _change("stop_after_epoch", epoch=2, batch=1),
    ]
    assert marks(found) == [Mark(0.6, "paused", "Ann: "), Mark(1.1, "stops after 2", "Ann: ")]
    # the training itself read the unreadable request and ended the pause held too long
    assert list(changes_table(found)["by"]) == ["Ann", "the training", "Ann", "the training", "Ann"]


def test_events_that_are_not_changes_are_left_out():
    events = [
        {"type": "batch", "epoch": 1, "batch": 2, "batches": 10},
        {"type": "control", "action": "pause", "outcome": "done", "epoch": "1", "batch": 2, "batches": 10},
        {"type": "control", "action": "pause", "outcome": "done", "epoch": 1, "batches": 10},
        {"type": "control", "action": "lr", "outcome": "done", "epoch": 1, "batch": 2, "batches": 10, "value": "x"},
    ]
    (change,) = changes(events)
    assert (change.action, change.value, change.when, change.who) == ("lr", None, 0.0, "")
    assert marks([change]) == [] and changes_table([change])["what"][0] == "lr"
    assert changes_table([change])["by"][0] == ""  # someone alone, without a name


def test_a_mark_of_someone_without_a_name_notes_only_what_the_training_said():
    paused = Change(0.0, 1, 5, 10, "pause", None, "", "done", "Paused at epoch 1, batch 5 of 10.", None)
    assert marks([paused]) == [Mark(0.5, "paused", "Paused at epoch 1, batch 5 of 10.")]
