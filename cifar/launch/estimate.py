"""How much work a config is, and how long it should take to train on a machine like this one.

The estimate is arithmetic, not a measurement: multiply-accumulates (MACs) per image from the
layer shapes, times images, divided by a rate measured on the project's 2-core x86_64 machine
(see the README's results table). Training an image costs about three forward passes.

MACs alone miss what else sets the speed (how many channels a convolution has, the batch,
bfloat16), so the arithmetic is then scaled by how far it was off for the preset the config
is nearest to, whose whole run was measured: a preset's estimate is its measured time, and a
config one or two settings away from it is scaled the same.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from cifar.config.presets import PRESETS, nearest_preset
from cifar.config.settings import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES, ModelConfig
from cifar.network.build import VALIDATION_BATCH_SIZE
from cifar.network.devices import computes_in_bfloat16
from cifar.network.size import activation_floats, forward_macs, optimizer_weight_copies, parameter_count
from cifar.runs.progress import describe_duration

# Effective training rate here, in MACs per second, for large batches; small batches waste
# some of it. Fitted to the presets' measured times (the README's results table).
TRAIN_MACS_PER_SECOND = 22e9
BATCH_HALF_EFFICIENCY = 3  # the batch size at which per-step overhead halves the rate
VALIDATION_MACS_PER_SECOND = 15e9  # one forward pass over the test set, batches of 200
START_SECONDS = 10.0  # starting Python, TensorFlow and reading the cached dataset
# How much faster bfloat16 trains `best`'s network on a CPU that computes in it (RESULTS.md,
# section 8, speed levers: 1.3 to 1.5 times float32).
BFLOAT16_SPEEDUP = 1.4


def estimate_seconds(config: ModelConfig, train_images: int, test_images: int) -> float:
    """Rough wall time for the whole run on a machine like the project's: start-up, every
    epoch's training and validation, scaled by the nearest measured preset (module docstring)."""
    name, _ = nearest_preset(config)
    measured = PRESETS[name]
    modelled = _arithmetic_seconds(measured.config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES)
    modelled /= BFLOAT16_SPEEDUP if computes_in_bfloat16(measured.config, measured.machine.cpu_flags) else 1.0
    scale = measured.seconds / modelled
    speedup = BFLOAT16_SPEEDUP if computes_in_bfloat16(config) else 1.0
    return _arithmetic_seconds(config, train_images, test_images) / speedup * scale


def _arithmetic_seconds(config: ModelConfig, train_images: int, test_images: int) -> float:
    """The wall time that multiply-adds and the fitted rates alone give."""
    macs = forward_macs(config)
    rate = TRAIN_MACS_PER_SECOND * config.batch_size / (config.batch_size + BATCH_HALF_EFFICIENCY)
    images = min(train_images, config.train_size or train_images)
    steps = math.ceil(images / config.batch_size)
    train = steps * config.batch_size * 3 * macs / rate
    validation = test_images * macs / VALIDATION_MACS_PER_SECOND
    return START_SECONDS + config.epochs * (train + validation)


# Memory of a training process, in bytes. The base is what the process holds whatever the
# model: Python, TensorFlow, the dataset arrays (shared with TensorFlow rather than copied)
# and Keras' traced steps; fitted to the tutorial's measured peak (benchmarks/RESULTS.md,
# section 6), whose own weights and activations are a small part of it.
BASE_TRAINING_BYTES = 1.05e9
FLOAT_BYTES = 4
HOURS_WARNING = 1.0  # a longer run is launched only after a warning with the estimate
MEMORY_SHARE = 0.8  # a run whose estimate passes this share of free memory is refused


def training_memory_bytes(config: ModelConfig) -> float:
    """Rough peak memory of the training process for `config`."""
    weights = parameter_count(config) * FLOAT_BYTES * optimizer_weight_copies(config)
    training = config.batch_size * activation_floats(config) * FLOAT_BYTES * 2  # forward and backward
    validation = VALIDATION_BATCH_SIZE * activation_floats(config) * FLOAT_BYTES
    return BASE_TRAINING_BYTES + weights + max(training, validation)


def available_memory_bytes() -> float:
    """Memory the system can give a new process now (Linux' MemAvailable), else all of it."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


@dataclass(frozen=True)
class Feasibility:
    """What a config would cost here, and whether it may be launched."""

    seconds: float
    memory_bytes: float
    available_bytes: float
    refusal: str | None  # why it may not be launched, with the estimate; None when it may
    warnings: tuple[str, ...]  # what the user should know before launching
    summary: str  # the estimate in one sentence


def check_feasible(
    config: ModelConfig, train_images: int, test_images: int, available_bytes: float | None = None
) -> Feasibility:
    """Refuse a config that would not fit in memory, and warn about one that takes hours.

    Args:
        config: what would be trained.
        train_images, test_images: the dataset's sizes.
        available_bytes: free memory (default: what the system reports now).
    """
    seconds = estimate_seconds(config, train_images, test_images)
    memory = training_memory_bytes(config)
    available = available_memory_bytes() if available_bytes is None else available_bytes
    refusal = None
    if memory > MEMORY_SHARE * available:
        refusal = (
            f"This network would need about {memory / 1e9:.1f} GB of memory to train and this machine has "
            f"{available / 1e9:.1f} GB free. Use a smaller batch size, fewer filters or dense units, or fewer "
            "convolutions per block."
        )
    warnings = []
    if seconds > HOURS_WARNING * 3600:
        warnings.append(
            f"This run would take {describe_duration(seconds)} on a 2-core laptop. Fewer epochs, fewer training "
            "images or a larger batch size make it shorter; it can be stopped at any time and keeps its epochs."
        )
    elif memory > 0.5 * available and refusal is None:
        warnings.append(
            f"This network needs about {memory / 1e9:.1f} GB of the {available / 1e9:.1f} GB free: "
            "other programs may slow down while it trains."
        )
    used = min(train_images, config.train_size or train_images)
    summary = (
        f"Estimated time: **{describe_duration(seconds)}** on a 2-core laptop, for {config.epochs} epochs of "
        f"{used:,} images; memory: about {memory / 1e9:.1f} GB."
    )
    return Feasibility(seconds, memory, available, refusal, tuple(warnings), summary)
