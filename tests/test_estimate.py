from __future__ import annotations

import pytest

from cifar.config.presets import PRESETS
from cifar.config.settings import ModelConfig
from cifar.launch import estimate
from cifar.launch.estimate import estimate_seconds
from cifar.network import devices


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
