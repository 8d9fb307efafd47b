"""cifar.runs.progress: `Progress.fraction` (a continued run's bar starts at 0; always 0 to 1),
the batch event it is written as and read back from (an older event lacks `epochs`), and the
words `describe_progress` and `describe_duration` give, at their boundaries."""

from __future__ import annotations

import dataclasses

import pytest

from cifar.runs.progress import Progress, describe_duration, describe_progress
from cifar.runs.status import RunStatus

# A batch event as the version before issue 10 wrote it (tests/fixtures/runs-before-issue-10):
# no `epochs`, no `start_epoch`.
OLD_EVENT = {"type": "batch", "time": 1796009054.515, "epoch": 1, "batch": 10, "batches": 10, "loss": 2.23888,
             "accuracy": 0.195, "images_per_second": 351.7, "eta_seconds": 0.8}  # fmt: skip


@pytest.mark.parametrize(
    ("epoch", "epochs", "batch", "batches", "start_epoch", "fraction"),
    [
        (1, 4, 0, 100, 0, 0.0),
        (2, 4, 50, 100, 0, 0.375),  # one epoch and a half of four
        (4, 4, 100, 100, 0, 1.0),
        (11, 20, 0, 100, 10, 0.0),  # a run continued from epoch 10 starts its bar at 0
        (15, 20, 25, 100, 10, 0.425),  # 4.25 of its own 10 epochs
        (20, 20, 100, 100, 10, 1.0),
    ],
)
def test_the_fraction_is_the_share_of_the_runs_own_epochs_done(epoch, epochs, batch, batches, start_epoch, fraction):
    progress = Progress(epoch=epoch, epochs=epochs, batch=batch, batches=batches, start_epoch=start_epoch)
    assert progress.fraction == pytest.approx(fraction)


@pytest.mark.parametrize(
    ("epoch", "epochs", "batch", "batches", "start_epoch", "fraction"),
    [
        (5, 4, 50, 100, 0, 1.0),  # past the end
        (0, 4, 0, 100, 0, 0.0),  # before the first epoch
        (3, 20, 0, 100, 10, 0.0),  # an epoch before where the run was continued
        (1, 2, 3, 0, 0, 1.0),  # an epoch of no batches divides by one, and is clamped
        (10, 10, 5, 10, 10, 0.0),  # no epochs of its own (ends where it began): no division by zero
    ],
)
def test_the_fraction_stays_between_0_and_1(epoch, epochs, batch, batches, start_epoch, fraction):
    progress = Progress(epoch=epoch, epochs=epochs, batch=batch, batches=batches, start_epoch=start_epoch)
    assert progress.fraction == fraction


def test_the_batch_event_holds_every_field():
    progress = Progress(epoch=3, epochs=8, batch=7, batches=9, loss=1.5, accuracy=0.25, images_per_second=400.0,
                        eta_seconds=30.0, start_epoch=2)  # fmt: skip
    assert progress.event_fields() == {
        "epoch": 3,
        "epochs": 8,
        "batch": 7,
        "batches": 9,
        "loss": 1.5,
        "accuracy": 0.25,
        "images_per_second": 400.0,
        "eta_seconds": 30.0,
        "start_epoch": 2,
    }


def test_an_event_reads_back_as_the_progress_it_recorded_whatever_else_it_holds():
    progress = Progress(epoch=3, epochs=8, batch=7, batches=9, loss=1.5, eta_seconds=30.0, start_epoch=2)
    event = {"type": "batch", "time": 1.0, "from_a_later_version": True, **progress.event_fields()}
    assert Progress.from_event(event, RunStatus(start_epoch=50)) == progress  # the event's own win
    # Except where the run ends: its owner may have moved that since (the status says it first).
    moved = Progress.from_event(event, RunStatus(epochs=99, start_epoch=50))
    assert moved == dataclasses.replace(progress, epochs=99)


def test_an_old_event_without_epochs_takes_them_from_the_status():
    progress = Progress.from_event(OLD_EVENT, RunStatus(epochs=2))
    assert progress == Progress(epoch=1, epochs=2, batch=10, batches=10, loss=2.23888, accuracy=0.195,
                                images_per_second=351.7, eta_seconds=0.8, start_epoch=0)  # fmt: skip
    continued = Progress.from_event({**OLD_EVENT, "epoch": 5}, RunStatus(epochs=6, start_epoch=4))
    assert continued.epochs == 6 and continued.start_epoch == 4 and continued.fraction == 0.5


def test_an_old_event_with_a_status_that_does_not_know_its_epochs_counts_one():
    assert Progress.from_event(OLD_EVENT, RunStatus()).epochs == 1


def test_a_null_in_an_event_takes_the_default():
    event = {**OLD_EVENT, "loss": None, "epochs": None, "eta_seconds": None}
    progress = Progress.from_event(event, RunStatus(epochs=3))
    assert progress.loss == 0.0 and progress.epochs == 3 and progress.eta_seconds == 0.0


def test_progress_in_words():
    progress = Progress(epoch=2, epochs=5, batch=1200, batches=5000, images_per_second=310.4, eta_seconds=60)
    assert describe_progress(progress) == "epoch 2 of 5, about 60 s left"
    assert (
        describe_progress(progress, detail=True) == "epoch 2 of 5, batch 1,200 of 5,000: 310 images/s, about 60 s left"
    )
    later = Progress(epoch=12, epochs=500, batch=0, batches=50_000, images_per_second=1234.5, eta_seconds=7200)
    assert (
        describe_progress(later, detail=True) == "epoch 12 of 500, batch 0 of 50,000: 1,234 images/s, about 2.0 h left"
    )


def test_durations_in_words():
    assert describe_duration(42) == "about 40 s"
    assert describe_duration(1111) == "about 19 min"
    assert describe_duration(9000) == "about 2.5 h"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (-3, "about 5 s"),  # never "about 0 s", nor less
        (0, "about 5 s"),
        (2.4, "about 5 s"),
        (43, "about 45 s"),  # to the nearest 5 s
        (89, "about 90 s"),
        (90, "about 2 min"),  # from 90 s on, minutes
        (119, "about 2 min"),
        (5399, "about 90 min"),
        (5400, "about 1.5 h"),  # from 90 min on, hours to a tenth
        (36000, "about 10.0 h"),
    ],
)
def test_durations_change_unit_at_90(seconds, words):
    assert describe_duration(seconds) == words


@pytest.mark.parametrize(
    "event",
    [{"type": "batch", "epoch": 1}, {"type": "batch", "epoch": 1, "batch": None, "batches": 10}, {"batch": "2"}],
)
def test_an_event_without_its_epoch_and_batch_is_no_progress(event):
    assert Progress.from_event(event, RunStatus(epochs=3)) is None


def test_a_value_of_the_wrong_kind_takes_its_default_and_never_reaches_the_words():
    event = {"epoch": 2, "batch": 5, "batches": 10, "eta_seconds": "soon", "images_per_second": float("inf")}
    progress = Progress.from_event({**event, "loss": True, "accuracy": None}, RunStatus(epochs=3))
    assert (progress.eta_seconds, progress.images_per_second, progress.loss) == (0.0, 0.0, 0.0)
    assert describe_progress(progress, detail=True) == "epoch 2 of 3, batch 5 of 10: 0 images/s, about 5 s left"
    assert Progress.from_event({**event, "batch": 2.5}, RunStatus(epochs=3)) is None  # a batch is a whole number
