"""How fast this machine trains a network: a few seconds of real training steps, kept per machine.

The time estimate (cifar/launch/estimate.py) once scaled every config by times measured on
another day's machine; the same machine's speed wanders between days, and another CPU (AMX,
or no bfloat16) trains at another rate altogether. `measure_speed` times `fit` on random
images of the network's own shape, batch and precision, after a warm-up that traces it, and a
forward pass at the validation batch: the two rates a whole run is made of. The figures are
kept in the cache folder per machine (its CPU, cores and TensorFlow), so another machine, or
this one after an upgrade, measures again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cifar.atomic import read_json, write_json_atomic
from cifar.config.settings import IMAGE_SHAPE, NUM_CLASSES, ModelConfig
from cifar.data.cache import cache_dir
from cifar.network.build import VALIDATION_BATCH_SIZE, build_model, training_targets
from cifar.network.devices import compute_precision, cpu_flags

MEASURE_SECONDS = 1.5  # of timed training steps, about, after the warm-up
WARMUP_STEPS = 3  # batches left out of a timing: the first ones of a `fit` start its pipeline
MIN_STEPS = 12
MAX_IMAGES = 20_000  # in one timing: 60 MB of random images at most
_VERSION = 1  # bump when what is measured changes: kept figures are measured again


@dataclass(frozen=True)
class Speed:
    """This machine's measured rates for one network."""

    step_seconds: float  # one training step at the config's batch size
    image_seconds: float  # one test image in a forward pass, at the validation batch
    measured: str  # when, ISO 8601 UTC


@functools.cache
def machine_key() -> str:
    """What this machine's speed depends on: CPU model and flags, cores, TensorFlow and Keras."""
    model = _cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = [_version(package) for package in ("tensorflow", "keras")]
    described = f"v{_VERSION}|{platform.machine()}|{model}|{sorted(cpu_flags())}|{cores}|{versions}"
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


def network_key(config: ModelConfig) -> str:
    """The fields that set a step's cost: all but how long and on how much it trains."""
    fields = asdict(config.replace(epochs=1, train_size=None, holdout=0, seed=0))
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def speed_file() -> Path:
    return cache_dir() / f"speed-{machine_key()}.json"


def kept_speed(config: ModelConfig) -> Speed | None:
    """This machine's measured rates for `config`'s network, if measured already; never measures."""
    found = read_json(speed_file())
    entry = found.get(network_key(config)) if isinstance(found, dict) else None
    try:
        return Speed(float(entry["step_seconds"]), float(entry["image_seconds"]), str(entry["measured"]))
    except (TypeError, KeyError, ValueError):
        return None


def measure_speed(config: ModelConfig, seconds: float = MEASURE_SECONDS) -> Speed:
    """Time `config`'s training steps and forward passes here, and keep the figures.

    Takes about `seconds` of timed steps after a warm-up that traces the step, and two forward
    passes: a few seconds in all. Measure while nothing else trains: what it finds is kept for
    this machine.
    """
    model = build_model(config, precision=compute_precision(config).policy)
    rng = np.random.default_rng(0)
    probe = _step_seconds(model, config, WARMUP_STEPS * 3, rng)  # traces the step, then a first rate
    steps = int(np.clip(seconds / max(probe, 1e-6), MIN_STEPS, MAX_IMAGES // config.batch_size))
    step = _step_seconds(model, config, steps, rng)
    # A forward pass over many images less one over few: what each image adds, without the
    # call's own start (validation passes 10,000 images in one call).
    tests = rng.integers(0, 256, (VALIDATION_BATCH_SIZE * 10, *IMAGE_SHAPE), dtype=np.uint8)
    model.predict(tests[:VALIDATION_BATCH_SIZE], batch_size=VALIDATION_BATCH_SIZE, verbose=0)  # traced
    few, many = (_predict_seconds(model, tests[:count]) for count in (VALIDATION_BATCH_SIZE * 2, len(tests)))
    image = max(many - few, 0.0) / (len(tests) - VALIDATION_BATCH_SIZE * 2)
    found = Speed(step, image, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    _keep(config, found)
    return found


def _step_seconds(model, config: ModelConfig, steps: int, rng: np.random.Generator) -> float:
    """Seconds per training step in one `fit` of `steps` batches, timed between batch ends after
    the first few: the steady rate, as an epoch runs, without the call's start."""
    import keras

    images = rng.integers(0, 256, (config.batch_size * steps, *IMAGE_SHAPE), dtype=np.uint8)
    targets = training_targets(config, rng.integers(0, NUM_CLASSES, len(images)))
    ends: list[float] = []
    clock = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: ends.append(time.perf_counter()))
    model.fit(images, targets, batch_size=config.batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
    settled = ends[WARMUP_STEPS - 1 :]
    return (settled[-1] - settled[0]) / max(len(settled) - 1, 1)


def _predict_seconds(model, images: np.ndarray) -> float:
    began = time.perf_counter()
    model.predict(images, batch_size=VALIDATION_BATCH_SIZE, verbose=0)
    return time.perf_counter() - began


def _keep(config: ModelConfig, found: Speed) -> None:
    path = speed_file()
    kept = read_json(path)
    kept = kept if isinstance(kept, dict) else {}
    kept[network_key(config)] = asdict(found)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, kept)
    except OSError:
        pass  # a cache folder that cannot be written: measured again next time, never an error
