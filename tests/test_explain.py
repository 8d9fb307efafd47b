"""Inside the network: Grad-CAM against keras.io's recipe, feature maps against Keras sub-models,
and the weights every epoch keeps. Whether the maps are true to the network: test_faithfulness.py."""

from __future__ import annotations

import itertools
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import wait_for_end

from cifar.config.settings import ModelConfig
from cifar.errors import CifarError, RunError
from cifar.launch import launcher
from cifar.network.build import build_model
from cifar.runs.owner import ALONE
from cifar.runs.run import open_run_dir
from cifar.study.explain import Filters, Inspector, colour, feature_grid, filter_tiles, open_epoch, overlay

PLAIN = ModelConfig(conv_blocks=2, filters=(6, 8), convs_per_block=2, dense_units=12, dropout=0.0)
NORMED = ModelConfig(conv_blocks=3, filters=(4, 8, 8), convs_per_block=1, batch_norm=True, dense_units=0, dropout=0.0)
IMAGES = np.random.default_rng(7).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)


def _model(config: ModelConfig, seed: int = 3):
    keras.utils.set_random_seed(seed)
    model = build_model(config)
    # BatchNorm's moving statistics away from 0 and 1, so that inference mode is really tested.
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.moving_mean.assign(np.linspace(-0.2, 0.3, layer.moving_mean.shape[0]))
            layer.moving_variance.assign(np.linspace(0.5, 2.0, layer.moving_variance.shape[0]))
    return model


