"""The network a config describes: the Keras model, its optimizer, loss and schedule.

`build_model` makes the model, and `augmentation_preview` shows what its augmentation layers
(`augmentation_layers`, the same code) make of some training images. What the model holds and
costs, counted without building it, is in size.py.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from cifar.config.settings import CIFAR_TRAIN_IMAGES, IMAGE_SHAPE, NUM_CLASSES, ModelConfig
from cifar.network.devices import compute_precision
from cifar.network.whitening import CHANNELS as WHITENED
from cifar.network.whitening import PATCH

# The layer that turns the last block's maps into one vector, for each `head`.
HEADS = {"flatten": "Flatten", "average": "GlobalAveragePooling2D", "max": "GlobalMaxPooling2D"}
WARMUP_FRACTION = 0.1  # a cosine schedule's linear warm-up, as a share of all its steps
EMA_MOMENTUM = 0.99  # the weight average's: each step's weights count 1%, a run's last ~100 steps most
TRIANGLE_PEAK = 0.23  # where a triangular schedule peaks, as a share of all its steps (airbench's)
# Test images per forward pass when validating: as fast as 500 here, and its activations
# (tens of MB) keep the training process's peak memory down.
VALIDATION_BATCH_SIZE = 200


def build_model(config: ModelConfig | None = None, train_images: int | None = None, precision: str | None = None):
    """The Keras model for `config`, compiled, built with the Functional API.

    Input is uint8 (N, 32, 32, 3); the model scales it to [0, 1] itself, so no float copy
    of the dataset is ever made.

    Args:
        config: the network and optimiser choices.
        train_images: images in one epoch, which a learning-rate schedule spans; by default
            `config.train_size`, or all 50,000.
        precision: the Keras dtype policy of the layers ("float32", "mixed_bfloat16" or
            "mixed_float16"); by default what `compute_precision` finds for this machine.

    Returns:
        A compiled `keras.Model` with softmax outputs over the 10 classes.
    """
    import keras
    from keras import layers

    config = config or ModelConfig()
    dtype = precision if precision is not None else compute_precision(config).policy
    inputs = keras.Input(shape=IMAGE_SHAPE, dtype="uint8", name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    for layer in augmentation_layers(config):
        x = layer(x)
    if config.whiten:  # its filters come from the training images (whitening.set_whitening)
        # In 32 bits whatever the precision: it multiplies the small differences between nearby
        # pixels by up to 45, and bfloat16 keeps a pixel to 1 part in 256. A 2×2 layer: cheap.
        x = layers.Conv2D(WHITENED, PATCH, padding="valid", name="whiten", trainable=False, dtype="float32")(x)
        x = layers.Activation(_activation(config), name="whiten_act", dtype="float32")(x)
    for block, filters in enumerate(config.block_filters(), start=1):
        x = _conv_block(x, config, block, filters, dtype)
    head = config.head if config.head == "flatten" else f"global_{config.head}"
    x = getattr(layers, HEADS[config.head])(name=head, dtype=dtype)(x)
    if config.dense_units:
        x = layers.Dense(config.dense_units, activation="relu", name="dense", dtype=dtype)(x)
    if config.dense_dropout:
        x = layers.Dropout(config.dense_dropout, name="dense_dropout", dtype=dtype)(x)
    # Probabilities in 32 bits whatever the precision inside: a sum to 1 that bfloat16 cannot keep.
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="class_probabilities", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="cifar_cnn")
    if config.identity_init:
        start_as_identity(model)
    model.compile(optimizer=make_optimizer(config, train_images), loss=make_loss(config), metrics=["accuracy"])
    return model


def augmentation_layers(config: ModelConfig, seed: int | None = None) -> list:
    """The random layers that vary each training image, in the order the model applies them.

    They act only in training, on images already scaled to [0, 1].

    Args:
        config: the network choices; without augmentation there are no layers.
        seed: seeds the layers' random draws; by default `config.seed`, as the model's.

    Returns:
        A list of new Keras layers, empty when `config` has no augmentation.
    """
    if not config.augment:
        return []
    from keras import layers

    seed = config.seed if seed is None else seed
    return [
        layers.RandomFlip("horizontal", seed=seed, name="random_flip"),
        # Up to 10% of the side each way, filled in by reflecting the image at its edge.
        layers.RandomTranslation(0.1, 0.1, seed=seed, name="random_shift"),
    ]


def augmentation_preview(config: ModelConfig, images: np.ndarray, draws: int = 3, seed: int = 0) -> np.ndarray | None:
    """`draws` random augmentations of each image, made by the model's own augmentation layers.

    Each image is scaled to [0, 1] as the model's input layer does, passed through
    `augmentation_layers` in training mode, and turned back into 8-bit pixels. Only those
    layers are made, not the model: a handful of images take milliseconds.

    Args:
        config: the network choices.
        images: uint8 (N, 32, 32, 3) training images.
        draws: augmentations of each image.
        seed: seeds the draws; the same seed gives the same augmentations.

    Returns:
        uint8 (N, draws, 32, 32, 3), or None when `config` has no augmentation.

    Raises:
        ValueError: `draws` is below 1 or `images` is not a batch of 32×32 colour images.
    """
    if draws < 1:
        raise ValueError(f"draws must be at least 1; got {draws}")
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"images must have the shape (N, {', '.join(map(str, IMAGE_SHAPE))}); got {images.shape}")
    layers = augmentation_layers(config, seed)
    if not layers:
        return None
    batch = np.repeat(images, draws, axis=0).astype(np.float32) * np.float32(1 / 255)  # as Rescaling(1 / 255)
    for layer in layers:
        batch = layer(batch, training=True)
    pixels = np.clip(np.round(np.asarray(batch) * 255), 0, 255).astype(np.uint8)
    return pixels.reshape(len(images), draws, *IMAGE_SHAPE)


def _conv_block(x, config: ModelConfig, block: int, filters: int, dtype: str):
    """Convolutions, a 2×2 max-pool at the end (or after the first, `early_pool`), a skip
    connection from the first convolution's output to the last's (`residual`), dropout."""
    from keras import layers

    pool = layers.MaxPooling2D(2, name=f"block{block}_pool", dtype=dtype)
    first = x
    for conv in range(1, config.convs_per_block + 1):
        x = _convolution(x, config, f"block{block}_conv{conv}", filters, dtype)
        if conv == 1:
            x = pool(x) if config.early_pool else x
            first = x
    if config.residual:
        x = layers.Add(name=f"block{block}_add", dtype=dtype)([first, x])
    if not config.early_pool:
        x = pool(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, name=f"block{block}_dropout", dtype=dtype)(x)
    return x


def _convolution(x, config: ModelConfig, name: str, filters: int, dtype: str):
    from keras import layers

    act = _activation(config)
    if not config.batch_norm:
        return layers.Conv2D(filters, config.kernel_size, padding="same", activation=act, name=name, dtype=dtype)(x)
    # No bias: BatchNorm's own offset would cancel it.
    x = layers.Conv2D(filters, config.kernel_size, padding="same", use_bias=False, name=name, dtype=dtype)(x)
    fast = config.bn_bias_rate > 1  # its offset then a layer of its own that learns faster
    x = layers.BatchNormalization(center=not fast, scale=not config.frozen_bn_scale, name=f"{name}_bn", dtype=dtype)(x)
    if fast:
        from cifar.network.layers import FastOffset  # Keras too, as every layer here

        x = FastOffset(config.bn_bias_rate, name=f"{name}_offset", dtype=dtype)(x)
    return layers.Activation(act, name=f"{name}_{act}", dtype=dtype)(x)


def _activation(config: ModelConfig) -> str:
    """What follows every convolution: "gelu" or "relu"."""
    return "gelu" if config.gelu else "relu"


def start_as_identity(model) -> None:
    """Set each learnt convolution's first filters to pass their own input channel through (a 1
    at the kernel's centre), as many as it has input channels; the rest keep their random start."""
    from keras import layers

    for layer in model.layers:
        if not isinstance(layer, layers.Conv2D) or not layer.trainable:
            continue
        kernel, *rest = layer.get_weights()
        size, _, inputs, filters = kernel.shape
        shared = min(inputs, filters)
        kernel[:, :, :, :shared] = 0
        kernel[size // 2, size // 2, np.arange(shared), np.arange(shared)] = 1
        layer.set_weights([kernel, *rest])


def make_loss(config: ModelConfig):
    """The training loss: cross-entropy on class indices, or on smoothed one-hot targets.

    Keras' sparse cross-entropy has no label smoothing, so a smoothed run trains on one-hot
    targets (`training_targets`).
    """
    if not config.label_smoothing:
        return "sparse_categorical_crossentropy"
    import keras

    return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)


