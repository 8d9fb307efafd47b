"""cifar/data/progress.py: a long step's `Progress` in numbers and in words, and the `Tracker`
that counts the work and reports it now and then and at the end.

The tracker's clock is a fake one that a test moves by hand: no test sleeps.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cifar.data import Progress, progress
from cifar.data.progress import Tracker, time_left

MB = 1 << 20


class _Clock:
    """Stands in for time.monotonic: time passes only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=fake))
    return fake


def test_progress_is_said_in_words_with_the_time_left_once_it_can_be_told():
    assert Progress("Decoding CIFAR-10", 12_000, 60_000, "images", 2.6).describe() == (
        "Decoding CIFAR-10: 12,000 of 60,000 images, about 10 s left"
    )
    assert Progress("Downloading CIFAR-10", 40 * MB, 160 * MB, "bytes", 40.0).describe() == (
        "Downloading CIFAR-10: 40.0 of 160.0 MB, about 2 min left"
    )
    assert Progress("Downloading CIFAR-10", 1, 160 * MB, "bytes", 0.1).describe() == (
        "Downloading CIFAR-10: 0.0 of 160.0 MB"  # too early to tell the time left
    )
    assert Progress("Downloading CIFAR-10", 5 * MB, None, "bytes", 1.0).describe() == "Downloading CIFAR-10: 5.0 MB"


def test_a_finished_step_says_done_instead_of_a_time_left():
    assert Progress("Decoding CIFAR-10", 300, 300, "images", 4.0).describe() == (
        "Decoding CIFAR-10: 300 of 300 images, done"
    )


def test_images_without_a_total_are_counted_alone():
    assert Progress("Decoding", 1_234, None, "images", 1.0).describe() == "Decoding: 1,234 images"


def test_the_fraction_is_the_share_done_capped_at_one_and_zero_without_a_total():
    assert Progress("t", 25, 100, "images", 1.0).fraction == 0.25
    assert Progress("t", 120, 100, "images", 1.0).fraction == 1.0
    assert Progress("t", 25, None, "images", 1.0).fraction == 0.0
    assert Progress("t", 25, 0, "images", 1.0).fraction == 0.0


def test_the_time_left_is_the_rate_so_far_once_two_percent_are_done():
    # 30 of 1,000 in 3 s: 10 a second, so 970 more take 97 s.
    assert Progress("t", 30, 1_000, "images", 3.0).seconds_left == pytest.approx(97.0)
    assert Progress("t", 19, 1_000, "images", 3.0).seconds_left is None, "under 2% the rate misleads"
    assert Progress("t", 30, 1_000, "images", 0.0).seconds_left is None
    assert Progress("t", 30, None, "images", 3.0).seconds_left is None


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "a few seconds left"),
        (9.9, "a few seconds left"),
        (10, "about 10 s left"),
        (42, "about 40 s left"),
        (89, "about 90 s left"),
        (90, "about 2 min left"),
        (45 * 60, "about 45 min left"),
        (90 * 60, "about 1.5 h left"),
        (5 * 3600, "about 5.0 h left"),
    ],
)
def test_time_left_in_words_grows_coarser_with_the_time(seconds, words):
    assert time_left(seconds) == words


def test_a_tracker_reports_every_so_many_units_and_the_remainder_at_the_end(clock):
    seen: list[Progress] = []
    tracker = Tracker("Decoding", 23, "images", seen.append, every=10)
    for _ in range(23):
        tracker.advance()
    tracker.finish()
    assert [p.done for p in seen] == [10, 20, 23]
    assert {(p.task, p.total, p.unit) for p in seen} == {("Decoding", 23, "images")}


def test_finishing_a_tracker_that_just_reported_reports_nothing_more(clock):
    seen: list[Progress] = []
    tracker = Tracker("Decoding", 20, "images", seen.append, every=10)
    tracker.advance(20)
    tracker.finish()
    assert [p.done for p in seen] == [20]


def test_a_tracker_waits_the_least_interval_between_reports(clock):
    seen: list[Progress] = []
    tracker = Tracker("Downloading", 1_000, "bytes", seen.append, every=1, min_interval_seconds=0.5)
    clock.now += 0.2
    tracker.update(100)  # too soon after the start
    clock.now += 0.4
    tracker.update(200)
    clock.now += 0.1
    tracker.update(300)  # too soon after the last report
    clock.now += 0.5
    tracker.update(400)
    assert [(p.done, p.elapsed_seconds) for p in seen] == [(200, pytest.approx(0.6)), (400, pytest.approx(1.2))]
    tracker.finish()
    assert seen[-1].done == 400 and len(seen) == 2, "the last report was already the whole"


def test_a_tracker_without_a_callback_still_counts(clock):
    tracker = Tracker("Decoding", 5, "images", None)
    tracker.advance(2)
    tracker.advance(3)
    tracker.finish()
    assert tracker.done == 5
