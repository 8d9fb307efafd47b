"""Layers of our own (cifar/network/layers.py): BatchNorm's faster offset learns `rate` times as
fast with SGD, √rate with Adam, and a model holding it saves and opens again."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cifar.network.layers import FastOffset
from cifar.network.saving import load_model


def _one_step(rate: int, optimizer) -> np.ndarray:
    """The offset after one step that pushes every output up (loss: minus their sum)."""
    inputs = keras.Input((4,))
    layer = FastOffset(rate)
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=optimizer, loss=lambda _, outputs: -keras.ops.sum(outputs, axis=-1))
    model.train_on_batch(np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32))
    return layer.offset


@pytest.mark.parametrize("rate", [1, 4, 64])
def test_with_sgd_the_offset_moves_rate_times_as_far(rate):
    # The loss's gradient for each offset is -1: one plain SGD step of 0.01 moves it by 0.01.
    assert _one_step(rate, keras.optimizers.SGD(0.01)) == pytest.approx(np.full(4, 0.01 * rate), rel=1e-5)


def test_with_adam_it_moves_the_square_root_of_rate_times_as_far():
    plain, fast = _one_step(1, keras.optimizers.Adam(0.01)), _one_step(16, keras.optimizers.Adam(0.01))
    assert fast == pytest.approx(4 * plain, rel=1e-4)


def test_a_model_with_it_saves_and_opens_again(tmp_path):
    inputs = keras.Input((3,))
    layer = FastOffset(16, name="offset")
    model = keras.Model(inputs, layer(inputs))
    layer.scaled.assign([1.0, -2.0, 0.5])
    model.save(tmp_path / "model.keras")
    opened = load_model(tmp_path / "model.keras", "r1")
    assert opened.get_layer("offset").rate == 16
    assert opened.get_layer("offset").offset == pytest.approx([4.0, -8.0, 2.0])
    assert np.asarray(opened(np.zeros((1, 3), np.float32)))[0] == pytest.approx([4.0, -8.0, 2.0])
