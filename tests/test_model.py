from __future__ import annotations

import itertools
import json

import pytest

from cifar.config.presets import PRESETS, preset
from cifar.config.settings import FIELDS, ModelConfig, config_from_dict
from cifar.errors import ConfigError
from cifar.network.build import build_model, count_parameters, layer_table, training_steps
from cifar.network.size import parameter_count

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


def test_layer_table_rows_match_the_model():
    model = build_model(ModelConfig())
    rows = layer_table(model)
    assert rows[2] == {
        "layer (type)": "block1_conv1 (Conv2D)",
        "output shape": "(None, 32, 32, 32)",
        "parameters": 896,
    }
    assert sum(row["parameters"] for row in rows) == 1060138


# The README's results table: the parameters of each preset's network.
PRESET_PARAMETERS = {"tutorial": 1_060_138, "quick": 282_250, "fast": 357_482, "better": 357_482, "best": 289_642}


def test_every_preset_builds_with_its_parameter_count_and_differs():
    assert set(PRESETS) == set(PRESET_PARAMETERS)
    for name, each in PRESETS.items():
        config = each.config
        assert count_parameters(build_model(config))["total"] == PRESET_PARAMETERS[name], name
        assert parameter_count(config) == PRESET_PARAMETERS[name], name  # counted from the shapes alone
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


def test_one_filter_value_applies_to_every_block():
    config = ModelConfig(conv_blocks=3, filters=16)
    assert config.filters == (16,) and config.block_filters() == (16, 16, 16)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_optimizers(optimizer):
    model = build_model(ModelConfig(optimizer=optimizer, learning_rate=0.01))
    assert type(model.optimizer).__name__.lower() == optimizer
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


INVALID = [
    ("conv_blocks", 0),
    ("conv_blocks", 5),
    ("conv_blocks", 1.5),
    ("conv_blocks", True),
    ("filters", ()),
    ("filters", (0,)),
    ("filters", (513,)),
    ("filters", (32, 64)),
    ("filters", ("a",)),
    ("convs_per_block", 0),
    ("convs_per_block", 5),
    ("kernel_size", 4),
    ("kernel_size", 9),
    ("kernel_size", 0),
    ("dense_units", -1),
    ("dense_units", 5000),
    ("batch_norm", "yes"),
    ("augment", 1),
    ("early_pool", "true"),
    ("residual", 1),
    ("head", "gap"),
    ("weight_decay", 0.5),
    ("test_time_flip", None),
    ("mixed_precision", "on"),
    ("dropout", 1.5),
    ("dropout", 1.0),
    ("dropout", -0.1),
    ("dropout", float("nan")),
    ("dropout", "half"),
    ("dense_dropout", 1.0),
    ("label_smoothing", -0.1),
    ("label_smoothing", 0.31),
    ("label_smoothing", float("nan")),
    ("label_smoothing", "0.1"),
    ("label_smoothing", True),
    ("optimizer", "adagrad"),
    ("learning_rate", 0),
    ("learning_rate", -1.0),
    ("learning_rate", 11.0),
    ("learning_rate", float("nan")),
    ("lr_schedule", "step"),
    ("batch_size", 0),
    ("batch_size", 5000),
    ("epochs", 0),
    ("epochs", 501),
    ("train_size", 5),
    ("train_size", 2.5),
    ("seed", -1),
    ("seed", 2**31),
]


@pytest.mark.parametrize(("field", "value"), INVALID)
def test_invalid_fields_are_refused_by_name(field, value):
    with pytest.raises(ConfigError) as caught:
        ModelConfig(**{field: value})
    assert str(caught.value).startswith(f"{field} must"), caught.value


def test_message_a_student_can_read():
    with pytest.raises(ConfigError, match=r"^dropout must be at least 0 and below 1; got 1.5$"):
        ModelConfig(dropout=1.5)


def test_every_field_has_an_invalid_case():
    assert set(FIELDS) == {field for field, _ in INVALID}


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


def test_unknown_config_field_is_named():
    with pytest.raises(ConfigError, match=r"unknown config field.*colour"):
        config_from_dict({**ModelConfig().to_dict(), "colour": "red"})
