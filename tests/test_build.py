"""The network a config builds (cifar/network/build.py): its layers and parameters against the
tutorial's summary and counts worked out by hand, its optimizer, loss and schedule, and the
cross-entropy and test-time flip the trainer scores with, against NumPy."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from helpers import PRESET_PARAMETERS

from cifar.config.presets import PRESETS, preset
from cifar.config.settings import ModelConfig
from cifar.errors import ConfigError
from cifar.network import build, devices
from cifar.network.build import build_model, count_parameters, layer_table, training_steps

# The tutorial's model.summary(), layer by layer: (output shape, parameters).
TUTORIAL_SUMMARY = [
    ((None, 32, 32, 32), 896),
    ((None, 32, 32, 32), 9248),
    ((None, 16, 16, 32), 0),
    ((None, 16, 16, 32), 0),
    ((None, 8192), 0),
    ((None, 128), 1048704),
    ((None, 10), 1290),
]
SMALL = ModelConfig(conv_blocks=1, filters=(8,), convs_per_block=1, dense_units=16, dropout=0.0, seed=1)


def test_default_is_the_tutorial_model():
    model = build_model(ModelConfig())
    # Our model adds an explicit uint8 input and a Rescaling layer (no parameters) in front.
    layers = model.layers[2:]
    assert [type(layer).__name__ for layer in layers] == [
        "Conv2D",
        "Conv2D",
        "MaxPooling2D",
        "Dropout",
        "Flatten",
        "Dense",
        "Dense",
    ]
    assert [(tuple(layer.output.shape), layer.count_params()) for layer in layers] == TUTORIAL_SUMMARY
    assert count_parameters(model) == {"trainable": 1060138, "non_trainable": 0, "total": 1060138}
    assert model.layers[-1].activation.__name__ == "softmax"
    assert layers[3].rate == 0.5
    assert type(model.optimizer).__name__ == "Adam"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)
    assert model.loss == "sparse_categorical_crossentropy"
    config = ModelConfig()
    assert (config.batch_size, config.epochs) == (10, 10)


def test_the_model_takes_uint8_pixels_and_scales_them_itself():
    model = build_model(SMALL)
    assert model.input.dtype == "uint8" and tuple(model.input.shape) == (None, 32, 32, 3)
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)
    probabilities = np.asarray(model(np.full((2, 32, 32, 3), 255, np.uint8), training=False))
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_layer_table_rows_match_the_model():
    model = build_model(ModelConfig())
    rows = layer_table(model)
    assert rows[2] == {
        "layer (type)": "block1_conv1 (Conv2D)",
        "output shape": "(None, 32, 32, 32)",
        "parameters": 896,
    }
    assert rows[4]["output shape"] == "(None, 16, 16, 32)"
    assert sum(row["parameters"] for row in rows) == 1060138


def test_batch_norm_weights_count_its_moving_statistics_as_not_trainable():
    model = build_model(SMALL.replace(batch_norm=True, dense_units=0))
    # By hand: a 3×3 convolution from 3 to 8 channels without bias, BatchNorm's gamma and beta
    # (trained) and its moving mean and variance (not), then 16·16·8 features to 10 classes.
    trainable = 3 * 3 * 3 * 8 + 2 * 8 + (16 * 16 * 8 + 1) * 10
    assert count_parameters(model) == {"trainable": trainable, "non_trainable": 2 * 8, "total": trainable + 16}
    assert count_parameters(model)["total"] == model.count_params()


def test_describe_gives_the_table_and_counts_of_the_built_model():
    rows, counts = build.describe(SMALL)
    hand = (3 * 3 * 3 * 8 + 8) + (16 * 16 * 8 + 1) * 16 + (16 + 1) * 10
    assert counts == {"trainable": hand, "non_trainable": 0, "total": hand}
    assert [row["layer (type)"].split(" ")[0] for row in rows] == [
        "image",
        "rescale",
        "block1_conv1",
        "block1_pool",
        "flatten",
        "dense",
        "class_probabilities",
    ]


# The README's results table: the parameters of each preset's network.
def test_every_preset_builds_with_its_parameter_count_and_differs():
    assert set(PRESETS) == set(PRESET_PARAMETERS)
    for name, each in PRESETS.items():
        assert count_parameters(build_model(each.config))["total"] == PRESET_PARAMETERS[name], name
    assert preset("tutorial") == ModelConfig()
    assert len({json.dumps(each.config.to_dict(), sort_keys=True) for each in PRESETS.values()}) == len(PRESETS)
    with pytest.raises(ConfigError, match="preset must be one of"):
        preset("fastest")


def test_batchnorm_augment_and_blocks():
    config = ModelConfig(
        conv_blocks=3, filters=(8, 16, 32), convs_per_block=1, batch_norm=True, augment=True, dense_units=0
    )
    model = build_model(config)
    names = [layer.name for layer in model.layers]
    assert "random_flip" in names and "random_shift" in names
    assert "block3_conv1_bn" in names and "dense" not in names
    assert tuple(model.get_layer("block3_pool").output.shape) == (None, 4, 4, 32)
    assert not model.get_layer("block1_conv1").use_bias


def test_a_dense_dropout_sits_between_the_hidden_layer_and_the_output():
    model = build_model(SMALL.replace(dense_dropout=0.25))
    names = [layer.name for layer in model.layers]
    assert names[-3:] == ["dense", "dense_dropout", "class_probabilities"]
    assert model.get_layer("dense_dropout").rate == 0.25
    assert "dense_dropout" not in [layer.name for layer in build_model(SMALL).layers]


def test_augmentation_layers_exist_only_with_augment_and_take_the_configs_seed():
    assert build.augmentation_layers(SMALL) == []
    flip, shift = build.augmentation_layers(SMALL.replace(augment=True, seed=42))
    assert (flip.name, shift.name) == ("random_flip", "random_shift")
    assert flip.seed == shift.seed == 42
    assert build.augmentation_layers(SMALL.replace(augment=True, seed=42), seed=7)[0].seed == 7


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_optimizers(optimizer):
    model = build_model(ModelConfig(optimizer=optimizer, learning_rate=0.01))
    assert type(model.optimizer).__name__.lower() == optimizer
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


def test_sgd_is_nesterov_with_momentum_0_9():
    optimizer = build.make_optimizer(SMALL.replace(optimizer="sgd"))
    assert optimizer.momentum == pytest.approx(0.9) and optimizer.nesterov


def test_without_a_precision_the_model_takes_this_machines(monkeypatch):
    mixed = SMALL.replace(mixed_precision=True)
    monkeypatch.setattr(devices, "gpu_names", lambda: ())
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert build_model(mixed).get_layer("block1_conv1").compute_dtype == "bfloat16"
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2"}))
    assert build_model(mixed).get_layer("block1_conv1").compute_dtype == "float32"
    assert build_model(mixed, precision="float32").get_layer("dense").compute_dtype == "float32"


def test_a_cosine_schedule_warms_up_then_reaches_zero_at_the_last_step():
    config = ModelConfig(lr_schedule="cosine", learning_rate=0.004, batch_size=100, epochs=2)
    assert training_steps(config, 1000) == 20
    optimizer = build_model(config, train_images=1000).optimizer
    schedule = optimizer._learning_rate  # the schedule itself; .learning_rate is its value now
    steps = [float(schedule(step)) for step in range(21)]
    assert steps[0] == pytest.approx(0.0004)  # a tenth of the rate
    assert max(steps) == pytest.approx(0.004) and steps.index(max(steps)) == 2  # warm-up: 10% of 20 steps
    assert all(a >= b for a, b in itertools.pairwise(steps[2:]))  # then only down
    assert steps[20] == pytest.approx(0.0, abs=1e-9)
    assert float(optimizer.learning_rate) == pytest.approx(0.0004)  # what its first step uses
    # Without train_images, an epoch is train_size images, or all 50,000.
    assert training_steps(config.replace(train_size=500)) == 10
    assert training_steps(config) == 1000


def test_training_steps_count_a_short_last_batch():
    config = ModelConfig(batch_size=100, epochs=3)
    assert training_steps(config, 1001) == 11 * 3
    assert training_steps(config, 1000) == 10 * 3
    constant = build.learning_rate(config)  # a rate steering can rescale, and no schedule's end
    assert not constant.cosine and float(constant(10_000)) == pytest.approx(0.001)
    cosine = build.learning_rate(config.replace(lr_schedule="cosine"), 1001)
    assert (cosine.warmup_steps, cosine.total_steps) == (int(33 * 0.1), 33)


def test_only_a_scheduled_run_refuses_to_continue_and_says_why():
    assert build.continuation_refusal(ModelConfig()) is None
    refusal = build.continuation_refusal(ModelConfig(lr_schedule="cosine", epochs=12))
    assert refusal.startswith("its cosine learning-rate schedule was planned for its own 12 epochs")
    assert "Start a new run with more epochs instead." in refusal


def test_sparse_crossentropy_is_the_mean_negative_log_of_the_true_class_clipped_at_1e_7():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5], [1.0, 0.0, 0.0]], np.float32)
    labels = np.array([0, 2, 1], np.uint8)
    by_hand = -(math.log(0.7) + math.log(0.5) + math.log(1e-7)) / 3
    assert build.sparse_crossentropy(probabilities, labels) == pytest.approx(by_hand, rel=1e-6)


def test_without_smoothing_the_loss_is_sparse_and_the_targets_are_the_labels():
    labels = np.array([3, 0, 9], np.uint8)
    assert build.make_loss(SMALL) == "sparse_categorical_crossentropy"
    assert build.training_targets(SMALL, labels) is labels


def test_a_smoothed_loss_trains_on_one_hot_rows_towards_softened_targets():
    smoothing = 0.2
    config = SMALL.replace(label_smoothing=smoothing)
    labels = np.array([3, 0, 9], np.uint8)
    targets = build.training_targets(config, labels)
    assert targets.dtype == np.float32 and targets.shape == (3, 10)
    assert (targets.argmax(axis=1) == labels).all() and (targets.sum(axis=1) == 1).all()
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=3).astype(np.float32)
    softened = targets * (1 - smoothing) + smoothing / 10
    by_hand = float(np.mean(-np.sum(softened * np.log(probabilities), axis=1)))
    loss = build.make_loss(config)
    assert float(loss(targets, probabilities)) == pytest.approx(by_hand, rel=1e-5)


def test_flip_accuracies_score_the_plain_and_the_averaged_answers():
    model = build_model(SMALL, precision="float32")
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    plain = np.asarray(model(images, training=False))
    averaged = (plain + np.asarray(model(images[:, :, ::-1], training=False))) / 2
    # Labels that the plain answers get right for the first half, the averaged for the rest.
    labels = np.concatenate([plain.argmax(axis=1)[:6], averaged.argmax(axis=1)[6:]])
    expected = (np.mean(plain.argmax(axis=1) == labels), np.mean(averaged.argmax(axis=1) == labels))
    assert build.flip_accuracies(model, images, labels) == pytest.approx(expected)


# --- the record recipe's techniques, each a field --------------------------------------------

RECORDED = SMALL.replace(conv_blocks=2, filters=(8, 16), convs_per_block=2, dense_units=0, batch_norm=True)


def test_whitening_a_frozen_first_layer_and_gelu_after_it():
    model = build_model(RECORDED.replace(whiten=True, gelu=True), precision="float32")
    whiten = model.get_layer("whiten")
    assert not whiten.trainable and whiten.kernel.shape == (2, 2, 3, 24)
    assert model.get_layer("whiten_act").get_config()["activation"] == "gelu"
    assert model.get_layer("block1_conv1").input.shape[1:] == (31, 31, 24)
    assert all(weight.path != whiten.kernel.path for weight in model.trainable_weights)  # never moved


def test_the_whitening_layer_computes_in_32_bits_whatever_the_precision():
    model = build_model(RECORDED.replace(whiten=True), precision="mixed_bfloat16")
    assert model.get_layer("whiten").compute_dtype == model.get_layer("whiten_act").compute_dtype == "float32"
    assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"  # the rest as asked


def test_identity_init_starts_each_convolution_passing_its_channels_through():
    model = build_model(RECORDED.replace(identity_init=True), precision="float32")
    kernel = np.asarray(model.get_layer("block1_conv2").kernel)  # 8 in, 8 out
    assert np.array_equal(kernel[1, 1], np.eye(8)) and not kernel[0].any() and not kernel[2].any()
    wider = np.asarray(model.get_layer("block2_conv1").kernel)  # 8 in, 16 out: the rest at random
    assert np.array_equal(wider[1, 1, :, :8], np.eye(8)) and np.abs(wider[..., 8:]).sum() > 0
    plain = np.asarray(build_model(RECORDED, precision="float32").get_layer("block1_conv2").kernel)
    assert not np.array_equal(plain[1, 1], np.eye(8))


def test_a_frozen_batchnorm_scale_and_a_faster_offset_are_what_the_layers_learn():
    model = build_model(RECORDED.replace(frozen_bn_scale=True, bn_bias_rate=64), precision="float32")
    norm = model.get_layer("block1_conv1_bn")
    assert norm.gamma is None and norm.beta is None  # neither scale nor its own offset
    assert model.get_layer("block1_conv1_offset").rate == 64
    assert build_model(RECORDED, precision="float32").get_layer("block1_conv1_bn").gamma is not None


def test_test_time_shifts_average_six_views_as_airbench_does():
    seen = []

    def predict(batch):
        batch = np.asarray(batch)
        seen.append(batch)
        return np.full((len(batch), 10), len(seen), np.float32)  # each view's answer: its number

    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    config = SMALL.replace(test_time_flip=True, test_time_shifts=True)
    answers = build.probabilities_as_tested(predict, images, config)
    assert len(seen) == build.test_passes(config) == 6
    assert np.array_equal(seen[1], images[:, :, ::-1])  # the mirror
    assert np.array_equal(seen[2][:, 1:, 1:], images[:, :-1, :-1])  # a pixel down and right...
    assert np.array_equal(seen[4][:, :-1, :-1], images[:, 1:, 1:])  # ...and up and left
    assert np.array_equal(seen[3], seen[2][:, :, ::-1])  # each with its mirror
    assert answers == pytest.approx(np.full((3, 10), ((1 + 2) / 2 + ((3 + 4) / 2 + (5 + 6) / 2) / 2) / 2))


def test_the_weight_average_is_in_the_model_inside_and_the_trained_weights_after():
    model = build_model(SMALL.replace(weight_average=True, optimizer="sgd", learning_rate=0.1), precision="float32")
    images = np.random.default_rng(1).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    for _ in range(3):
        model.train_on_batch(images, np.arange(8) % 10)
    trained = [weight.numpy() for weight in model.trainable_weights]
    averages = [average.numpy() for average in model.optimizer._model_variables_moving_average]
    assert any(not np.allclose(a, b) for a, b in zip(trained, averages, strict=True))
    with build.averaged_weights(model):
        assert all(np.array_equal(w.numpy(), a) for w, a in zip(model.trainable_weights, averages, strict=True))
    assert all(np.array_equal(w.numpy(), t) for w, t in zip(model.trainable_weights, trained, strict=True))
    plain = build_model(SMALL, precision="float32")
    plain.train_on_batch(images, np.arange(8) % 10)
    before = [weight.numpy() for weight in plain.trainable_weights]
    with build.averaged_weights(plain):  # no average: nothing moves
        assert all(np.array_equal(w.numpy(), b) for w, b in zip(plain.trainable_weights, before, strict=True))


def test_a_triangular_schedule_peaks_at_23_percent_and_refuses_to_continue():
    config = SMALL.replace(lr_schedule="triangular", learning_rate=0.5, optimizer="sgd", epochs=4)
    rate = build.learning_rate(config, train_images=1000)
    steps = build.training_steps(config, 1000)
    assert rate.triangular and rate.warmup_steps == int(steps * 0.23) and rate.total_steps == steps
    assert "a small share of its peak" in build.continuation_refusal(config)
