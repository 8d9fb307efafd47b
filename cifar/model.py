"""The CNN a user configures: one dataclass of choices, validation, presets, `build_model`.

The default config is the TensorFlow 2 tutorial's model: Conv2D(32, 3×3, same, relu) ×2,
MaxPool 2×2, Dropout 0.5, Flatten, Dense 128 relu, Dense 10 softmax; 1,060,138 parameters;
Adam, sparse categorical cross-entropy, batch 10, 10 epochs.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cifar.files import write_json_atomic

OPTIMIZERS = ("adam", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")
WARMUP_FRACTION = 0.1  # a cosine schedule's linear warm-up, as a share of all its steps
NUM_CLASSES = 10
MAX_EPOCHS = 500
IMAGE_SHAPE = (32, 32, 3)
CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES = 50_000, 10_000


@dataclass(frozen=True)
class ModelConfig:
    """Every choice a user can make about the network and its training."""

    # architecture
    conv_blocks: int = 1  # conv blocks, each ending in a 2×2 max-pool, 1 to 4
    filters: tuple[int, ...] = (32,)  # filters per block, 1 to 512: one value for all, or one per block
    convs_per_block: int = 2  # Conv2D layers in each block, 1 to 4
    kernel_size: int = 3  # side of each square convolution kernel in pixels, odd, 1 to 7
    dense_units: int = 128  # units of the hidden dense layer, 0 (no hidden layer) to 4096
    batch_norm: bool = False  # BatchNormalization after every convolution
    # regularisation
    dropout: float = 0.5  # fraction of activations zeroed after each conv block, 0 ≤ p < 1
    dense_dropout: float = 0.0  # fraction zeroed before the output layer, 0 ≤ p < 1
    augment: bool = False  # random horizontal flips and shifts of up to 10% while training
    # optimisation
    optimizer: str = "adam"  # adam, sgd (with Nesterov momentum 0.9) or rmsprop
    learning_rate: float = 0.001  # step size, above 0 and at most 10 (0.001 suits adam)
    lr_schedule: str = "constant"  # constant, or cosine: a 10% warm-up, then down to 0 at the last step
    batch_size: int = 10  # images per gradient step, 1 to 4096
    epochs: int = 10  # passes over the training images, 1 to 500
    # data
    train_size: int | None = None  # training images, equal per class; None = all 50,000
    seed: int = 0  # fixes initial weights, the subset and the shuffling, 0 to 2**31 - 1

    def __post_init__(self) -> None:
        # JSON and the command line hand over lists and single ints; store one tuple form.
        filters = self.filters
        if isinstance(filters, int) and not isinstance(filters, bool):
            filters = (filters,)
        if isinstance(filters, list | tuple):
            object.__setattr__(self, "filters", tuple(filters))
        validate(self)

    def block_filters(self) -> tuple[int, ...]:
        """Filters of each conv block, one value per block."""
        if len(self.filters) == 1:
            return self.filters * self.conv_blocks
        return self.filters

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["filters"] = list(self.filters)
        return values

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number from {low} to {high}; got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be from {low} to {high}; got {value}")


def _check_fraction(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number at least 0 and below 1; got {value!r}")
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be at least 0 and below 1; got {value}")


def validate(config: ModelConfig) -> None:
    """Raise ValueError naming the first field that is out of range, and what is allowed."""
    _check_int("conv_blocks", config.conv_blocks, 1, 4)
    filters = config.filters
    if not isinstance(filters, tuple) or not filters:
        raise ValueError(f"filters must be one number or one per conv block; got {filters!r}")
    for value in filters:
        _check_int("filters", value, 1, 512)
    if len(filters) not in (1, config.conv_blocks):
        raise ValueError(
            f"filters must give one value for all blocks or one per conv block "
            f"({config.conv_blocks}); got {len(filters)} values: {list(filters)}"
        )
    _check_int("convs_per_block", config.convs_per_block, 1, 4)
    _check_int("kernel_size", config.kernel_size, 1, 7)
    if config.kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (1, 3, 5 or 7); got {config.kernel_size}")
    _check_int("dense_units", config.dense_units, 0, 4096)
    if not isinstance(config.batch_norm, bool):
        raise ValueError(f"batch_norm must be true or false; got {config.batch_norm!r}")
    _check_fraction("dropout", config.dropout)
    _check_fraction("dense_dropout", config.dense_dropout)
    if not isinstance(config.augment, bool):
        raise ValueError(f"augment must be true or false; got {config.augment!r}")
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {config.optimizer!r}")
    rate = config.learning_rate
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 10:
        raise ValueError(f"learning_rate must be above 0 and at most 10; got {rate!r}")
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {config.lr_schedule!r}")
    _check_int("batch_size", config.batch_size, 1, 4096)
    _check_int("epochs", config.epochs, 1, MAX_EPOCHS)
    if config.train_size is not None:
        _check_int("train_size", config.train_size, 10, 1_000_000)
    _check_int("seed", config.seed, 0, 2**31 - 1)


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

# Measured once each with `python -m cifar train --preset NAME --data <shared JPEG copy>` on a
# 2-core x86_64 machine with no GPU, TensorFlow 2.21; time is training plus the per-epoch
# validation on the 10,000 test images. The README's results table has the same figures.
PRESETS: dict[str, ModelConfig] = {
    # The tutorial, layer for layer: 0.683 test accuracy in the tutorial; here 0.667 in
    # 18.5 min (epoch 1: 0.585), most confused: cat, dog, bird, deer.
    "tutorial": ModelConfig(),
    # A classroom run: 6,000 images, a wider batch, two small blocks: 0.513 in 50 s
    # (64 s with start-up and data loading).
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
    # augmentation, and a learning rate that warms up, then decays to zero over 2 epochs.
    # Measured by benchmarks/bench_time_to_accuracy.py: see benchmarks/RESULTS.md.
    "fast": _THREE_BLOCKS.replace(dropout=0.0, lr_schedule="cosine", epochs=2),
    # BatchNorm, augmentation and three blocks: 0.727 in 13.5 min, against the tutorial's
    # 0.667 in 18.5 min. One conv per block: with two, training ran at 156 images/s, not 701.
    "better": _THREE_BLOCKS.replace(dropout=0.1, augment=True, epochs=10),
}


def preset(name: str) -> ModelConfig:
    """The named preset; ValueError listing the names when `name` is not one."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
    return PRESETS[name]