def sparse_crossentropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of softmax outputs, clipped as Keras clips them (1e-7)."""
    picked = probabilities[np.arange(len(labels)), labels.astype(np.int64)]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))


def training_targets(config: ModelConfig, labels: np.ndarray) -> np.ndarray:
    """What `fit` compares the outputs with: the class indices, or one-hot rows when smoothing."""
    if not config.label_smoothing:
        return labels
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels.astype(np.int64)]


def probabilities_as_tested(predict: Callable[[Any], Any], images, config: ModelConfig) -> np.ndarray:
    """Class probabilities for `images` as the run is tested: `predict(images)`, averaged with
    `predict` of their mirror images where the config has a test-time flip; with test-time
    shifts too, half that and half the same pair shifted a pixel up-left and down-right (the
    edge reflected), as airbench tests.

    Args:
        predict: the model's forward pass, from uint8 images (N, 32, 32, 3) to probabilities.
        images: an array or tensor of uint8 images (N, 32, 32, 3).
        config: the run's config.
    """
    probabilities = np.asarray(predict(images), dtype=np.float32)
    if not config.test_time_flip:
        return probabilities
    import keras

    def with_mirror(batch, plain=None) -> np.ndarray:
        plain = np.asarray(predict(batch), dtype=np.float32) if plain is None else plain
        return (plain + np.asarray(predict(keras.ops.flip(batch, axis=2)), dtype=np.float32)) / 2

    probabilities = with_mirror(images, probabilities)
    if not config.test_time_shifts:
        return probabilities
    padded = keras.ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
    shifts = [with_mirror(padded[:, :-2, :-2]), with_mirror(padded[:, 2:, 2:])]
    return (probabilities + (shifts[0] + shifts[1]) / 2) / 2


def flip_accuracies(model, images, labels: np.ndarray) -> tuple[float, float]:
    """Test accuracy of `model` on `images` as they are, and with the test-time flip (each
    image's answer averaged with its mirror image's), for a run trained without the flip."""

    def predict(batch):
        return model.predict(batch, batch_size=VALIDATION_BATCH_SIZE, verbose=0)

    plain = np.asarray(predict(images), dtype=np.float32)
    import keras

    flipped = (plain + np.asarray(predict(keras.ops.flip(images, axis=2)), dtype=np.float32)) / 2
    return float(np.mean(plain.argmax(axis=1) == labels)), float(np.mean(flipped.argmax(axis=1) == labels))


def test_passes(config: ModelConfig) -> int:
    """Forward passes over the test set each epoch: two with the test-time flip, six with shifts too."""
    if not config.test_time_flip:
        return 1
    return 6 if config.test_time_shifts else 2


def tested_on_words(config: ModelConfig) -> str:
    """What each epoch of a run of `config` is tested on, in a few words."""
    return f"{config.holdout:,} held-out training images" if config.holdout else "the test set"


def how_tested(config: ModelConfig) -> str:
    """A sentence on how the run's test answers are made, where that is not the plain way."""
    held = (
        f"Tested on {config.holdout:,} training images held out from its training (a validation set), "
        "not on the test set. "
        if config.holdout
        else ""
    )
    if not config.test_time_flip:
        return held.strip()
    if config.test_time_shifts:
        return held + (
            "Each image is also seen mirrored left to right, and both shifted a pixel each way; the answers are "
            "averaged (test-time flip and shifts)."
        )
    return held + "Each image is also seen mirrored left to right and the two answers are averaged (test-time flip)."


