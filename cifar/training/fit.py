"""The Keras side of the training process: the data, the model and `fit`, with a callback that
records every epoch in the run folder (cifar/training/recorder.py).

The training process imports this module only once it has checked that this Python has the
packages a training needs (cifar/training/process.py).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cifar.data import aligned, evaluation_set, load_dataset, stratified_subset, training_set
from cifar.errors import TrainingFailed
from cifar.network import devices
from cifar.network.build import build_model, go_on_from, training_targets
from cifar.network.schedule import rate_of
from cifar.network.whitening import set_whitening
from cifar.runs.config_file import load_config
from cifar.runs.layout import RunFiles
from cifar.runs.run import Run
from cifar.runs.status import DataInfo
from cifar.runs.writer import RunWriter
from cifar.training.recorder import Recorder
from cifar.training.steering import Steering


def shared_tensor(array: np.ndarray):
    """A TensorFlow tensor over the array's own memory (DLPack), not a copy of it.

    Handed numpy arrays, Keras' `fit` and `predict` copy them into tensors first: for the
    training set a second 150 MB. TensorFlow can only share memory that starts on a 64-byte
    boundary (it aborts otherwise), so an array that does not is copied once into one that
    does (`cifar.data.aligned`). The tensor keeps the array alive; nothing may write to the
    array afterwards.
    """
    return tf.experimental.dlpack.from_dlpack(aligned(array).__dlpack__())


SHIFT_PIXELS = 2  # the alternating flip's shifts: up to this many pixels each way (airbench's)


def training_batches(
    x_train: np.ndarray,
    targets: np.ndarray,
    batch_size: int,
    alternating_flip: bool = False,
    first_epoch: int = 0,
    seed: int = 0,
):
    """Batches in a new random order every epoch, from one pipeline started once for the run.

    Handed arrays, Keras' `fit` builds its input pipeline over them again at every epoch, and
    starting one copies the training set: 20 to 40 s between epochs here for the 50,000 images,
    a third of a short run's time (benchmarks/RESULTS.md, section 8). This pipeline is never
    restarted: each epoch draws a permutation of the images, and each batch gathers its images
    from tensors over the arrays' own memory. Like Keras' own, the last batch of an epoch may
    be short. `fit` reads it with `steps_per_epoch` (ceil(images / batch_size)).

    With `alternating_flip`, each image is mirrored in every other epoch (odd or even, drawn
    once for each image) and shifted by up to SHIFT_PIXELS each way, the edge reflected: whole
    batches at once, in uint8. Which epochs each image is mirrored in comes from `seed` alone
    (the config's), and `first_epoch` is the epoch the pipeline starts at (a continued run's,
    or a fit started again for more epochs), so that the flips go on alternating.
    """
    images, labels = shared_tensor(x_train), shared_tensor(targets)
    count = len(x_train)
    # Each image's flip epochs, odd or even: from the config's seed alone, so a continued run
    # (seeded anew) flips each image as its parent did; Keras' random state is left as it was.
    parity = tf.constant(np.random.default_rng(seed).integers(0, 2, count), tf.int64) if alternating_flip else None

    def epoch(number):
        order = tf.random.shuffle(tf.range(count, dtype=tf.int64))  # seeded by keras.utils.set_random_seed
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        return batches.map(lambda chosen: (chosen, number))

    def gather(chosen, number):
        batch = tf.gather(images, chosen)
        if alternating_flip:
            flip = tf.equal((tf.gather(parity, chosen) + number) % 2, 1)
            batch = shifted(tf.where(flip[:, None, None, None], tf.reverse(batch, axis=[2]), batch), SHIFT_PIXELS)
        return batch, tf.gather(labels, chosen)

    return tf.data.Dataset.range(first_epoch, 2**62).flat_map(epoch).map(gather).prefetch(2)


def shifted(batch, pixels: int):
    """Each image of `batch` (N, H, W, C) moved by a random whole number of pixels from
    −`pixels` to `pixels` along each side, the edge reflected into the gap."""
    size, height, width = tf.shape(batch)[0], tf.shape(batch)[1], tf.shape(batch)[2]
    padded = tf.pad(batch, [[0, 0], [pixels, pixels], [pixels, pixels], [0, 0]], mode="REFLECT")
    rows = tf.random.uniform([size, 1], 0, 2 * pixels + 1, dtype=tf.int32) + tf.range(height)[None]
    columns = tf.random.uniform([size, 1], 0, 2 * pixels + 1, dtype=tf.int32) + tf.range(width)[None]
    return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), columns, axis=2, batch_dims=1)


def _training_data(run_dir: Path, writer: RunWriter, config):
    """The training images and labels the config asks for, and the test set; labels saved."""
    dataset = load_dataset(writer.status.data_path)
    # With images held out, they are what each epoch is tested on: the test set is left unseen.
    x_train, y_train = training_set(dataset, config.holdout)
    x_test, y_test = evaluation_set(dataset, config.holdout)
    if config.train_size is not None and config.train_size < len(y_train):
        chosen = stratified_subset(y_train, config.train_size, config.seed)
        x_train, y_train = x_train[chosen], y_train[chosen]
    if writer.status.start_epoch:
        earlier = Run(run_dir).labels()
        if len(earlier) != len(y_test) or not np.array_equal(earlier, y_test):
            raise TrainingFailed(
                f"Run {writer.status.resumed_from} was tested on other data than {dataset.source}: "
                "continue it with the dataset it was trained on."
            )
    writer.save_labels(y_test)
    writer.set_status(data=DataInfo(dataset.source, tuple(dataset.class_names), len(y_train), len(y_test)))
    return x_train, y_train, x_test, y_test


def train(run_dir: Path, writer: RunWriter, should_stop: Callable[[], bool]) -> str | None:
    """Fit the run's model, recording every epoch; `should_stop` is asked after every batch.

    Returns:
        None when every epoch finished; how the run stopped and what it keeps, in words, when a
        stop came first.
    """
    config = load_config(RunFiles(run_dir).config)
    start_epoch = writer.status.start_epoch
    precision = _precision(writer, config)
    # The same config and seed on the same machine give the same losses (the README says
    # where that ends); a continued run shuffles and augments unlike its parent's first epochs.
    keras.utils.set_random_seed(config.seed + start_epoch)
    x_train, y_train, x_test, y_test = _training_data(run_dir, writer, config)
    model = _model(run_dir, config, x_train, start_epoch, precision.policy)
    steps = math.ceil(len(y_train) / config.batch_size)
    writer.event(
        "start",
        epochs=config.epochs,
        start_epoch=start_epoch,
        steps=steps,
        batch_size=config.batch_size,
        train_images=len(y_train),
        test_images=len(y_test),
        parameters=int(model.count_params()),
    )
    steering = Steering(writer, rate_of(model), steps, config.epochs, should_stop)
    recorder = Recorder(writer, shared_tensor(x_test), y_test, steps, config, should_stop, steering)
    targets = training_targets(config, y_train)
    # Asked for more epochs while it trains, a run fits again from where it is: Keras fixes an
    # epoch count for each `fit`. Fewer end it at the recorder's epoch end.
    while True:
        before = writer.history["epoch"][-1] if writer.history["epoch"] else start_epoch
        # A pipeline for each fit, counting its epochs from where this one starts (Keras starts
        # a new iterator over it at every fit).
        batches = training_batches(x_train, targets, config.batch_size, config.alternating_flip, before, config.seed)
        go_on_from(model, recorder.trained_weights)
        model.fit(
            batches,
            steps_per_epoch=steps,
            epochs=steering.epochs,
            initial_epoch=before,
            shuffle=False,  # training_batches draws each epoch's order itself; Keras warns of its own shuffle
            verbose=0,
            callbacks=[recorder],
        )
        ended = recorder.stopped_at is not None or steering.ended or should_stop()
        done = writer.history["epoch"][-1] if writer.history["epoch"] else start_epoch
        if ended or done >= steering.epochs or done == before:
            break
    done = len(writer.history["epoch"])
    if done >= steering.epochs and recorder.stopped_at is None:
        return None  # every epoch it was to train is done, whatever came at the end
    if steering.ended:
        return steering.ended
    if recorder.stopped_at is not None or (should_stop() and done < steering.epochs):
        return stopped_message(recorder.stopped_at, steps, done)
    return None


def _precision(writer: RunWriter, config) -> devices.Precision:
    """The precision this machine trains `config` in, written in the status (and said, when
    it is not the one asked for)."""
    precision = devices.compute_precision(config)
    writer.set_status(machine=devices.machine(), precision=precision.policy, notice=precision.notice)
    if precision.notice:
        print(precision.notice, file=sys.stderr)
    return precision


def _model(run_dir: Path, config, x_train: np.ndarray, start_epoch: int, policy: str):
    """The model to train: a new one (its whitening filters from these training images), or a
    continued run's, with weights and optimizer state (Adam's moments, the step count) as its
    parent left them."""
    with devices.distribution().scope():  # two or more GPUs: a copy of the model on each
        if start_epoch:
            return Run(run_dir).load_model()
        model = build_model(config, len(x_train), policy)
    if config.whiten:
        set_whitening(model, x_train)
    return model


def stopped_message(stopped_at: tuple[int, int] | None, steps: int, done: int) -> str:
    """How a stopped run ended and what it keeps, in words."""
    where = ""
    if stopped_at is not None:
        epoch, batch = stopped_at
        where = f" during epoch {epoch} (batch {batch} of {steps})"
    if done > 1:
        kept = f"the run keeps epochs 1–{done}"
    else:
        kept = "the run keeps epoch 1" if done else "no epoch had finished, so there is no model"
    return f"Stopped on request{where}; {kept}."
