"""The Keras side of the training process (cifar/training/fit.py), in this process: the input
pipeline that gives every image once an epoch in a new order, tensors over the arrays' own
memory, `train` on the synthetic batches in a prepared run folder, and how a stop is worded."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import TINY
from synthetic import make_images

from cifar.data import evaluation_set, load_dataset, stratified_subset
from cifar.errors import TrainingFailed
from cifar.launch.launcher import prepare_run
from cifar.network import devices
from cifar.network.build import probabilities_as_tested
from cifar.network.whitening import whitening_weights
from cifar.runs.control import add_request
from cifar.runs.layout import RunFiles
from cifar.runs.owner import ALONE
from cifar.runs.run import Run, images_tested_on
from cifar.runs.status import read_status, write_status
from cifar.runs.writer import RunWriter
from cifar.training import fit
from cifar.training.fit import shared_tensor, shifted, stopped_message, train, training_batches
from cifar.training.recorder import Recorder

# TINY by hand: a 3×3 convolution from 3 to 8 channels, 16·16·8 pooled features to 16 units, 10 classes.
TINY_PARAMETERS = (3 * 3 * 3 * 8 + 8) + (16 * 16 * 8 + 1) * 16 + (16 + 1) * 10
SMALL = TINY.replace(train_size=40)  # two batches of 20 an epoch, four of each class


def test_shared_tensor_uses_the_arrays_memory_and_survives_any_alignment():
    images = np.zeros((1 + 64, 32, 32, 3), np.uint8)[1:]  # a view 3,072 bytes in: maybe aligned
    unaligned = np.zeros(1001, np.uint8)[1:]  # one byte in: never aligned, TensorFlow would abort
    for array in (images, unaligned):
        tensor = shared_tensor(array)
        assert tuple(tensor.shape) == array.shape and tensor.dtype.name == "uint8"
    from cifar.data import aligned_empty

    owned = aligned_empty((4, 3), np.uint8)
    owned[:] = 7
    tensor = shared_tensor(owned)
    owned[0, 0] = 9  # never done by the trainer: here it shows that no copy was made
    assert int(tensor[0, 0]) == 9 and int(tensor[1, 1]) == 7


def test_a_shared_tensor_of_an_unaligned_array_holds_its_values():
    unaligned = np.arange(1001, dtype=np.uint8)[1:]
    np.testing.assert_array_equal(shared_tensor(unaligned).numpy(), unaligned)


def test_training_batches_visit_every_image_once_an_epoch_in_a_new_order():
    """One pipeline for the whole run (not one per epoch, whose start copies the training set):
    every epoch is a new permutation, its last batch short, and the same seed the same order."""
    import keras

    images = np.arange(10 * 2, dtype=np.uint8).reshape(10, 2)
    labels = np.arange(10, dtype=np.uint8)

    def epochs(seed: int) -> list[list[list[int]]]:
        keras.utils.set_random_seed(seed)
        batches = iter(training_batches(images, labels, 4))
        return [[next(batches)[1].numpy().tolist() for _ in range(3)] for _ in range(3)]

    drawn = epochs(0)
    for epoch in drawn:
        assert [len(batch) for batch in epoch] == [4, 4, 2]
        assert sorted(index for batch in epoch for index in batch) == list(range(10))
    assert len({str(epoch) for epoch in drawn}) == 3  # a new order every epoch
    assert epochs(0) == drawn and epochs(1) != drawn
    keras.utils.set_random_seed(0)
    first = next(iter(training_batches(images, labels, 4)))
    assert (first[0].numpy() == images[first[1].numpy()]).all()  # each image with its own label


def test_each_image_keeps_its_one_hot_target_in_every_batch_of_every_epoch():
    import keras

    keras.utils.set_random_seed(5)
    count, batch_size = 103, 10
    images = np.zeros((count, 32, 32, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(count)  # each image carries its own index
    targets = np.eye(count, dtype=np.float32)  # and so does its target row
    batches = iter(training_batches(images, targets, batch_size))
    orders = []
    for _ in range(4):
        seen = []
        for _ in range(11):  # ceil(103 / 10): ten full batches and one of three
            chosen_images, chosen_targets = (tensor.numpy() for tensor in next(batches))
            assert chosen_images.shape[1:] == (32, 32, 3) and chosen_images.dtype == np.uint8
            np.testing.assert_array_equal(chosen_images[:, 0, 0, 0], chosen_targets.argmax(axis=1))
            seen.extend(chosen_images[:, 0, 0, 0].tolist())
        assert sorted(seen) == list(range(count))
        orders.append(seen)
    assert len({tuple(order) for order in orders}) == 4


def _marked(count: int) -> np.ndarray:
    """Images that say which they are (a 4×4 mark of their number plus one in the middle) and
    which way round they are (the left half dark, the right half bright)."""
    images = np.zeros((count, 32, 32, 3), np.uint8)
    images[:, :, 16:] = 200
    images[:, 14:18, 14:18, 1] = np.arange(1, count + 1)[:, None, None]
    return images


def test_alternating_flips_mirror_each_image_in_every_other_epoch_and_shift_it_at_most_two_pixels():
    import keras

    keras.utils.set_random_seed(2)
    count = 40
    images = _marked(count)
    batches = iter(training_batches(images, np.arange(count), 8, alternating_flip=True))
    mirrored, corners = [], set()
    for _ in range(4):
        flipped = {}
        for _ in range(5):
            batch, labels = (tensor.numpy() for tensor in next(batches))
            for image, label in zip(batch, labels, strict=True):
                flipped[int(label)] = image[16, 0, 0] > image[16, 31, 0]  # bright on the left: mirrored
                rows, columns = np.nonzero(image[:, :, 1] == label + 1)
                corners.add((int(rows.min()), int(columns.min())))
        mirrored.append(np.array([flipped[index] for index in range(count)]))
    assert all((mirrored[k] != mirrored[k + 1]).all() for k in range(3))  # in turn, every image
    assert 0 < mirrored[0].sum() < count  # which epochs: drawn for each image
    assert {row for row, _ in corners} == set(range(12, 17)) and {col for _, col in corners} == set(range(12, 17))
    keras.utils.set_random_seed(3)  # a continued run is seeded anew: the flips still go on in turn
    continued = iter(training_batches(images, np.arange(count), 8, alternating_flip=True, first_epoch=1))
    batch, labels = (tensor.numpy() for tensor in next(continued))
    assert [image[16, 0, 0] > image[16, 31, 0] for image in batch] == [mirrored[1][label] for label in labels]


def test_a_shift_moves_each_image_by_at_most_the_pixels_asked_and_reflects_the_edge():
    import tensorflow as tf

    tf.random.set_seed(4)
    images = np.arange(5 * 6 * 6 * 1, dtype=np.int32).reshape(5, 6, 6, 1)
    moved = shifted(tf.constant(images), 2).numpy()
    padded = np.pad(images, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect")
    offsets = set()
    for image, source in zip(moved, padded, strict=True):
        found = [(y, x) for y in range(5) for x in range(5) if np.array_equal(source[y : y + 6, x : x + 6], image)]
        assert found, "each result is a 6×6 window of the reflected image"
        offsets.add(found[0])
    assert len(offsets) > 1  # each image its own shift


def _prepared(tmp_path, batches_dir, config=SMALL):
    run_dir = prepare_run(config, tmp_path / "runs", data=batches_dir, person=ALONE)
    return run_dir, RunWriter(run_dir)


def test_train_fits_every_epoch_and_says_what_it_trained_on(tmp_path, batches_dir):
    run_dir, writer = _prepared(tmp_path, batches_dir)
    assert train(run_dir, writer, lambda: False) is None
    writer.close()
    run = Run(run_dir)
    assert run.history()["epoch"] == [1, 2]
    start = run.start_event()
    expected = {"epochs": 2, "start_epoch": 0, "steps": 2, "batch_size": 20, "train_images": 40, "test_images": 100}
    assert {key: start[key] for key in expected} == expected
    assert start["parameters"] == TINY_PARAMETERS
    status = read_status(RunFiles(run_dir).status)
    assert (status.data.train_images, status.data.test_images) == (40, 100)
    assert status.machine == devices.machine() and status.precision == "float32"
    _, test_labels = make_images(100, seed=2)  # what synthetic.write_batches wrote as the test set
    np.testing.assert_array_equal(run.labels(), test_labels)
    # The last epoch's test accuracy is the saved model's on the test set, scored here.
    data = load_dataset(str(batches_dir))
    predicted = run.load_model().predict(data.x_test, verbose=0).argmax(axis=1)
    assert run.history()["val_accuracy"][-1] == pytest.approx(np.mean(predicted == data.y_test), abs=1e-6)


def test_a_run_that_holds_images_out_is_tested_on_them_and_never_on_the_test_set(tmp_path, batches_dir, monkeypatch):
    data = load_dataset(str(batches_dir))
    held_images, held_labels = evaluation_set(data, 50)
    trained_on = []
    batches = fit.training_batches
    monkeypatch.setattr(fit, "training_batches", lambda x, *rest: trained_on.append(x) or batches(x, *rest))
    run_dir, writer = _prepared(tmp_path, batches_dir, SMALL.replace(train_size=None, holdout=50, epochs=1))
    assert train(run_dir, writer, lambda: False) is None
    writer.close()
    run = Run(run_dir)
    everything = len(data.y_train)
    assert (run.start_event()["train_images"], run.start_event()["test_images"]) == (everything - 50, 50)
    held = {image.tobytes() for image in held_images}
    assert not held & {image.tobytes() for image in trained_on[0]}  # never trained on
    np.testing.assert_array_equal(run.labels(), held_labels)
    predicted = run.load_model().predict(held_images, verbose=0).argmax(axis=1)
    assert run.history()["val_accuracy"][-1] == pytest.approx(np.mean(predicted == held_labels), abs=1e-6)
    np.testing.assert_array_equal(images_tested_on(run, data)[0], held_images)  # what the pages show of it


def test_the_same_config_and_seed_give_the_same_losses_and_another_seed_does_not(tmp_path, batches_dir):
    def losses(config, folder: str) -> list[float]:
        run_dir, writer = _prepared(tmp_path / folder, batches_dir, config)
        train(run_dir, writer, lambda: False)
        writer.close()
        return Run(run_dir).history()["loss"]

    first = losses(SMALL.replace(epochs=1), "a")
    assert losses(SMALL.replace(epochs=1), "b") == first
    assert losses(SMALL.replace(epochs=1, seed=2), "c") != first


def test_a_stop_after_the_first_batch_keeps_nothing_and_says_so(tmp_path, batches_dir):
    run_dir, writer = _prepared(tmp_path, batches_dir)
    message = train(run_dir, writer, lambda: True)
    writer.close()
    assert message == "Stopped on request during epoch 1 (batch 1 of 2); no epoch had finished, so there is no model."
    assert not Run(run_dir).history() and not Run(run_dir).has_model()


def test_a_continued_run_on_other_test_data_is_refused_before_any_training(tmp_path, batches_dir):
    run_dir = prepare_run(SMALL, tmp_path / "runs", data=batches_dir, person=ALONE)
    files = RunFiles(run_dir)
    write_status(files.status, read_status(files.status).replace(start_epoch=1, resumed_from="parent-run"))
    np.save(files.labels, np.zeros(100, np.uint8))  # the parent's test labels: not these
    writer = RunWriter(run_dir)
    with pytest.raises(TrainingFailed, match=r"^Run parent-run was tested on other data than .*: continue it with"):
        train(run_dir, writer, lambda: False)
    writer.close()
    assert not files.model.exists() and Run(run_dir).start_event() is None


@pytest.mark.parametrize(
    ("stopped_at", "done", "expected"),
    [
        (None, 0, "Stopped on request; no epoch had finished, so there is no model."),
        (None, 1, "Stopped on request; the run keeps epoch 1."),
        ((3, 7), 2, "Stopped on request during epoch 3 (batch 7 of 50); the run keeps epochs 1–2."),
        ((1, 1), 0, "Stopped on request during epoch 1 (batch 1 of 50); no epoch had finished, so there is no model."),
    ],
)
def test_a_stop_is_worded_by_where_it_came_and_what_the_run_keeps(stopped_at, done, expected):
    assert stopped_message(stopped_at, 50, done) == expected


# Every technique of the `record` recipe at once, on a network small enough for 40 images.
RECORD_SMALL = SMALL.replace(
    conv_blocks=2, filters=(8, 16), convs_per_block=2, early_pool=True, head="max", dense_units=0, batch_norm=True,
    whiten=True, gelu=True, identity_init=True, frozen_bn_scale=True, bn_bias_rate=64, label_smoothing=0.2,
    alternating_flip=True, test_time_flip=True, test_time_shifts=True, optimizer="sgd", learning_rate=0.05,
    lr_schedule="triangular", weight_average=True,
)  # fmt: skip


def test_a_fit_that_goes_on_starts_from_the_trained_weights_not_the_average_keras_left(
    tmp_path, batches_dir, monkeypatch
):
    """Asked for a second epoch, the run fits again; Keras ended the first fit by putting the
    average of the weights in the model, and the second must start from the trained weights."""
    config = SMALL.replace(weight_average=True, optimizer="sgd", learning_rate=0.05, epochs=1)
    run_dir, writer = _prepared(tmp_path, batches_dir, config)
    add_request(run_dir, "epochs", 2, "Emma")
    starts, ends = [], []
    fitting, ending = keras.Model.fit, Recorder.on_epoch_end

    def noting_each_start(model, *args, **kwargs):
        averages = getattr(model.optimizer, "_model_variables_moving_average", None) or []
        starts.append(([w.numpy() for w in model.trainable_weights], [a.numpy() for a in averages]))
        return fitting(model, *args, **kwargs)

    def noting_each_end(recorder, epoch, logs=None):  # the weights trained, before the average is swapped in
        ends.append([w.numpy() for w in recorder.model.trainable_weights])
        return ending(recorder, epoch, logs)

    monkeypatch.setattr(keras.Model, "fit", noting_each_start)
    monkeypatch.setattr(Recorder, "on_epoch_end", noting_each_end)
    assert train(run_dir, writer, lambda: False) is None
    writer.close()
    assert Run(run_dir).history()["epoch"] == [1, 2] and len(starts) == 2
    weights, averages = starts[1]
    assert all(np.array_equal(w, e) for w, e in zip(weights, ends[0], strict=True))  # epoch 1's trained weights
    assert any(not np.allclose(w, a) for w, a in zip(weights, averages, strict=True))  # not the average


def test_every_record_technique_trains_end_to_end_and_the_run_opens_again(tmp_path, batches_dir):
    run_dir, writer = _prepared(tmp_path, batches_dir, RECORD_SMALL)
    assert train(run_dir, writer, lambda: False) is None
    writer.close()
    run = Run(run_dir)
    model = run.load_model()  # its faster offsets and triangular schedule open again
    data = load_dataset(batches_dir)
    x_train = data.x_train[stratified_subset(data.y_train, 40, RECORD_SMALL.seed)]
    kernel, bias = whitening_weights(x_train)  # from this run's own training images, and never trained
    assert np.allclose(model.get_layer("whiten").get_weights()[0], kernel, atol=1e-6)
    assert np.allclose(model.get_layer("whiten").get_weights()[1], bias, atol=1e-6)
    # Kept and tested: the average of the weights, not the last step's.
    averages = model.optimizer._model_variables_moving_average
    pairs = zip(model.trainable_weights, averages, strict=True)
    assert averages and all(np.allclose(weight.numpy(), average.numpy()) for weight, average in pairs)
    tested = probabilities_as_tested(lambda images: model.predict(images, verbose=0), data.x_test, RECORD_SMALL)
    assert np.allclose(run.predictions(2).astype(np.float32), tested, atol=2e-3)  # six views of each image