def config_from_dict(values: dict[str, Any]) -> ModelConfig:
    """A validated config from a dict; ValueError names unknown or bad fields."""
    if not isinstance(values, dict):
        raise ValueError(f"a config must be a JSON object; got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown config field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return ModelConfig(**values)


def save_config(config: ModelConfig, path: str | Path) -> None:
    """Write the config as JSON (atomically: a reader never sees half a file)."""
    write_json_atomic(Path(path), config.to_dict())


def load_config(path: str | Path) -> ModelConfig:
    """Read a config written by `save_config`."""
    return config_from_dict(json.loads(Path(path).read_text()))


def build_model(config: ModelConfig | None = None, train_images: int | None = None):
    """The Keras model for `config`, compiled, built with the Functional API.

    Input is uint8 (N, 32, 32, 3); the model scales it to [0, 1] itself, so no float copy
    of the dataset is ever made.

    Args:
        config: the network and optimiser choices.
        train_images: images in one epoch, which a learning-rate schedule spans; by default
            `config.train_size`, or all 50,000.

    Returns:
        A compiled `keras.Model` with softmax outputs over the 10 classes.
    """
    import keras
    from keras import layers

    config = config or ModelConfig()
    inputs = keras.Input(shape=IMAGE_SHAPE, dtype="uint8", name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    if config.augment:
        x = layers.RandomFlip("horizontal", seed=config.seed, name="random_flip")(x)
        x = layers.RandomTranslation(0.1, 0.1, seed=config.seed, name="random_shift")(x)
    for block, filters in enumerate(config.block_filters(), start=1):
        for conv in range(1, config.convs_per_block + 1):
            name = f"block{block}_conv{conv}"
            if config.batch_norm:
                # No bias: BatchNorm's own offset would cancel it.
                x = layers.Conv2D(filters, config.kernel_size, padding="same", use_bias=False, name=name)(x)
                x = layers.BatchNormalization(name=f"{name}_bn")(x)
                x = layers.Activation("relu", name=f"{name}_relu")(x)
            else:
                x = layers.Conv2D(filters, config.kernel_size, padding="same", activation="relu", name=name)(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
        if config.dropout:
            x = layers.Dropout(config.dropout, name=f"block{block}_dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    if config.dense_units:
        x = layers.Dense(config.dense_units, activation="relu", name="dense")(x)
    if config.dense_dropout:
        x = layers.Dropout(config.dense_dropout, name="dense_dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="class_probabilities")(x)
    model = keras.Model(inputs, outputs, name="cifar_cnn")
    model.compile(
        optimizer=make_optimizer(config, train_images),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def training_steps(config: ModelConfig, train_images: int | None = None) -> int:
    """Gradient steps over all of `config`'s epochs (the last batch of an epoch may be short)."""
    images = train_images or config.train_size or CIFAR_TRAIN_IMAGES
    return math.ceil(images / config.batch_size) * config.epochs


def learning_rate(config: ModelConfig, train_images: int | None = None):
    """The optimizer's learning rate: a number, or a Keras schedule over the run's steps."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    import keras

    steps = training_steps(config, train_images)
    warmup = int(steps * WARMUP_FRACTION)
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate / 10,
        decay_steps=max(steps - warmup, 1),
        alpha=0.0,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )


def make_optimizer(config: ModelConfig, train_images: int | None = None):
    """The Keras optimizer named by `config.optimizer`, at `config.learning_rate` and its schedule.

    `train_images` is how many images an epoch holds (a schedule spans the run's steps); by
    default `config.train_size`, or all of CIFAR-10's training set.
    """
    import keras

    rate = learning_rate(config, train_images)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate)
    return keras.optimizers.Adam(rate)


def layer_table(model) -> list[dict[str, Any]]:
    """One row per layer, like Keras' summary: layer (type), output shape, parameters."""
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape)
        rows.append(
            {
                "layer (type)": f"{layer.name} ({type(layer).__name__})",
                "output shape": "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")",
                "parameters": int(layer.count_params()),
            }
        )
    return rows


def count_parameters(model) -> dict[str, int]:
    """Trainable, non-trainable and total parameter counts of a built model."""
    import numpy as np

    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}


def describe(config: ModelConfig) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The layer table and parameter counts of the model `config` builds (Keras, no training).

    No `keras.backend.clear_session()` afterwards: it resets Keras for the whole process, and
    the dashboard's server has other sessions' models in use.
    """
    model = build_model(config)
    return layer_table(model), count_parameters(model)
