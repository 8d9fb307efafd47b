"""Layers of our own, where Keras has none: BatchNorm's offset learning faster than the other
weights (`FastOffset`). Registered with Keras, so a saved model opens again (saving.py)."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cifar")
class FastOffset(keras.layers.Layer):
    """Adds a learnt offset per channel that learns `rate` times faster with SGD.

    Keras gives one learning rate to every weight. The offset is kept as `offset = √rate · v`
    and `v` is the weight trained: its gradient is √rate times the offset's, and its step moves
    the offset √rate times further, so with SGD the offset moves `rate` times as far as it would
    at the common rate (with Adam, whose steps do not grow with the gradient, √rate times).
    Weight decay shrinks `v` and the offset alike. It stands in for BatchNorm's own offset
    (`center=False`), as airbench trains BatchNorm's biases 64 times faster.
    """

    def __init__(self, rate: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate = int(rate)
        self.factor = math.sqrt(self.rate)

    def build(self, input_shape) -> None:
        self.scaled = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="scaled_offset")

    def call(self, inputs):
        return inputs + ops.cast(self.scaled * self.factor, inputs.dtype)

    @property
    def offset(self):
        """The offset added, as numbers."""
        return ops.convert_to_numpy(self.scaled) * self.factor

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}
