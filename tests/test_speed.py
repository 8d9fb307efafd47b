"""This machine's measured speed for a network (cifar/network/speed.py): real steps timed, kept
per machine and per network, never an error when the cache cannot be written."""

from __future__ import annotations

import pytest
from helpers import TINY

from cifar.data.cache import cache_dir
from cifar.network import speed


def test_a_measurement_is_kept_per_network_and_read_back():
    assert speed.kept_speed(TINY) is None
    measured = speed.measure_speed(TINY, seconds=0.2)
    assert 0 < measured.step_seconds < 5 and 0 <= measured.image_seconds < 1
    assert measured.measured.endswith("Z") and len(measured.measured) == 20
    assert speed.speed_file().parent == cache_dir() and speed.speed_file().name.startswith("speed-")
    # How long and on how much it trains does not change a step; the network and batch do.
    assert speed.kept_speed(TINY.replace(epochs=9, train_size=500, seed=3)) == measured
    assert speed.kept_speed(TINY.replace(batch_size=TINY.batch_size * 2)) is None
    assert speed.kept_speed(TINY.replace(filters=(TINY.filters[0] * 2,))) is None
    doubled = TINY.replace(batch_size=TINY.batch_size * 2)
    other = speed.measure_speed(doubled, seconds=0.2)
    assert speed.kept_speed(TINY) == measured and speed.kept_speed(doubled) == other


def test_another_machine_or_tensorflow_measures_again(monkeypatch):
    speed.measure_speed(TINY, seconds=0.2)
    key = speed.machine_key()
    assert len(key) == 16 and key == speed.machine_key()
    monkeypatch.setattr(speed, "machine_key", lambda: "another-machine")
    assert speed.kept_speed(TINY) is None


@pytest.mark.parametrize("damage", ["{not json", "[]", '{"x": {"step_seconds": "fast"}}'])
def test_a_damaged_speed_file_is_measured_again_not_an_error(damage):
    path = speed.speed_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(damage)
    assert speed.kept_speed(TINY) is None
    speed.measure_speed(TINY, seconds=0.2)
    assert speed.kept_speed(TINY) is not None


def test_a_cache_folder_that_cannot_be_written_still_gives_the_figures(tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    monkeypatch.setenv("CIFAR_CACHE_DIR", str(blocked))
    measured = speed.measure_speed(TINY, seconds=0.2)
    assert measured.step_seconds > 0 and speed.kept_speed(TINY) is None