def training_steps(config: ModelConfig, train_images: int | None = None) -> int:
    """Gradient steps over all of `config`'s epochs (the last batch of an epoch may be short)."""
    images = train_images or config.train_size or CIFAR_TRAIN_IMAGES
    return math.ceil(images / config.batch_size) * config.epochs


def learning_rate(config: ModelConfig, train_images: int | None = None):
    """The optimizer's learning rate: a schedule over the run's steps that a steered training can
    rescale and lengthen (cifar/network/schedule.py); constant, or warm-up then cosine."""
    from cifar.network.schedule import SteerableRate  # imports Keras, which this module's callers may not need

    if config.lr_schedule == "constant":
        return SteerableRate(config.learning_rate)
    steps = training_steps(config, train_images)
    if config.lr_schedule == "triangular":
        return SteerableRate(config.learning_rate, int(steps * TRIANGLE_PEAK), steps, triangular=True)
    return SteerableRate(config.learning_rate, warmup_steps=int(steps * WARMUP_FRACTION), total_steps=steps)


def continuation_refusal(config: ModelConfig) -> str | None:
    """Why a finished run of `config` gains nothing from more epochs, or None when it would."""
    if config.lr_schedule == "constant":
        return None
    end = "zero" if config.lr_schedule == "cosine" else "a small share of its peak"
    return (
        f"its {config.lr_schedule} learning-rate schedule was planned for its own {config.epochs} epochs, at "
        f"the end of which the rate is {end}: more epochs would hardly change it. Start a new run with more "
        "epochs instead."
    )


