"""cifar.classroom.throttle: a few wrong tries a minute per key, then a wait that says how long;
keys with no recent try are forgotten."""

from __future__ import annotations

import threading

from cifar.classroom import throttle
from cifar.classroom.throttle import WINDOW_SECONDS, Throttle


def test_the_limit_then_a_wait_until_the_oldest_try_leaves_the_minute():
    tries = Throttle()
    limits = [("a", 3)]
    for second in (0.0, 10.0, 20.0):
        assert tries.wait(limits, second) == 0
        tries.count(["a"], second)
    assert tries.wait(limits, 30.0) == 30.0  # the try at 0 leaves the minute at 60
    assert tries.wait(limits, 60.0) == 0
    assert tries.wait([("b", 3)], 30.0) == 0  # another key is not held up


def test_the_longest_wait_of_several_limits_holds():
    tries = Throttle()
    for second in range(5):
        tries.count(["near", "far"], float(second))
    assert tries.wait([("near", 5), ("far", 20)], 10.0) == 50.0
    assert tries.wait([("near", 20), ("far", 20)], 10.0) == 0


def test_a_refusal_is_said_once_a_minute():
    tries = Throttle()
    assert tries.first_refusal("a", 0.0) and not tries.first_refusal("a", 30.0)
    assert tries.first_refusal("a", WINDOW_SECONDS) and tries.first_refusal("b", 30.0)


def test_keys_with_no_recent_try_are_forgotten(monkeypatch):
    monkeypatch.setattr(throttle, "_SWEEP_ABOVE", 100)
    tries = Throttle()
    for index in range(100):
        tries.count([f"old-{index}"], 0.0)
    tries.count(["new"], WINDOW_SECONDS + 1)
    assert len(tries) == 1


def test_tries_counted_from_many_threads_are_all_counted():
    tries = Throttle()

    def count() -> None:
        for _ in range(1000):
            tries.count(["a"], 1.0)

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tries.wait([("a", 8000)], 1.0) == WINDOW_SECONDS
    assert tries.wait([("a", 8001)], 1.0) == 0
