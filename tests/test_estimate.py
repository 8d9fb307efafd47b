from __future__ import annotations

import pytest

from cifar.config.presets import PRESETS
from cifar.config.settings import ModelConfig
from cifar.launch import estimate
from cifar.launch.estimate import estimate_seconds
from cifar.network import devices
from cifar.network.size import forward_macs


def test_macs_of_the_tutorial_by_hand():
    conv1 = 32 * 32 * 3 * 3 * 3 * 32
    conv2 = 32 * 32 * 3 * 3 * 32 * 32
    dense = 16 * 16 * 32 * 128
    assert forward_macs(ModelConfig()) == conv1 + conv2 + dense + 128 * 10


def test_macs_without_a_dense_layer():
    config = ModelConfig(conv_blocks=2, filters=(8, 16), convs_per_block=1, kernel_size=1, dense_units=0)
    assert forward_macs(config) == 32 * 32 * 3 * 8 + 16 * 16 * 8 * 16 + 8 * 8 * 16 * 10


@pytest.mark.parametrize(
    ("name", "measured_seconds"), [("tutorial", 1111), ("quick", 64), ("fast", 152), ("better", 810), ("best", 330)]
)
def test_estimates_land_near_the_measured_presets(name, measured_seconds, monkeypatch):
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512_bf16"}))  # the project's CPU
    assert estimate.estimate_seconds(PRESETS[name].config, 50_000, 10_000) == pytest.approx(measured_seconds, rel=0.01)
    # The arithmetic alone, before it is scaled by the preset, is within 2× for the float32
    # presets; `best` (bfloat16, wide convolutions at batch 128) is three times faster than it.
    arithmetic = estimate._arithmetic_seconds(PRESETS[name].config, 50_000, 10_000)
    assert (measured_seconds / 2 < arithmetic < measured_seconds * 2) == (name != "best"), arithmetic


def test_a_config_near_a_preset_is_scaled_like_it_and_bfloat16_counts_only_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    best = PRESETS["best"].config
    twice_the_epochs = estimate.estimate_seconds(best.replace(epochs=16), 50_000, 10_000)
    assert 1.9 * 330 < twice_the_epochs < 2 * 330  # twice the epochs, the start-up once
    float32 = estimate.estimate_seconds(best.replace(mixed_precision=False), 50_000, 10_000)
    assert float32 == pytest.approx(330 * estimate.BFLOAT16_SPEEDUP, rel=0.01)
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2"}))  # no bfloat16: it trains in float32
    assert estimate.estimate_seconds(best, 50_000, 10_000) == pytest.approx(float32)


def test_more_epochs_take_longer():
    one = estimate_seconds(ModelConfig(epochs=1), 50_000, 10_000)
    assert estimate_seconds(ModelConfig(epochs=2), 50_000, 10_000) > one