def make_optimizer(config: ModelConfig, train_images: int | None = None):
    """The Keras optimizer named by `config.optimizer`, at `config.learning_rate` and its schedule.

    `train_images` is how many images an epoch holds (a schedule spans the run's steps); by
    default `config.train_size`, or all of CIFAR-10's training set.
    """
    import keras

    rate = learning_rate(config, train_images)
    # Keras decays every weight apart from the update (decoupled), for each optimizer alike.
    decay = config.weight_decay or None
    # The average of the weights: Keras keeps it beside them and puts it in the model when a fit ends.
    average = {"use_ema": True, "ema_momentum": EMA_MOMENTUM} if config.weight_average else {}
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, weight_decay=decay, **average)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate, weight_decay=decay, **average)
    return keras.optimizers.Adam(rate, weight_decay=decay, **average)


def _trained_and_averaged(model) -> tuple[list, list]:
    """The optimizer's trained variables and its averages of them (both empty without any)."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # mixed precision wraps it
    averages = getattr(optimizer, "_model_variables_moving_average", None) if optimizer.use_ema else None
    return (optimizer._trainable_variables, averages) if averages else ([], [])


@contextlib.contextmanager
def averaged_weights(model) -> Iterator[list[np.ndarray] | None]:
    """Inside: the model holds its optimizer's average of the weights (weight_average), as it is
    tested and kept at an epoch's end; after, the weights training goes on from, which it
    yields. Without an average yet, the weights as they are, and None.

    Keras' own SwapEMAWeights callback reaches the same two lists of the optimizer; there is
    no public way to them.
    """
    variables, averages = _trained_and_averaged(model)
    if not averages:
        yield None
        return
    current = [variable.numpy() for variable in variables]
    for variable, average in zip(variables, averages, strict=True):
        variable.assign(average)
    try:
        yield current
    finally:
        for variable, value in zip(variables, current, strict=True):
            variable.assign(value)


def go_on_from(model, trained: list[np.ndarray] | None) -> None:
    """Before a fit that goes on from another: put back the weights training reached (what
    `averaged_weights` yielded last), where Keras ended that fit by putting the average in
    their place. None: nothing to put back."""
    variables, _ = _trained_and_averaged(model)
    if trained is not None and variables:
        for variable, value in zip(variables, trained, strict=True):
            variable.assign(value)


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
