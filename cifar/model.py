"""The CNN a user configures: the table of its fields, the config they make, and presets.

`FIELDS` is the one place a setting is described: type, default, bounds or choices, unit,
label, help, group and axis title. Validation, the command line's flags, the Train page's
widgets and the Runs page's columns and axes are all made from it (cifar/fields.py says how).
A new setting is one entry here plus its use in cifar/network.py or the trainer.

The default config is the TensorFlow 2 tutorial's model: Conv2D(32, 3×3, same, relu) ×2,
MaxPool 2×2, Dropout 0.5, Flatten, Dense 128 relu, Dense 10 softmax; 1,060,138 parameters;
Adam, sparse categorical cross-entropy, batch 10, 10 epochs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cifar.errors import ConfigError
from cifar.fields import Bool, Choice, Field, Float, Int, OptionalInt, PerBlock
from cifar.files import write_json_atomic

NUM_CLASSES = 10
MAX_EPOCHS = 500
IMAGE_SHAPE = (32, 32, 3)
CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES = 50_000, 10_000
ARCHITECTURE, REGULARISATION, OPTIMISATION, DATA = "Architecture", "Regularisation", "Optimisation", "Data"


def _table(*fields: Field) -> dict[str, Field]:
    return {field.name: field for field in fields}


FIELDS: dict[str, Field] = _table(
    Int(name="conv_blocks", default=1, low=1, high=4, label="Conv blocks", group=ARCHITECTURE, axis="blocks",
        widget="slider", rank=6, help="How many conv blocks the network stacks; each ends in a 2×2 max-pool."),
    PerBlock(name="filters", default=(32,), low=1, high=512, count_field="conv_blocks", label="Filters",
             group=ARCHITECTURE, axis="filters", rank=5, options=(4, 8, 16, 32, 64, 128, 256),
             help="Filters (feature detectors) of each block's convolutions."),
    Int(name="convs_per_block", default=2, low=1, high=4, label="Convolutions per block", group=ARCHITECTURE,
        axis="convs/block", widget="slider", rank=13, help="Conv2D layers in each block, one after another."),
    Int(name="kernel_size", default=3, low=1, high=7, choices=(1, 3, 5, 7), unit="pixels",
        label="Kernel size (pixels)", group=ARCHITECTURE, axis="kernel", widget="select_slider",
        options=(1, 3, 5, 7), rank=14, help="Side of each square convolution kernel; odd, so it has a centre."),
    Int(name="dense_units", default=128, low=0, high=4096, label="Dense units (0: none)", group=ARCHITECTURE,
        axis="dense", widget="select_slider", options=(0, 16, 32, 64, 128, 256, 512, 1024), rank=7,
        help="Units of the hidden dense layer before the output; 0 leaves it out."),
    Bool(name="early_pool", default=False, label="Pool after the first convolution", group=ARCHITECTURE,
         axis="early pool", rank=17, help="Max-pools right after each block's first convolution instead of at its "
         "end, so the block's later convolutions run on a quarter of the pixels (airbench's layout)."),
    Bool(name="residual", default=False, label="Residual (skip) connections", group=ARCHITECTURE,
         axis="residual", rank=18, needs=("convs_per_block", 2),
         help="Adds the output of each block's first convolution to that of its last, "
         "so the signal and its gradient also pass the later convolutions unchanged; needs 2 or more a block."),
    Choice(name="head", default="flatten", choices=("flatten", "average", "max"), label="From feature maps to "
           "classes", group=ARCHITECTURE, axis="head", rank=19, help="flatten: every position of the last maps "
           "in one long vector (the tutorial's); average or max: one value per filter over the whole image "
           "(global pooling), with far fewer weights after it."),
    Bool(name="batch_norm", default=False, label="BatchNorm after every convolution", group=ARCHITECTURE,
         axis="BatchNorm", rank=8, help="Normalises each convolution's output over the batch, which steadies "
         "training and allows a higher learning rate."),
    Float(name="dropout", default=0.5, low=0, high=1, high_open=True, slider_high=0.9, widget="slider",
          label="Dropout after each block", group=REGULARISATION, axis="dropout", rank=4,
          help="Fraction of activations zeroed at random after each conv block while training."),
    Float(name="dense_dropout", default=0.0, low=0, high=1, high_open=True, slider_high=0.9, widget="slider",
          label="Dropout before the output", group=REGULARISATION, axis="dense drop.", rank=15,
          help="Fraction of the last hidden features zeroed at random while training."),
    Float(name="label_smoothing", default=0.0, low=0, high=0.3, widget="slider", label="Label smoothing",
          group=REGULARISATION, axis="smoothing", rank=16, help="Trains towards 1 − s for the true class and "
          "shares s among all ten, so the model is less sure of itself; the test loss stays the plain one."),
    Float(name="weight_decay", default=0.0, low=0, high=0.1, widget="select_slider",
          options=(0.0, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05), label="Weight decay", group=REGULARISATION,
          axis="w. decay", rank=20, help="Shrinks every weight towards zero by this share of the learning rate at "
          "each step (decoupled: AdamW with adam), so no weight grows large unless the data keeps asking for it."),
    Bool(name="augment", default=False, label="Augmentation: random flips and shifts", group=REGULARISATION,
         axis="augment", rank=9, help="Flips each training image left-right at random and shifts it by up to "
         "10%, so the network sees a new variant every epoch."),
    Bool(name="test_time_flip", default=False, label="Test-time flip", group=REGULARISATION, axis="test flip",
         rank=21, help="Tests each image as it is and mirrored left to right and averages the two answers: "
         "twice the testing time, and often a point more accuracy."),
    Choice(name="optimizer", default="adam", choices=("adam", "sgd", "rmsprop"), label="Optimizer",
           group=OPTIMISATION, axis="optimizer", rank=12,
           help="adam, sgd (with Nesterov momentum 0.9) or rmsprop."),
    Float(name="learning_rate", default=0.001, low=0, high=10, low_open=True, widget="select_slider",
          options=(0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 1.0, 10.0), log_scale=True,
          label="Learning rate", group=OPTIMISATION, axis="learn. rate", rank=1,
          help="Step size of each update: 0.001 suits adam; 10 makes training diverge."),
    Choice(name="lr_schedule", default="constant", choices=("constant", "cosine"), label="Learning-rate schedule",
           group=OPTIMISATION, axis="schedule", rank=2, help="constant: the same rate throughout. cosine: a "
           "10% warm-up to the rate, then down to zero at the last step, which settles the weights in few epochs."),
    Bool(name="mixed_precision", default=False, label="Mixed precision", group=OPTIMISATION, axis="mixed prec.",
         rank=22, help="Computes in 16-bit floats (bfloat16 on a CPU with AVX512_BF16 or AMX, float16 on a GPU) "
         "and keeps the weights in 32 bits; where the machine has neither, training says so and uses 32 bits."),
    Int(name="batch_size", default=10, low=1, high=4096, unit="images", label="Batch size", group=OPTIMISATION,
        axis="batch", widget="select_slider", options=(8, 10, 16, 32, 64, 128, 256), rank=3,
        help="Images per gradient step."),
    Int(name="epochs", default=10, low=1, high=MAX_EPOCHS, label="Epochs", group=OPTIMISATION, axis="epochs",
        rank=10, help="Passes over the training images, each followed by a test on the 10,000 test images."),
    OptionalInt(name="train_size", default=None, low=10, high=1_000_000, unit="images",
                label="Training images (equal per class)", group=DATA, axis="images", widget="select_slider",
                options=(500, 1000, 2000, 6000, 10000, 20000), rank=11, number_format="localized",
                help="Training images, the same number from each class; all: every one of the 50,000."),
    Int(name="seed", default=0, low=0, high=2**31 - 1, label="Seed", group=DATA, axis="seed", rank=99,
        help="Fixes the initial weights, the subset and the shuffling: the same seed gives the same run."),
)  # fmt: skip


class ModelConfig:
    """Every choice a user can make about the network and its training: one value per field of
    `FIELDS`, read as attributes (`config.dropout`). Immutable, hashable and validated.

    Raises:
        ConfigError: an unknown field, or a value its field does not allow.
    """

    __slots__ = ("_values",)

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}; known: {', '.join(sorted(FIELDS))}")
        resolved = {name: field.normalize(values.get(name, field.default)) for name, field in FIELDS.items()}
        object.__setattr__(self, "_values", resolved)
        validate(resolved)

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        if name in FIELDS:  # a field added to the table after this config was made
            return FIELDS[name].default
        raise AttributeError(f"ModelConfig has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a ModelConfig does not change; make another with replace(...)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelConfig) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        return "ModelConfig(" + ", ".join(f"{name}={value!r}" for name, value in self._values.items()) + ")"

    def __reduce__(self) -> tuple:
        return config_from_dict, (self.to_dict(),)

    def block_filters(self) -> tuple[int, ...]:
        """Filters of each conv block, one value per block."""
        return FIELDS["filters"].per_block(self.filters, self.conv_blocks)

    def to_dict(self) -> dict[str, Any]:
        return {name: field.to_json(getattr(self, name)) for name, field in FIELDS.items()}

    def replace(self, **changes: Any) -> ModelConfig:
        return ModelConfig(**{**self.to_dict(), **changes})


def validate(values: dict[str, Any]) -> None:
    """Raise ConfigError naming the first field whose value is not allowed, and what is."""
    for field in FIELDS.values():
        field.check(values[field.name])
    for field in FIELDS.values():
        field.check_with(values)


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

# What each preset reached, and in what time, is in the README's results table (training plus
# the per-epoch validation, measured with `python -m cifar train --preset NAME`).
PRESETS: dict[str, ModelConfig] = {
    # The tutorial, layer for layer.
    "tutorial": ModelConfig(),
    # A classroom run of about a minute: 6,000 images, a wider batch, two small blocks.
    "quick": ModelConfig(
        conv_blocks=2,
        filters=(32, 64),
        convs_per_block=1,
        dense_units=64,
        dropout=0.25,
        batch_size=32,
        epochs=6,
        train_size=6000,
    ),
    # The tutorial's accuracy in a fraction of its time: `better`'s network without dropout or
    # augmentation, and a learning rate that warms up, then decays to zero over 2 epochs
    # (benchmarks/bench_time_to_accuracy.py).
    "fast": _THREE_BLOCKS.replace(dropout=0.0, lr_schedule="cosine", epochs=2),
    # BatchNorm, augmentation and three blocks of one convolution each: two convolutions a
    # block train at a quarter of the speed here.
    "better": _THREE_BLOCKS.replace(dropout=0.1, augment=True, epochs=10),
    # 0.80 in less time than the tutorial's 10 epochs (benchmarks/bench_best.py): airbench's
    # layout, pooling after each block's first convolution, on a CPU that computes in bfloat16.
    # RESULTS.md has what each technique buys (a skip connection did not earn its place).
    "best": ModelConfig(
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
    ),
}
PRESET_NOTES = {
    "tutorial": "the TensorFlow tutorial's model",
    "quick": "about a minute",
    "fast": "the tutorial's accuracy in about 2½ minutes",
    "better": "BatchNorm and augmentation",
    "best": "0.80 in less time than the tutorial",
}


def preset(name: str) -> ModelConfig:
    """The named preset.

    Raises:
        ConfigError: `name` is not a preset; the message lists them.
    """
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
    return PRESETS[name]


def changed_fields(config: ModelConfig, preset_name: str) -> list[str]:
    """The fields whose values in `config` differ from the preset's, in table order."""
    base = preset(preset_name)
    return [name for name in FIELDS if getattr(config, name) != getattr(base, name)]


def nearest_preset(config: ModelConfig) -> tuple[str, list[str]]:
    """The preset `config` differs from in the fewest fields (the first such, in preset order),
    and those fields."""
    name = min(PRESETS, key=lambda candidate: len(changed_fields(config, candidate)))
    return name, changed_fields(config, name)


def config_from_dict(values: dict[str, Any]) -> ModelConfig:
    """A validated config from a dict, as JSON holds it; a missing field takes its default.

    Raises:
        ConfigError: not a dict, an unknown field, or a value its field does not allow.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"a config must be a JSON object; got {type(values).__name__}")
    return ModelConfig(**values)


def save_config(config: ModelConfig, path: str | Path) -> None:
    """Write the config as JSON (atomically: a reader never sees half a file)."""
    write_json_atomic(Path(path), config.to_dict())


def load_config(path: str | Path) -> ModelConfig:
    """Read a config written by `save_config`.

    Raises:
        ConfigError: the file is not a valid config; OSError: it cannot be read.
    """
    try:
        values = json.loads(Path(path).read_text())
    except ValueError as error:
        raise ConfigError(f"{path} is not valid JSON ({error}).") from error
    return config_from_dict(values)
