"""What a user can choose about the network and its training: `ModelConfig`, and the table of
its fields that says how each is checked, parsed and shown.

`ModelConfig` is a frozen dataclass: each field's type and default, with a comment on its unit
or range. `FIELDS` describes the same fields, in the same order, with their kind
(cifar/config/fields.py): bounds or choices, unit, label, help, Train-page tab, axis title and
rank. Validation, the command line's flags, the Train page's widgets and the Runs page's
columns and axes are all made from it; a field's default is the dataclass's, said once. A new
setting is one field of `ModelConfig` and one entry of the table, here, plus its use in
cifar/network/ or the trainer. This module imports nothing of the package but the bottom.

The default config is the TensorFlow 2 tutorial's model: Conv2D(32, 3×3, same, relu) ×2,
MaxPool 2×2, Dropout 0.5, Flatten, Dense 128 relu, Dense 10 softmax; 1,060,138 parameters;
Adam, sparse categorical cross-entropy, batch 10, 10 epochs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cifar.config.fields import Bool, Choice, Field, Float, Int, OptionalInt, PerBlock
from cifar.errors import ConfigError

NUM_CLASSES = 10
MAX_EPOCHS = 500
IMAGE_SHAPE = (32, 32, 3)
CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES = 50_000, 10_000
ARCHITECTURE, REGULARISATION, OPTIMISATION, DATA = "Architecture", "Regularisation", "Optimisation", "Data"


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Every choice a user can make about the network and its training. Immutable, hashable,
    and validated when made: a value its field does not allow raises ConfigError, in words.
    Make one from JSON or a form with `config_from_dict`, which also names unknown fields."""

    conv_blocks: int = 1  # blocks of convolutions, each ending in a 2×2 max-pool; 1 to 4
    filters: tuple[int, ...] = (32,)  # filters of each block's convolutions: one for all blocks, or one each
    convs_per_block: int = 2  # Conv2D layers in each block; 1 to 4
    kernel_size: int = 3  # side of each square kernel, in pixels: 1, 3, 5 or 7
    dense_units: int = 128  # units of the hidden dense layer; 0 leaves it out
    early_pool: bool = False  # pool after each block's first convolution instead of at its end
    residual: bool = False  # add each block's first convolution's output to its last's
    head: str = "flatten"  # from feature maps to classes: flatten, average or max
    batch_norm: bool = False  # BatchNorm after every convolution
    whiten: bool = False  # a frozen first layer that whitens 2×2 patches (airbench's)
    gelu: bool = False  # GELU after every convolution instead of ReLU
    identity_init: bool = False  # convolutions start as the identity on their first channels
    frozen_bn_scale: bool = False  # BatchNorm's scale fixed at 1, only its offset learnt
    bn_bias_rate: int = 1  # BatchNorm's offsets learn this many times faster: 1, 4, 16 or 64
    dropout: float = 0.5  # fraction of activations zeroed after each block, 0 ≤ p < 1
    dense_dropout: float = 0.0  # fraction of the last hidden features zeroed, 0 ≤ p < 1
    label_smoothing: float = 0.0  # share of the target spread over all classes, 0 to 0.3
    weight_decay: float = 0.0  # decoupled decay, as a share of the learning rate, 0 to 0.1
    augment: bool = False  # random flips and shifts of the training images
    alternating_flip: bool = False  # each image mirrored every other epoch and shifted up to 2 pixels
    test_time_flip: bool = False  # test each image mirrored too and average the answers
    test_time_shifts: bool = False  # with the flip, also test each image shifted by a pixel
    optimizer: str = "adam"  # adam, sgd (Nesterov momentum 0.9) or rmsprop
    learning_rate: float = 0.001  # above 0, at most 10
    lr_schedule: str = "constant"  # constant; cosine: a 10% warm-up, then down to zero; triangular
    weight_average: bool = False  # test with an exponential moving average of the weights
    mixed_precision: bool = False  # 16-bit compute where the machine has it
    batch_size: int = 10  # images per gradient step, 1 to 4096
    epochs: int = 10  # passes over the training images, 1 to MAX_EPOCHS
    train_size: int | None = None  # training images, equal per class; None: every one
    holdout: int = 0  # training images kept out and tested on instead of the test set; 0: none
    seed: int = 0  # initial weights, subset and shuffling

    def __post_init__(self) -> None:
        for name, field in FIELDS.items():
            object.__setattr__(self, name, field.normalize(getattr(self, name)))
        validate({name: getattr(self, name) for name in FIELDS})

    def block_filters(self) -> tuple[int, ...]:
        """Filters of each conv block, one value per block."""
        return FIELDS["filters"].per_block(self.filters, self.conv_blocks)

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON holds it (lists for tuples)."""
        return {name: field.to_json(getattr(self, name)) for name, field in FIELDS.items()}

    def replace(self, **changes: Any) -> ModelConfig:
        """A config like this one with `changes`; ConfigError names an unknown field or a bad value."""
        return config_from_dict({**self.to_dict(), **changes})


def _describe(*kinds: Field) -> dict[str, Field]:
    """The table, by name: each kind with its ModelConfig field's default. A kind without a field,
    or a field without a kind, stops the import: the two are one description."""
    fields = {field.name: field for field in dataclasses.fields(ModelConfig)}
    named = [kind.name for kind in kinds]
    if named != list(fields):
        raise TypeError(f"FIELDS must describe ModelConfig's fields in order: {named} against {list(fields)}")
    return {kind.name: dataclasses.replace(kind, default=fields[kind.name].default) for kind in kinds}


FIELDS: dict[str, Field] = _describe(
    Int(name="conv_blocks", low=1, high=4, label="Conv blocks", group=ARCHITECTURE, axis="blocks",
        widget="slider", rank=6, help="How many conv blocks the network stacks; each ends in a 2×2 max-pool."),
    PerBlock(name="filters", low=1, high=512, count_field="conv_blocks", label="Filters",
             group=ARCHITECTURE, axis="filters", rank=5, options=(4, 8, 16, 32, 64, 128, 256),
             help="Filters (feature detectors) of each block's convolutions."),
    Int(name="convs_per_block", low=1, high=4, label="Convolutions per block", group=ARCHITECTURE,
        axis="convs/block", widget="slider", rank=13, help="Conv2D layers in each block, one after another."),
    Int(name="kernel_size", low=1, high=7, choices=(1, 3, 5, 7), unit="pixels",
        label="Kernel size (pixels)", group=ARCHITECTURE, axis="kernel", widget="select_slider",
        options=(1, 3, 5, 7), rank=14, help="Side of each square convolution kernel; odd, so it has a centre."),
    Int(name="dense_units", low=0, high=4096, label="Dense units (0: none)", group=ARCHITECTURE,
        axis="dense", widget="select_slider", options=(0, 16, 32, 64, 128, 256, 512, 1024), rank=7,
        help="Units of the hidden dense layer before the output; 0 leaves it out."),
    Bool(name="early_pool", label="Pool after the first convolution", group=ARCHITECTURE,
         axis="early pool", rank=17, help="Max-pools right after each block's first convolution instead of at its "
         "end, so the block's later convolutions run on a quarter of the pixels (airbench's layout)."),
    Bool(name="residual", label="Residual (skip) connections", group=ARCHITECTURE,
         axis="residual", rank=18, needs=("convs_per_block", 2),
         help="Adds the output of each block's first convolution to that of its last, "
         "so the signal and its gradient also pass the later convolutions unchanged; needs 2 or more a block."),
    Choice(name="head", choices=("flatten", "average", "max"), label="From feature maps to "
           "classes", group=ARCHITECTURE, axis="head", rank=19, help="flatten: every position of the last maps "
           "in one long vector (the tutorial's); average or max: one value per filter over the whole image "
           "(global pooling), with far fewer weights after it."),
    Bool(name="batch_norm", label="BatchNorm after every convolution", group=ARCHITECTURE,
         axis="BatchNorm", rank=8, help="Normalises each convolution's output over the batch, which steadies "
         "training and allows a higher learning rate."),
    Bool(name="whiten", label="Whitening first layer", group=ARCHITECTURE, axis="whiten", rank=23,
         help="Starts with a frozen 2×2 convolution whose filters are the training images' patch eigenvectors, so "
         "every colour and texture direction reaches the first learnt layer with the same spread (airbench's)."),
    Bool(name="gelu", label="GELU instead of ReLU", group=ARCHITECTURE, axis="GELU", rank=24,
         help="After every convolution a smooth ReLU that lets a little of the negative side through "
         "(airbench's) instead of ReLU's max(0, x), the tutorial's."),
    Bool(name="identity_init", label="Convolutions start as the identity", group=ARCHITECTURE,
         axis="identity", rank=25, help="Each convolution's first filters start by passing their input "
         "channel through unchanged (the rest at random), so a deep network starts as a shallow one."),
    Bool(name="frozen_bn_scale", label="BatchNorm without a learnt scale", group=ARCHITECTURE,
         axis="BN scale off", rank=26, needs=("batch_norm", 1), help="Keeps BatchNorm's scale at 1 and "
         "learns only its offset: one fewer thing to learn, which airbench found faster."),
    Int(name="bn_bias_rate", low=1, high=64, choices=(1, 4, 16, 64), label="BatchNorm offsets learn faster",
        group=OPTIMISATION, axis="BN bias rate", widget="select_slider", options=(1, 4, 16, 64), rank=27,
        needs=("batch_norm", 1),
        help="BatchNorm's offsets learn this many times faster than the other weights with sgd (the square "
        "root of it with adam or rmsprop): airbench's 64 lets them keep up in few steps. Needs BatchNorm."),
    Float(name="dropout", low=0, high=1, high_open=True, slider_high=0.9, widget="slider",
          label="Dropout after each block", group=REGULARISATION, axis="dropout", rank=4,
          help="Fraction of activations zeroed at random after each conv block while training."),
    Float(name="dense_dropout", low=0, high=1, high_open=True, slider_high=0.9, widget="slider",
          label="Dropout before the output", group=REGULARISATION, axis="dense drop.", rank=15,
          help="Fraction of the last hidden features zeroed at random while training."),
    Float(name="label_smoothing", low=0, high=0.3, widget="slider", label="Label smoothing",
          group=REGULARISATION, axis="smoothing", rank=16, help="Trains towards 1 − s for the true class and "
          "shares s among all ten, so the model is less sure of itself; the test loss stays the plain one."),
    Float(name="weight_decay", low=0, high=0.1, widget="select_slider",
          options=(0.0, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05), label="Weight decay", group=REGULARISATION,
          axis="w. decay", rank=20, help="Shrinks every weight towards zero by this share of the learning rate at "
          "each step (decoupled: AdamW with adam), so no weight grows large unless the data keeps asking for it."),
    Bool(name="augment", label="Augmentation: random flips and shifts", group=REGULARISATION,
         axis="augment", rank=9, help="Flips each training image left-right at random and shifts it by up to "
         "10%, so the network sees a new variant every epoch."),
    Bool(name="alternating_flip", label="Augmentation: flips in turn, 2-pixel shifts", group=REGULARISATION,
         axis="alt. flip", rank=28, excludes=("augment", "its random flips would undo the flips in turn"),
         help="Mirrors each training image every other epoch (which epochs, at random "
         "for each image) and shifts it by up to 2 pixels: every image is seen both ways in any two epochs "
         "(airbench's)."),
    Bool(name="test_time_flip", label="Test-time flip", group=REGULARISATION, axis="test flip",
         rank=21, help="Tests each image as it is and mirrored left to right and averages the two answers: "
         "twice the testing time, and often a point more accuracy."),
    Bool(name="test_time_shifts", label="Test-time shifts", group=REGULARISATION, axis="test shifts",
         rank=29, needs=("test_time_flip", 1), help="With the test-time flip, also tests each image and its mirror "
         "shifted by a pixel each way and weighs in their answers: three times the flip's testing time."),
    Choice(name="optimizer", choices=("adam", "sgd", "rmsprop"), label="Optimizer",
           group=OPTIMISATION, axis="optimizer", rank=12,
           help="adam, sgd (with Nesterov momentum 0.9) or rmsprop."),
    Float(name="learning_rate", low=0, high=10, low_open=True, widget="select_slider",
          options=(0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 1.0, 10.0), log_scale=True,
          label="Learning rate", group=OPTIMISATION, axis="learn. rate", rank=1,
          help="Step size of each update: 0.001 suits adam; 10 makes training diverge."),
    Choice(name="lr_schedule", choices=("constant", "cosine", "triangular"), label="Learning-rate schedule",
           group=OPTIMISATION, axis="schedule", rank=2, help="constant: the same rate throughout. cosine: a "
           "10% warm-up to the rate, then down to zero at the last step, which settles the weights in few epochs. "
           "triangular: from a fifth of the rate up to it at 23% of the steps, then down to 7% (airbench's)."),
    Bool(name="weight_average", label="Average of the weights", group=OPTIMISATION, axis="weight avg.",
         rank=30, help="Tests and keeps a moving average of the weights over the last steps (Keras' use_ema) "
         "rather than the weights of the last step, which a high learning rate leaves jittery."),
    Bool(name="mixed_precision", label="Mixed precision", group=OPTIMISATION, axis="mixed prec.",
         rank=22, help="Computes in 16-bit floats (bfloat16 on a CPU with AVX512_BF16 or AMX, float16 on a GPU) "
         "and keeps the weights in 32 bits; where the machine has neither, training says so and uses 32 bits."),
    Int(name="batch_size", low=1, high=4096, unit="images", label="Batch size", group=OPTIMISATION,
        axis="batch", widget="select_slider", options=(8, 10, 16, 32, 64, 128, 256), rank=3,
        help="Images per gradient step."),
    Int(name="epochs", low=1, high=MAX_EPOCHS, label="Epochs", group=OPTIMISATION, axis="epochs",
        rank=10, help="Passes over the training images, each followed by a test on the 10,000 test images."),
    OptionalInt(name="train_size", low=10, high=1_000_000, unit="images",
                label="Training images (equal per class)", group=DATA, axis="images", widget="select_slider",
                options=(500, 1000, 2000, 6000, 10000, 20000), rank=11, number_format="localized",
                help="Training images, the same number from each class; all: every one of the 50,000."),
    Int(name="holdout", low=0, high=25_000, unit="images", label="Held-out validation images", group=DATA,
        axis="held out", widget="select_slider", options=(0, 1000, 5000, 10000), rank=31,
        number_format="localized", help="Training images kept out of training (the same ones, equal per class, "
        "for every run) and tested on instead of the 10,000 test images: choose settings on these, and look at "
        "the test set only once they are chosen. 0: train on all and test on the test set."),
    Int(name="seed", low=0, high=2**31 - 1, label="Seed", group=DATA, axis="seed", rank=99,
        help="Fixes the initial weights, the subset and the shuffling: the same seed gives the same run."),
)  # fmt: skip


def validate(values: dict[str, Any]) -> None:
    """Raise ConfigError naming the first field whose value is not allowed, and what is."""
    for field in FIELDS.values():
        field.check(values[field.name])
    for field in FIELDS.values():
        field.check_with(values)


def clash(config: ModelConfig) -> str | None:
    """Why two switches of `config` do not go together (a field's `excludes`), in words; None
    when none clash. A launch refuses a clash; a saved config is read whatever it holds."""
    for field in FIELDS.values():
        if field.excludes is None or getattr(config, field.name) == field.default:
            continue
        other, why = field.excludes
        if getattr(config, other):
            return f"{field.name} and {other} cannot both be on: {why}. Turn one of them off."
    return None


def config_from_dict(values: dict[str, Any]) -> ModelConfig:
    """A validated config from a dict, as JSON or a form holds it; a missing field takes its default.

    Raises:
        ConfigError: not a dict, an unknown field, or a value its field does not allow.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"a config must be a JSON object; got {type(values).__name__}")
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)}; known: {', '.join(sorted(FIELDS))}")
    return ModelConfig(**values)
