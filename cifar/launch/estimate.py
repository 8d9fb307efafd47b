"""How long a config should take to train on this machine, and how much memory.

The estimate starts from a whole run of the nearest preset, on the best basis there is:

1. runs of that very preset this machine has trained (the median of their whole times);
2. this machine's measured speed for that preset's network (cifar/network/speed.py: a few
   seconds of real training steps and forward passes, kept per machine), put together as a
   run is: start-up, then every epoch's steps and validation;
3. else the preset's own figure, measured on the project's 2-core machine (presets.py).

A config that differs from the preset is then scaled by the arithmetic: multiply-accumulates
(MACs) per image from the layer shapes, times images, at a fitted rate, and bfloat16 where
the CPU computes in it. A config whose own network was measured (`estimate` on the command
line measures it) is put together from its own figures.
"""

from __future__ import annotations

import math
import os
import socket
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cifar.config.presets import PRESETS, nearest_preset
from cifar.config.settings import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES, ModelConfig, clash
from cifar.errors import CifarError
from cifar.network.build import VALIDATION_BATCH_SIZE, test_passes
from cifar.network.devices import computes_in_bfloat16, machine
from cifar.network.size import activation_floats, forward_macs, optimizer_weight_copies, parameter_count
from cifar.network.speed import Speed, kept_speed, measure_speed
from cifar.runs.progress import describe_duration
from cifar.runs.run import list_runs

# Effective training rate here, in MACs per second, for large batches; small batches waste
# some of it. Fitted to the presets' measured times (the README's results table). Only the
# ratio between two configs' arithmetic is used: the rate itself cancels.
TRAIN_MACS_PER_SECOND = 22e9
BATCH_HALF_EFFICIENCY = 3  # the batch size at which per-step overhead halves the rate
VALIDATION_MACS_PER_SECOND = 15e9  # one forward pass over the test set, batches of 200
START_SECONDS = 10.0  # starting Python, TensorFlow and reading the cached dataset
# How much faster bfloat16 trains `best`'s network on a CPU that computes in it (RESULTS.md,
# section 8, speed levers: 1.3 to 1.5 times float32).
BFLOAT16_SPEEDUP = 1.4
# A whole run from the measured step and forward-pass rates: start-up (Python, TensorFlow, the
# cached dataset: 3.7 s to the trainer's first event, 2.4 s of the process around it; tracing
# the first epoch's step, about 1 s), and what an epoch costs beyond its steps and validation
# (its weights, predictions and history written, Keras' epoch boundary): 0.15 to 0.25 s. Read
# from the event logs of quick and fast trained whole (benchmarks/bench_estimate.py).
MEASURED_START_SECONDS = 7.0
EPOCH_OVERHEAD_SECONDS = 0.25


# The whole times of finished runs this machine trained, by config and training images: one
# scan of the runs folder (`trained_times`) serves every estimate of a listing.
TrainedTimes = Mapping[tuple[ModelConfig, int], list[float]]


@dataclass(frozen=True)
class Estimate:
    """A config's estimated whole time here, and what it rests on, in words."""

    seconds: float
    basis: str


def estimate(
    config: ModelConfig,
    train_images: int,
    test_images: int,
    runs_dir: str | os.PathLike | None = None,
    trained: TrainedTimes | None = None,
) -> Estimate:
    """Wall time for the whole run here, on the best basis there is (module docstring).

    Args:
        config: what would be trained.
        train_images, test_images: the dataset's sizes.
        runs_dir: where to look for runs this machine trained (default: the runs folder).
        trained: those runs' times, already read (`trained_times`), when many configs are
            estimated at once; then `runs_dir` is not read.
    """
    name, _ = nearest_preset(config)
    preset = PRESETS[name]
    scale = _arithmetic(config, train_images, test_images) / _arithmetic(preset.config)
    scaled = "" if config == preset.config else ", scaled to this config"
    times = trained_times(runs_dir) if trained is None else trained
    whole = times.get((preset.config, _all_images(preset.config)), [])
    if whole:
        runs = f"{len(whole)} `{name}` run{'s' if len(whole) > 1 else ''}"
        return Estimate(statistics.median(whole) * scale, f"the {runs} this machine trained{scaled}")
    own = kept_speed(config)
    if own is not None:
        return Estimate(
            put_together(config, own, train_images, test_images),
            f"this machine's measured speed for this network ({own.measured[:10]})",
        )
    measured = kept_speed(preset.config)
    if measured is not None:
        seconds = put_together(preset.config, measured, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES)
        return Estimate(
            seconds * scale, f"this machine's measured speed for `{name}` ({measured.measured[:10]}){scaled}"
        )
    there = _arithmetic(preset.config, flags=preset.machine.cpu_flags)  # as the preset was measured
    return Estimate(
        preset.seconds * _arithmetic(config, train_images, test_images) / there,
        f"`{name}`'s time on the project's {preset.machine.description}{scaled} "
        "(this machine's speed is not measured yet)",
    )


def network_to_measure(config: ModelConfig) -> ModelConfig | None:
    """The network whose speed the estimate of `config` wants measured on this machine (the
    nearest preset's: one per preset, not one per setting tried), or None when it has what it needs."""
    nearest = PRESETS[nearest_preset(config)[0]].config
    return None if kept_speed(config) or kept_speed(nearest) else nearest


