"""The machine a training runs on: its GPUs, whether its CPU computes in bfloat16, the
precision a config gets here, and how the work spreads over two or more GPUs.

TensorFlow puts a model on a GPU by itself when it sees one; this module only chooses the
16-bit float that suits the hardware (`compute_precision`) and, with several GPUs, Keras'
`MirroredStrategy` (`distribution`). What each is worth here is in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from cifar.config.settings import ModelConfig

# CPU features that compute bfloat16 products natively (Linux's names in /proc/cpuinfo).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
FLOAT32 = "float32"


@dataclass(frozen=True)
class Precision:
    """The Keras dtype policy a training uses, and why it is not what the config asked, if not."""

    policy: str
    notice: str | None = None


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; empty where /proc/cpuinfo does not exist."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


@functools.cache
def gpu_names() -> tuple[str, ...]:
    """The GPUs TensorFlow can use, by name ("NVIDIA H200"); empty on a machine without."""
    import tensorflow as tf

    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(str(details.get("device_name", device.name)))
    return tuple(names)


def computes_in_bfloat16(config: ModelConfig, flags: frozenset[str] | None = None) -> bool:
    """Whether `config` trains in bfloat16 on a CPU with `flags` (default: this machine's CPU)."""
    flags = cpu_flags() if flags is None else flags
    return config.mixed_precision and any(flag in flags for flag in BF16_FLAGS)


def compute_precision(config: ModelConfig, gpus: int | None = None, flags: frozenset[str] | None = None) -> Precision:
    """The dtype policy for `config` on this machine (or on one with `gpus` GPUs and CPU `flags`).

    Mixed precision is float16 on a GPU and bfloat16 on a CPU that has it; elsewhere it falls
    back to float32 and says so, since emulated bfloat16 is slower than float32.
    """
    if not config.mixed_precision:
        return Precision(FLOAT32)
    gpus = len(gpu_names()) if gpus is None else gpus
    if gpus:
        return Precision("mixed_float16")
    flags = cpu_flags() if flags is None else flags
    if any(flag in flags for flag in BF16_FLAGS):
        return Precision("mixed_bfloat16")
    return Precision(
        FLOAT32,
        "Mixed precision is off for this run: this machine has no GPU and its CPU does not compute in "
        f"bfloat16 (none of {', '.join(BF16_FLAGS)}), where 16-bit floats would be slower. It trains in 32 bits.",
    )


def distribution(gpus: int | None = None):
    """Keras' strategy for placing a model: mirrored over every GPU where there are two or more,
    else TensorFlow's default (the one GPU, or the CPU)."""
    import tensorflow as tf

    gpus = len(gpu_names()) if gpus is None else gpus
    if gpus >= 2:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def machine() -> str:
    """This machine in a few words, as the Runs page shows it: its GPUs, or its CPU."""
    gpus = gpu_names()
    if gpus:
        counts = {name: gpus.count(name) for name in gpus}
        return ", ".join(f"{count} × {name}" for name, count in counts.items())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores}-core {platform.machine()} CPU"
