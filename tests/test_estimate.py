from __future__ import annotations

import pytest

from cifar.estimate import describe_duration, estimate_seconds
from cifar.model import PRESETS, ModelConfig
from cifar.network import forward_macs


def test_macs_of_the_tutorial_by_hand():
    conv1 = 32 * 32 * 3 * 3 * 3 * 32
    conv2 = 32 * 32 * 3 * 3 * 32 * 32
    dense = 16 * 16 * 32 * 128
    assert forward_macs(ModelConfig()) == conv1 + conv2 + dense + 128 * 10


def test_macs_without_a_dense_layer():
    config = ModelConfig(conv_blocks=2, filters=(8, 16), convs_per_block=1, kernel_size=1, dense_units=0)
    assert forward_macs(config) == 32 * 32 * 3 * 8 + 16 * 16 * 8 * 16 + 8 * 8 * 16 * 10


@pytest.mark.parametrize(
    ("name", "measured_seconds"), [("tutorial", 1111), ("quick", 64), ("fast", 152), ("better", 810)]
)
def test_estimates_land_near_the_measured_presets(name, measured_seconds):
    estimate = estimate_seconds(PRESETS[name], 50_000, 10_000)
    assert measured_seconds / 2 < estimate < measured_seconds * 2, estimate


def test_more_epochs_take_longer():
    one = estimate_seconds(ModelConfig(epochs=1), 50_000, 10_000)
    assert estimate_seconds(ModelConfig(epochs=2), 50_000, 10_000) > one


def test_durations_in_words():
    assert describe_duration(42) == "about 40 s"
    assert describe_duration(1111) == "about 19 min"
    assert describe_duration(9000) == "about 2.5 h"
