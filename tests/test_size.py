"""What a network holds and costs, counted from the config alone (cifar/network/size.py),
against the Keras model `build_model` makes: its `count_params`, its layers' shapes, the
optimizer's own variables, and counts worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import PRESET_PARAMETERS

from cifar.config.presets import PRESETS
from cifar.config.settings import ModelConfig
from cifar.network import build, size
from cifar.network.build import build_model
from cifar.network.size import activation_floats, forward_macs, parameter_count

BASE = ModelConfig(conv_blocks=2, filters=(4, 8), convs_per_block=2, dense_units=16, dropout=0.0)
# Every architecture choice at least once, with and against its neighbours.
VARIANTS = [
    BASE,
    BASE.replace(kernel_size=1),
    BASE.replace(kernel_size=5, filters=(6,)),
    BASE.replace(kernel_size=7, conv_blocks=1, filters=(3,)),
    BASE.replace(conv_blocks=4, filters=(2, 3, 4, 5), convs_per_block=1),
    BASE.replace(conv_blocks=3, convs_per_block=3, filters=(4,)),
    BASE.replace(dense_units=0),
    BASE.replace(batch_norm=True),
    BASE.replace(batch_norm=True, dense_units=0, head="average"),
    BASE.replace(head="max"),
    BASE.replace(early_pool=True),
    BASE.replace(early_pool=True, residual=True, batch_norm=True),
    BASE.replace(residual=True),
    BASE.replace(augment=True, dropout=0.3),
    BASE.replace(dense_dropout=0.2),
    BASE.replace(whiten=True),
    BASE.replace(whiten=True, early_pool=True, head="max", dense_units=0),
    BASE.replace(batch_norm=True, frozen_bn_scale=True),
    BASE.replace(batch_norm=True, bn_bias_rate=64, gelu=True),
    BASE.replace(batch_norm=True, frozen_bn_scale=True, bn_bias_rate=4, identity_init=True, whiten=True),
]
IDS = [f"variant{index}" for index in range(len(VARIANTS))]


def _model(config: ModelConfig):
    return build_model(config, precision="float32")


@pytest.mark.parametrize("config", VARIANTS, ids=IDS)
def test_the_parameter_count_is_what_keras_counts(config):
    assert parameter_count(config) == _model(config).count_params()


def test_every_presets_parameters_are_counted_from_the_shapes_alone():
    assert {name: parameter_count(each.config) for name, each in PRESETS.items()} == PRESET_PARAMETERS


def test_the_tutorials_parameters_by_hand():
    conv1, conv2 = 3 * 3 * 3 * 32 + 32, 3 * 3 * 32 * 32 + 32
    dense, output = (16 * 16 * 32 + 1) * 128, (128 + 1) * 10
    assert parameter_count(ModelConfig()) == conv1 + conv2 + dense + output == 1_060_138


def test_macs_of_the_tutorial_by_hand():
    conv1 = 32 * 32 * 3 * 3 * 3 * 32
    conv2 = 32 * 32 * 3 * 3 * 32 * 32
    dense = 16 * 16 * 32 * 128
    assert forward_macs(ModelConfig()) == conv1 + conv2 + dense + 128 * 10


def test_macs_without_a_dense_layer():
    config = ModelConfig(conv_blocks=2, filters=(8, 16), convs_per_block=1, kernel_size=1, dense_units=0)
    assert forward_macs(config) == 32 * 32 * 3 * 8 + 16 * 16 * 8 * 16 + 8 * 8 * 16 * 10


def _macs_of(model) -> int:
    """Multiply-accumulates of a built model: each convolution's output pixels times its kernel,
    each dense layer's kernel."""
    total = 0
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            height, width, _ = layer.output.shape[1:]
            total += height * width * math.prod(layer.kernel.shape)
        elif type(layer).__name__ == "Dense":
            total += math.prod(layer.kernel.shape)
    return total


@pytest.mark.parametrize("config", VARIANTS, ids=IDS)
def test_the_macs_are_those_of_the_models_layers(config):
    assert forward_macs(config) == _macs_of(_model(config))


def _kept_floats(model) -> int:
    """What one image's forward pass keeps, read off the model: every layer's output, a mask
    for each dropout and the pre-activation of each dense layer."""
    total = 0
    for layer in model.layers[1:]:  # the uint8 input is not a float the pass makes
        floats = math.prod(layer.output.shape[1:])
        total += floats * (2 if type(layer).__name__ in ("Dropout", "Dense") else 1)
    return total


def test_the_tutorials_activations_by_hand():
    rescaled, convs, pooled, dropped = 32 * 32 * 3, 2 * 32 * 32 * 32, 16 * 16 * 32, 2 * 16 * 16 * 32
    flat, dense, output = 16 * 16 * 32, 2 * 128, 2 * 10
    assert activation_floats(ModelConfig()) == rescaled + convs + pooled + dropped + flat + dense + output


@pytest.mark.parametrize("config", VARIANTS, ids=IDS)
def test_the_activations_are_every_layer_output_of_the_model(config):
    assert activation_floats(config) == _kept_floats(_model(config))


@pytest.mark.parametrize("early_pool", [False, True])
def test_a_residual_sum_is_counted_at_the_size_of_its_block(early_pool):
    config = BASE.replace(residual=True, early_pool=early_pool)
    assert activation_floats(config) == _kept_floats(_model(config))


def test_the_dropout_before_the_output_is_counted():
    config = BASE.replace(dense_dropout=0.2)
    assert activation_floats(config) == _kept_floats(_model(config))


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_an_optimizer_holds_the_copies_of_the_weights_it_says(optimizer):
    config = BASE.replace(optimizer=optimizer)
    model = _model(config)
    keras_optimizer = build.make_optimizer(config)
    keras_optimizer.build(model.trainable_variables)
    weights = model.count_params()
    # Its state: every variable but the scalars (the step count, the learning rate).
    state = sum(int(np.prod(variable.shape)) for variable in keras_optimizer.variables if len(variable.shape))
    assert state % weights == 0
    assert size.optimizer_weight_copies(config) == 2 + state // weights  # + the weights and their gradients
