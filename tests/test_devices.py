"""The machine a training runs on (cifar/network/devices.py): the CPU's flags as /proc/cpuinfo
lists them, the precision a config gets on given hardware, the strategy for several GPUs, and
the machine in words."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import pytest

from cifar.config.settings import ModelConfig
from cifar.network import devices

SMALL = ModelConfig(conv_blocks=2, filters=(8, 16), convs_per_block=2, dense_units=0, batch_norm=True, dropout=0.0)
X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
fpu_exception\t: yes
flags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile
vmx flags\t: vnmi preemption_timer
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu sse2
"""
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm bf16 sve
CPU implementer\t: 0x41
"""


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """Point cpu_flags at a file of our own, with its cache emptied before and after."""

    def use(text: str | None) -> None:
        fake = tmp_path / "cpuinfo"
        if text is not None:
            fake.write_text(text)
        monkeypatch.setattr(devices, "Path", lambda _: fake)
        devices.cpu_flags.cache_clear()

    yield use
    devices.cpu_flags.cache_clear()


def test_the_cpu_flags_are_the_first_processors_flags_line(cpuinfo):
    cpuinfo(X86_CPUINFO)
    assert devices.cpu_flags() == {"fpu", "sse2", "avx2", "avx512f", "amx_bf16", "amx_tile"}


def test_an_arm_cpu_lists_its_features(cpuinfo):
    cpuinfo(ARM_CPUINFO)
    assert devices.cpu_flags() == {"fp", "asimd", "evtstrm", "bf16", "sve"}


def test_without_a_cpuinfo_file_there_are_no_flags(cpuinfo):
    cpuinfo(None)
    assert devices.cpu_flags() == frozenset()


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="this machine has no /proc/cpuinfo")
def test_this_machines_flags_are_those_in_its_cpuinfo():
    devices.cpu_flags.cache_clear()
    listed = re.search(r"^(?:flags|Features)\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    assert devices.cpu_flags() == frozenset(listed.group(1).split() if listed else ())


def test_the_precision_follows_the_hardware_and_says_when_it_falls_back():
    mixed = SMALL.replace(mixed_precision=True)
    assert devices.compute_precision(SMALL, gpus=1, flags=frozenset({"avx512_bf16"})).policy == "float32"
    assert devices.compute_precision(mixed, gpus=1, flags=frozenset()).policy == "mixed_float16"
    assert devices.compute_precision(mixed, gpus=0, flags=frozenset({"avx512_bf16"})).policy == "mixed_bfloat16"
    assert devices.compute_precision(mixed, gpus=0, flags=frozenset({"amx_bf16"})).policy == "mixed_bfloat16"
    fallback = devices.compute_precision(mixed, gpus=0, flags=frozenset({"avx2", "avx512f"}))
    assert fallback.policy == "float32"
    assert fallback.notice.startswith("Mixed precision is off for this run: this machine has no GPU")


def test_only_a_fallback_carries_a_notice_and_it_names_the_missing_flags():
    mixed = SMALL.replace(mixed_precision=True)
    assert devices.compute_precision(SMALL, gpus=0, flags=frozenset()).notice is None
    assert devices.compute_precision(mixed, gpus=2, flags=frozenset()).notice is None
    assert devices.compute_precision(mixed, gpus=0, flags=frozenset({"amx_bf16"})).notice is None
    notice = devices.compute_precision(mixed, gpus=0, flags=frozenset()).notice
    assert "(none of avx512_bf16, amx_bf16)" in notice and notice.endswith("It trains in 32 bits.")


def test_without_arguments_the_precision_asks_this_machine(monkeypatch):
    mixed = SMALL.replace(mixed_precision=True)
    monkeypatch.setattr(devices, "gpu_names", lambda: ("NVIDIA H100",))
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset())
    assert devices.compute_precision(mixed).policy == "mixed_float16"
    monkeypatch.setattr(devices, "gpu_names", lambda: ())
    assert devices.compute_precision(mixed).policy == "float32"
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert devices.compute_precision(mixed).policy == "mixed_bfloat16"


def test_bfloat16_is_computed_only_when_asked_for_on_a_cpu_that_has_it(monkeypatch):
    mixed = SMALL.replace(mixed_precision=True)
    assert devices.computes_in_bfloat16(mixed, frozenset({"avx512_bf16", "avx2"}))
    assert not devices.computes_in_bfloat16(mixed, frozenset({"avx2", "bf16"}))  # ARM's word is not one of ours
    assert not devices.computes_in_bfloat16(SMALL, frozenset({"amx_bf16"}))
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert devices.computes_in_bfloat16(mixed)


def test_two_gpus_would_mirror_the_model_and_one_would_not():
    import tensorflow as tf

    assert isinstance(devices.distribution(gpus=2), tf.distribute.MirroredStrategy)
    assert not isinstance(devices.distribution(gpus=1), tf.distribute.MirroredStrategy)
    assert not isinstance(devices.distribution(gpus=0), tf.distribute.MirroredStrategy)


def test_the_gpus_named_are_those_tensorflow_sees():
    import tensorflow as tf

    assert len(devices.gpu_names()) == len(tf.config.list_physical_devices("GPU"))
    assert all(isinstance(name, str) and name for name in devices.gpu_names())


def test_a_machine_with_gpus_is_named_by_them_counted(monkeypatch):
    monkeypatch.setattr(devices, "gpu_names", lambda: ("NVIDIA H100", "NVIDIA H100", "NVIDIA A10"))
    assert devices.machine() == "2 × NVIDIA H100, 1 × NVIDIA A10"


def test_a_machine_without_gpus_is_named_by_its_cores_and_cpu(monkeypatch):
    monkeypatch.setattr(devices, "gpu_names", lambda: ())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert devices.machine() == f"{cores}-core {platform.machine()} CPU"
