"""The presets: starting points a student picks, each one record with its config, what it is
for, and the accuracy and time its whole run measured, on which machine (the time estimate
scales by them, the Train page and `train --help` show their notes, the README's results table
their figures)."""

from __future__ import annotations

from dataclasses import dataclass

from cifar.config.settings import FIELDS, ModelConfig
from cifar.errors import ConfigError

# The network `fast` and `better` share: three blocks of one convolution with BatchNorm, Adam
# at 0.003, batch 64.
_THREE_BLOCKS = ModelConfig(
    conv_blocks=3,
    filters=(32, 64, 128),
    convs_per_block=1,
    dense_units=128,
    batch_norm=True,
    learning_rate=0.003,
    batch_size=64,
)


# `best`'s network and training, which `record` starts from.
_BEST = ModelConfig(
    conv_blocks=3,
    filters=(32, 64, 128),
    convs_per_block=2,
    early_pool=True,
    head="max",
    dense_units=0,
    batch_norm=True,
    dropout=0.0,
    label_smoothing=0.1,
    weight_decay=0.005,
    augment=True,
    test_time_flip=True,
    learning_rate=0.004,
    lr_schedule="cosine",
    mixed_precision=True,
    batch_size=128,
    epochs=8,
)


@dataclass(frozen=True)
class Machine:
    """Where a preset's figures were measured."""

    description: str  # in a few words, as the README's results table says it
    cpu_flags: frozenset[str]  # the CPU features that set its speed (it computes in bfloat16 or not)


# The project's 2-core virtual machine (README, "Results"), whose speed wanders by up to 2×.
PROJECT_MACHINE = Machine("2-core CPU", frozenset({"avx512_bf16"}))  # an AMD EPYC with AVX512_BF16


@dataclass(frozen=True)
class Preset:
    """A starting point: its config, what it is for, and what its whole run measured."""

    name: str
    config: ModelConfig
    note: str  # what it is for, in a few words (the Train page and `train --help`)
    accuracy: float  # test accuracy after its last epoch, one run with seed 0
    # Its run's time as the README's results table gives it: training and testing, and for
    # quick, fast and best the start-up too (launch to exit).
    seconds: float
    machine: Machine = PROJECT_MACHINE


def _presets(*presets: Preset) -> dict[str, Preset]:
    return {each.name: each for each in presets}


# The README's results table shows these figures; `tutorial`, `quick`, `fast` and `better` ran
# in float32, `best` in bfloat16 (benchmarks/RESULTS.md has how each was measured).
PRESETS: dict[str, Preset] = _presets(
    # The tutorial, layer for layer.
    Preset("tutorial", ModelConfig(), "the TensorFlow tutorial's model", accuracy=0.667, seconds=1111.0),
    # A classroom run of about a minute: 6,000 images, a wider batch, two small blocks.
    Preset(
        "quick",
        ModelConfig(
            conv_blocks=2,
            filters=(32, 64),
            convs_per_block=1,
            dense_units=64,
            dropout=0.25,
            batch_size=32,
            epochs=6,
            train_size=6000,
        ),
        "about a minute",
        accuracy=0.513,
        seconds=64.0,
    ),
    # The tutorial's accuracy in a fraction of its time: `better`'s network without dropout or
    # augmentation, and a learning rate that warms up, then decays to zero over 2 epochs
    # (benchmarks/bench_time_to_accuracy.py).
    Preset(
        "fast",
        _THREE_BLOCKS.replace(dropout=0.0, lr_schedule="cosine", epochs=2),
        "the tutorial's accuracy in about 2½ minutes",
        accuracy=0.721,
        seconds=152.0,
    ),
    # BatchNorm, augmentation and three blocks of one convolution each: two convolutions a
    # block train at a quarter of the speed here.
    Preset(
        "better",
        _THREE_BLOCKS.replace(dropout=0.1, augment=True, epochs=10),
        "BatchNorm and augmentation",
        accuracy=0.727,
        seconds=810.0,
    ),
    # 0.80 in less time than the tutorial's 10 epochs (benchmarks/bench_best.py): airbench's
    # layout, pooling after each block's first convolution, on a CPU that computes in bfloat16.
    # RESULTS.md has what each technique buys (a skip connection did not earn its place).
    Preset(
        "best",
        _BEST,
        "0.80 in less time than the tutorial",
        accuracy=0.821,
        seconds=330.0,
    ),
    # airbench's recipe (Keller Jordan, 2024), every technique a field of its own, at widths
    # this 2-core CPU trains at about 900 images/s (airbench's 64/256/256: 280). Untuned: its
    # settings were chosen before the held-out validation set existed (README, "Toward 90%").
    Preset(
        "record",
        _BEST.replace(
            filters=(32, 128, 128),
            whiten=True,
            identity_init=True,
            frozen_bn_scale=True,
            bn_bias_rate=64,
            label_smoothing=0.2,
            augment=False,
            alternating_flip=True,
            optimizer="sgd",
            learning_rate=0.2,
            lr_schedule="triangular",
            weight_average=True,
            batch_size=512,
        ),
        "airbench's recipe, a switch per technique",
        accuracy=0.8465,
        seconds=574.0,
    ),
)


def preset(name: str) -> ModelConfig:
    """The named preset's config.

    Raises:
        ConfigError: `name` is not a preset; the message lists them.
    """
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
    return PRESETS[name].config


def changed_fields(config: ModelConfig, preset_name: str) -> list[str]:
    """The fields whose values in `config` differ from the preset's, in table order."""
    base = preset(preset_name)
    return [name for name in FIELDS if getattr(config, name) != getattr(base, name)]


def nearest_preset(config: ModelConfig) -> tuple[str, list[str]]:
    """The preset `config` differs from in the fewest fields (the first such, in preset order),
    and those fields."""
    name = min(PRESETS, key=lambda candidate: len(changed_fields(config, candidate)))
    return name, changed_fields(config, name)


# What the Class page's form for a new class experiment offers first: each varied setting with
# its values written as on the command line (cifar/classroom/experiments.py).
EXAMPLE_GRID = (("dropout", "0/0.25/0.5"), ("filters", "16,32/32,64"))
