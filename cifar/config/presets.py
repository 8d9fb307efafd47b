"""The presets: starting points a student picks, each one record with its config, what it is
for, and the accuracy and time its whole run measured, on which machine (the time estimate
scales by them, the Train page and `train --help` show their notes and figures, the README's
results table the figures). `record` also carries its ablation: a run with each technique
switched off, and what that cost (the Train page and the README show it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cifar.config.fields import as_text
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
PROJECT_MACHINE = Machine("2-core AMD EPYC", frozenset({"avx512_bf16"}))  # with AVX512_BF16


# Training images every ablation run holds out and is tested on (`--holdout`), so that what it
# finds may choose settings without the test set.
ABLATION_HOLDOUT = 5000


@dataclass(frozen=True)
class Switched:
    """A preset's run with one technique changed (switched off, swapped or on), measured: trained
    with ABLATION_HOLDOUT images held out, and tested on those, never on the test set."""

    changes: tuple[tuple[str, Any], ...]  # (field, value) on top of the preset; () for the preset itself
    accuracy: float  # held-out accuracy after the last epoch, one run with seed 0
    # Launch to exit; None where the run's own model was tested again another way (no training).
    seconds: float | None


@dataclass(frozen=True)
class Preset:
    """A starting point: its config, what it is for, and what its whole run measured."""

    name: str
    config: ModelConfig
    note: str  # what it is for, in a few words (the Train page and `train --help`)
    accuracy: float  # test accuracy after its last epoch, one run with seed 0
    # Its run's time as the README's results table gives it: training and testing, and for
    # quick, fast, best and record the start-up too (launch to exit).
    seconds: float
    machine: Machine = PROJECT_MACHINE
    ablation: tuple[Switched, ...] = ()  # the preset itself first, then a technique changed a row
    # Test accuracies of whole runs with seeds 0, 1, 2 (benchmarks/bench_record.py --seeds), where
    # measured: how far the seed alone moves the figure.
    seed_accuracies: tuple[float, ...] = ()

    @property
    def seed_spread_points(self) -> float | None:
        """How far apart its seeds' test accuracies are, in percentage points; None if not measured."""
        if len(self.seed_accuracies) < 2:
            return None
        return (max(self.seed_accuracies) - min(self.seed_accuracies)) * 100

    @property
    def measured_words(self) -> str:
        """What its whole run measured, in words: '0.821 test accuracy in 330 s, in bfloat16, on the
        project's 2-core AMD EPYC'."""
        took = f"{self.seconds:.0f} s" if self.seconds < 600 else f"{self.seconds / 60:.1f} min".replace(".0 ", " ")
        precision = ", in bfloat16" if self.config.mixed_precision else ""
        seeds = ""
        if self.seed_accuracies:
            seeds = f" (seeds 0–{len(self.seed_accuracies) - 1}: {', '.join(map(str, self.seed_accuracies))})"
        return (
            f"{self.accuracy} test accuracy in {took}{precision}, on the project's {self.machine.description}" + seeds
        )


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
        seed_accuracies=(0.8445, 0.8502, 0.8589),  # RESULTS.md section 15, 2026-12-08
        # One run a row, seed 0, on 5,000 held-out training images, launch to exit (README,
        # "What each of `record`'s techniques is worth"; RESULTS.md section 15).
        ablation=(
            Switched((), 0.8446, 463.0),
            Switched((("whiten", False),), 0.7728, 476.0),
            Switched((("identity_init", False),), 0.8354, 454.0),
            Switched((("frozen_bn_scale", False),), 0.8468, 454.0),
            Switched((("bn_bias_rate", 1),), 0.8020, 404.0),
            Switched((("label_smoothing", 0.0),), 0.8546, 453.0),
            Switched((("alternating_flip", False),), 0.8298, 411.0),
            Switched((("alternating_flip", False), ("augment", True)), 0.8396, 429.0),
            Switched((("lr_schedule", "cosine"),), 0.8510, 462.0),
            Switched((("weight_average", False),), 0.8336, 420.0),
            Switched((("test_time_flip", False),), 0.8376, None),
            Switched((("test_time_shifts", True),), 0.8486, None),
        ),
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


def flags_of(changes: tuple[tuple[str, Any], ...]) -> str:
    """The command line's flags for `changes` on top of a preset: '--no-whiten --bn-bias-rate 1'.

    Args:
        changes: (field name, value) pairs, as a `Switched` holds them.
    """
    words = []
    for name, value in changes:
        flag = name.replace("_", "-")
        if isinstance(value, bool):
            words.append(f"--{flag}" if value else f"--no-{flag}")
        else:
            words.append(f"--{flag} {as_text(FIELDS[name], value)}")
    return " ".join(words)


def _in_words(field: str, value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return as_text(FIELDS[field], value)


def ablation_rows(name: str) -> list[dict[str, str]]:
    """The named preset's ablation in words, a row per run (empty for a preset without one).

    Each row: what changed ('Label smoothing: 0.2 → 0'), the change from the whole recipe's
    held-out accuracy in percentage points (−2.0 where switching a technique off cost two), the
    held-out accuracy, the time and the flags that do it.

    Raises:
        ConfigError: `name` is not a preset.
    """
    config, switched = preset(name), PRESETS[name].ablation
    rows = []
    for each in switched:
        changed = "; ".join(
            f"{FIELDS[field].label}: {_in_words(field, getattr(config, field))} → {_in_words(field, value)}"
            for field, value in each.changes
        )
        points = (each.accuracy - switched[0].accuracy) * 100
        rows.append(
            {
                "changed": changed or "nothing: the whole recipe",
                "change (points)": f"{points:+.1f}".replace("-", "−") if each.changes else "—",
                "held-out accuracy": f"{each.accuracy:.4f}",
                "time": "the same run, tested again" if each.seconds is None else f"{each.seconds:.0f} s",
                "flags": flags_of(each.changes) or "—",
            }
        )
    return rows


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