def keras_io_grad_cam(model, image: np.ndarray, layer: str, class_index: int) -> np.ndarray:
    """keras.io's "Grad-CAM class activation visualization", step by step, on a copy of the model."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.layers[-1].activation = None  # the recipe removes the last layer's softmax
    grad_model = keras.models.Model(copy.input, [copy.get_layer(layer).output, copy.output])
    with tf.GradientTape() as tape:
        last_conv_layer_output, preds = grad_model(image[None])
        class_channel = preds[:, class_index]
    grads = tape.gradient(class_channel, last_conv_layer_output)
    pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
    heatmap = last_conv_layer_output[0] @ pooled_grads[..., tf.newaxis]
    heatmap = tf.squeeze(heatmap)
    heatmap = tf.maximum(heatmap, 0) / tf.math.reduce_max(heatmap)
    return heatmap.numpy()


@pytest.mark.parametrize("config", [PLAIN, NORMED], ids=["plain", "batchnorm"])
def test_grad_cam_equals_the_keras_io_recipe(config):
    model = _model(config)
    inspector = Inspector(model)
    for layer in inspector.cam_layers:
        for image, class_index in zip(IMAGES[:2], (3, 8), strict=True):
            ours = inspector.grad_cam(image, class_index, layer)
            reference = keras_io_grad_cam(model, image, layer, class_index)
            assert ours.coarse.shape == reference.shape and not ours.flat
            np.testing.assert_allclose(ours.coarse, reference, atol=1e-5)
            assert ours.heatmap.shape == (32, 32) and ours.heatmap.min() >= 0 and ours.heatmap.max() <= 1


def test_a_batch_of_grad_cams_equals_one_at_a_time():
    inspector = Inspector(_model(NORMED))
    classes = np.array([0, 5, 5, 9])
    coarse, fine, flat = inspector.grad_cams(IMAGES, classes)
    for i, image in enumerate(IMAGES):
        single = inspector.grad_cam(image, int(classes[i]))
        np.testing.assert_allclose(coarse[i], single.coarse, atol=1e-6)
        np.testing.assert_allclose(fine[i], single.heatmap, atol=1e-6)
    assert not flat.any()


def test_the_default_layer_is_the_last_block_activation():
    assert Inspector(_model(NORMED)).default_cam_layer == "block3_conv1_relu"  # after BatchNorm and ReLU
    assert Inspector(_model(PLAIN)).default_cam_layer == "block2_conv2"  # a ReLU conv
    with pytest.raises(CifarError, match="no convolution layer 'dense'; this network has block1_conv1"):
        Inspector(_model(PLAIN)).grad_cam(IMAGES[0], 1, "dense")


@pytest.mark.parametrize("config", [PLAIN, NORMED], ids=["plain", "batchnorm"])
def test_feature_maps_equal_keras_sub_models(config):
    model = _model(config)
    maps, probabilities = Inspector(model).feature_maps(IMAGES[0])
    expected_layers = [layer.name for layer in model.layers if type(layer).__name__ in ("MaxPooling2D",)]
    assert [m.name for m in maps if m.kind == "pool"] == expected_layers
    for layer_maps in maps:
        sub_model = keras.Model(model.input, model.get_layer(layer_maps.name).output)
        np.testing.assert_allclose(layer_maps.values, sub_model.predict(IMAGES[:1], verbose=0)[0], atol=1e-6)
    np.testing.assert_allclose(probabilities, model.predict(IMAGES[:1], verbose=0)[0], atol=1e-6)


def test_first_layer_filters_are_scaled_each_and_answer_the_image():
    model = _model(PLAIN)
    inspector = Inspector(model)
    maps, _ = inspector.feature_maps(IMAGES[1])
    first = inspector.first_layer(maps[0])
    kernel = model.get_layer("block1_conv1").kernel.numpy()
    assert first.kernels.shape == (6, 3, 3, 3)
    for index in range(6):
        one = kernel[..., index]
        np.testing.assert_allclose(first.kernels[index], (one - one.min()) / (one.max() - one.min()), atol=1e-6)
    outputs = keras.Model(model.input, model.get_layer("block1_conv1").output).predict(IMAGES[1:2], verbose=0)[0]
    np.testing.assert_allclose(first.responses, outputs.max(axis=(0, 1)), atol=1e-6)


def test_the_filters_come_strongest_response_first_each_a_crisp_tile():
    kernels = np.random.default_rng(2).random((4, 3, 3, 3)).astype(np.float32)
    tiles, order = filter_tiles(Filters(kernels, np.array([0.2, 0.9, 0.5, 0.9])), size=7)
    assert order.tolist() == [1, 3, 2, 0]  # strongest first; a tie keeps the filters' order
    assert [tile.shape for tile in tiles] == [(9, 9, 3)] * 4  # 3 weights × 3 pixels each, at least 7 wide
    for tile, index in zip(tiles, order, strict=True):
        np.testing.assert_array_equal(tile[::3, ::3], (kernels[index] * 255).round().astype(np.uint8))


def test_a_flat_map_is_said_and_never_nan():
    model = _model(PLAIN)
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            layer.kernel.assign(np.zeros(layer.kernel.shape))
            layer.bias.assign(np.zeros(layer.bias.shape))
    cam = Inspector(model).grad_cam(IMAGES[0], 4)
    assert cam.flat and not np.isnan(cam.heatmap).any() and cam.heatmap.max() == 0


def test_a_class_given_almost_no_probability_still_gets_a_map():
    model = _model(PLAIN)
    final = model.layers[-1]
    bias = np.zeros(final.bias.shape)
    bias[0], bias[7] = 80.0, -80.0  # class 7 at about e^-160 against class 0
    final.bias.assign(bias)
    inspector = Inspector(model)
    assert inspector.probabilities(IMAGES[:1])[0, 7] < 1e-30
    cam = inspector.grad_cam(IMAGES[0], 7)
    assert not np.isnan(cam.coarse).any() and not cam.flat and cam.coarse.max() == pytest.approx(1.0)
    reference = keras_io_grad_cam(model, IMAGES[0], inspector.default_cam_layer, 7)
    np.testing.assert_allclose(cam.coarse, reference, atol=1e-5)


def test_overlay_and_grids_are_images():
    image = np.full((64, 48, 3), 200, dtype=np.uint8)
    heatmap = np.zeros((32, 32))
    heatmap[:16] = 1.0
    shown = overlay(image, heatmap, opacity=0.5)
    assert shown.shape == (64, 48, 3) and shown.dtype == np.uint8
    assert tuple(shown[2, 2]) != tuple(shown[-2, -2])  # hot top, cold bottom
    assert tuple(overlay(image, heatmap, 0.0)[0, 0]) == (200, 200, 200)
    assert tuple(colour(np.array([1.0]))[0]) == (128, 0, 0) and tuple(colour(np.array([0.0]))[0]) == (0, 0, 128)
    maps, _ = Inspector(_model(PLAIN)).feature_maps(IMAGES[0])
    grid = feature_grid(maps[0], columns=4, tile=64)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 64 + 2, 4 * 64 + 3 * 2, 3)


def test_every_epoch_opens_as_it_was(finished_run):
    run = finished_run
    assert run.weight_epochs() == [1, 2] == run.inside_epochs()
    first, last = open_epoch(run, 1), open_epoch(run, 2)
    reference = run.load_model()
    probabilities = [model.predict(IMAGES, verbose=0) for model in (first, last, reference)]
    np.testing.assert_allclose(probabilities[1], probabilities[2], atol=1e-6)  # the last is model.keras's
    assert not np.allclose(probabilities[0], probabilities[1], atol=1e-4)  # epoch 1 is another network
    with pytest.raises(RunError, match="kept its network for epochs 1, 2, not for epoch 3"):
        open_epoch(run, 3)


def test_a_run_without_kept_weights_opens_its_last_epoch(finished_run, runs_dir):
    run = finished_run
    copy = runs_dir / run.id
    shutil.copytree(run.path, copy)
    shutil.rmtree(copy / "weights")  # as a run made before weights were kept
    old = open_run_dir(copy)
    assert old.inside_epochs() == [2] and open_epoch(old).count_params() == run.load_model().count_params()
    with pytest.raises(RunError, match="not for epoch 1"):
        open_epoch(old, 1)


def test_a_damaged_weights_file_is_a_message(finished_run, runs_dir):
    run = finished_run
    copy = runs_dir / run.id
    shutil.copytree(run.path, copy)
    damaged = open_run_dir(copy)
    damaged.files.weights_file(1).write_bytes(b"not an npz")
    with pytest.raises(RunError, match="weights of epoch 1 is damaged"):
        open_epoch(damaged, 1)
    np.savez(damaged.files.weights_file(1), w0000=np.zeros(3))
    with pytest.raises(RunError, match="does not fit the run's network"):
        open_epoch(damaged, 1)


def test_continue_carries_the_weights_over(finished_run, runs_dir, batches_dir, monkeypatch):
    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    parent = open_run_dir(runs_dir / run.id)
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    child = launcher.resume(parent, 1, person=ALONE)
    assert wait_for_end(child).state == "finished"
    assert child.weight_epochs() == [1, 2, 3]
    np.testing.assert_array_equal(
        np.load(child.files.weights_file(1))["w0000"], np.load(parent.files.weights_file(1))["w0000"]
    )


def test_each_epoch_reports_the_time_its_weights_took(finished_run):
    run = finished_run
    events = [event for event in run.events()[0] if event["type"] in ("start", "epoch")]
    assert [event["type"] for event in events] == ["start", "epoch", "epoch"]
    for before, epoch in itertools.pairwise(events):
        # Seconds, within the epoch's own wall time (milliseconds, or the whole epoch, would not be).
        assert 0 <= epoch["weights_seconds"] <= epoch["time"] - before["time"]
        assert epoch["weights_seconds"] < epoch["seconds"]  # speed: benchmarks/