def measure_here(config: ModelConfig, runs_dir: str | os.PathLike | None = None) -> str | None:
    """Measure this machine's speed for `config`'s network (a few seconds) unless a training is
    running here, which would make the machine look slower than it is; then None, else why not."""
    host = socket.gethostname()
    running = [run.id for run in list_runs(runs_dir) if _training_here(run, host)]
    if running:
        return (
            f"Run {running[0]} is training here: measuring now would find this machine slower than it is. "
            "The estimate uses what it has; measure once nothing trains."
        )
    measure_speed(config)
    return None


def _training_here(run, host: str) -> bool:
    try:
        status = run.written_status()
    except CifarError:
        return False
    return status.state == "running" and status.host == host


def estimate_seconds(
    config: ModelConfig, train_images: int, test_images: int, trained: TrainedTimes | None = None
) -> float:
    """The estimate's wall time alone (see `estimate`)."""
    return estimate(config, train_images, test_images, trained=trained).seconds


def put_together(config: ModelConfig, speed: Speed, train_images: int, test_images: int) -> float:
    """A whole run from measured rates: start-up, then every epoch's steps, validation (twice
    with the flipped test images) and what an epoch costs beyond them."""
    images, test_images = images_used(config, train_images, test_images)
    steps = math.ceil(images / config.batch_size)
    validation = test_images * speed.image_seconds * test_passes(config)
    return MEASURED_START_SECONDS + config.epochs * (steps * speed.step_seconds + validation + EPOCH_OVERHEAD_SECONDS)


def trained_here(config: ModelConfig, runs_dir: str | os.PathLike | None = None) -> list[float]:
    """The whole times of finished runs of exactly `config` (not continued) that trained on this
    machine, on all of CIFAR-10's images."""
    return trained_times(runs_dir).get((config, _all_images(config)), [])


def trained_times(runs_dir: str | os.PathLike | None = None) -> dict[tuple[ModelConfig, int], list[float]]:
    """The whole times of the finished runs (not continued) this machine trained, by their config
    and how many training images they used: one read of the runs folder."""
    found: dict[tuple[ModelConfig, int], list[float]] = {}
    here = None
    for run in list_runs(runs_dir):
        try:
            status = run.written_status()
            if status.state != "finished" or status.start_epoch or not (status.started and status.ended):
                continue
            if status.data is None:
                continue
            here = here or machine()  # asks TensorFlow for its GPUs: only once a run could count
            if status.machine == here:
                took = datetime.fromisoformat(status.ended) - datetime.fromisoformat(status.started)
                found.setdefault((run.config(), status.data.train_images), []).append(took.total_seconds())
        except (CifarError, ValueError, TypeError):
            continue
    return found


def _all_images(config: ModelConfig) -> int:
    """How many training images a whole run of `config` on CIFAR-10 uses."""
    return images_used(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES)[0]


def images_used(config: ModelConfig, train_images: int, test_images: int) -> tuple[int, int]:
    """The images a run of `config` trains on and is tested on each epoch, of a dataset's
    `train_images` and `test_images`: its training subset, less the images it holds out, which
    it is tested on instead of the test set."""
    left = max(train_images - config.holdout, 1)
    return min(left, config.train_size or left), config.holdout or test_images


def _arithmetic(
    config: ModelConfig,
    train_images: int = CIFAR_TRAIN_IMAGES,
    test_images: int = CIFAR_TEST_IMAGES,
    flags: frozenset[str] | None = None,
) -> float:
    """The arithmetic's wall time, with bfloat16 where the CPU (default: this one) computes in it."""
    speedup = BFLOAT16_SPEEDUP if computes_in_bfloat16(config, flags) else 1.0
    return _arithmetic_seconds(config, train_images, test_images) / speedup


def _arithmetic_seconds(config: ModelConfig, train_images: int, test_images: int) -> float:
    """The wall time that multiply-adds and the fitted rates alone give."""
    macs = forward_macs(config)
    rate = TRAIN_MACS_PER_SECOND * config.batch_size / (config.batch_size + BATCH_HALF_EFFICIENCY)
    images, test_images = images_used(config, train_images, test_images)
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
    guess = estimate(config, train_images, test_images)
    seconds = guess.seconds
    memory = training_memory_bytes(config)
    available = available_memory_bytes() if available_bytes is None else available_bytes
    refusal = clash(config)
    if refusal is None and config.holdout >= train_images:
        refusal = (
            f"Holding out {config.holdout:,} images leaves none of this dataset's {train_images:,} training "
            "images to train on: hold out fewer."
        )
    elif refusal is None and memory > MEMORY_SHARE * available:
        refusal = (
            f"This network would need about {memory / 1e9:.1f} GB of memory to train and this machine has "
            f"{available / 1e9:.1f} GB free. Use a smaller batch size, fewer filters or dense units, or fewer "
            "convolutions per block."
        )
    warnings = []
    if seconds > HOURS_WARNING * 3600:
        warnings.append(
            f"This run would take {describe_duration(seconds)} here. Fewer epochs, fewer training "
            "images or a larger batch size make it shorter; it can be stopped at any time and keeps its epochs."
        )
    elif memory > 0.5 * available and refusal is None:
        warnings.append(
            f"This network needs about {memory / 1e9:.1f} GB of the {available / 1e9:.1f} GB free: "
            "other programs may slow down while it trains."
        )
    used = images_used(config, train_images, test_images)[0]
    summary = (
        f"Estimated time: **{describe_duration(seconds)}** here, for {config.epochs} epochs of "
        f"{used:,} images (from {guess.basis}); memory: about {memory / 1e9:.1f} GB."
    )
    return Feasibility(seconds, memory, available, refusal, tuple(warnings), summary)
