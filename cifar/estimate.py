"""How much work a config is, and how long it should take to train on a machine like this one.

The estimate is arithmetic, not a measurement: multiply-accumulates (MACs) per image from the
layer shapes, times images, divided by a rate measured on the project's 2-core x86_64 machine
(see the README's results table). Training an image costs about three forward passes.
"""

from __future__ import annotations

import math

from cifar.model import IMAGE_SHAPE, NUM_CLASSES, ModelConfig

# Effective training rate here, in MACs per second, for large batches; small batches waste
# some of it: the tutorial (11.4 M MACs, batch 10) trained at ~480 images/s, `better`
# (10.6 M, batch 64) at ~700, `quick` (5.9 M, batch 32) at ~1,150.
TRAIN_MACS_PER_SECOND = 22e9
BATCH_HALF_EFFICIENCY = 3  # the batch size at which per-step overhead halves the rate
VALIDATION_MACS_PER_SECOND = 15e9  # one forward pass over the test set, batches of 500
START_SECONDS = 10.0  # starting Python, TensorFlow and reading the cached dataset


def forward_macs(config: ModelConfig) -> int:
    """Multiply-accumulates for one image's forward pass, from the layer shapes alone."""
    height, width, channels = IMAGE_SHAPE
    total = 0
    for filters in config.block_filters():
        for _ in range(config.convs_per_block):
            total += height * width * config.kernel_size**2 * channels * filters
            channels = filters
        height, width = height // 2, width // 2
    features = height * width * channels
    if config.dense_units:
        total += features * config.dense_units
        features = config.dense_units
    return total + features * NUM_CLASSES


def estimate_seconds(config: ModelConfig, train_images: int, test_images: int) -> float:
    """Rough wall time for the whole run: start-up, every epoch's training and validation."""
    macs = forward_macs(config)
    rate = TRAIN_MACS_PER_SECOND * config.batch_size / (config.batch_size + BATCH_HALF_EFFICIENCY)
    images = min(train_images, config.train_size or train_images)
    steps = math.ceil(images / config.batch_size)
    train = steps * config.batch_size * 3 * macs / rate
    validation = test_images * macs / VALIDATION_MACS_PER_SECOND
    return START_SECONDS + config.epochs * (train + validation)


def describe_duration(seconds: float) -> str:
    """'about 45 s', 'about 12 min', 'about 2.5 h'."""
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"
