"""The config (cifar/config/settings.py): `ModelConfig`'s defaults and validation, the table
`FIELDS` that describes its fields, and `config_from_dict`, the way in from JSON and forms."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from cifar.config.settings import FIELDS, ModelConfig, clash, config_from_dict
from cifar.errors import ConfigError

# The TensorFlow 2 tutorial's choices, which the default config is (its docstring says so).
TUTORIAL = {
    "conv_blocks": 1,
    "filters": (32,),
    "convs_per_block": 2,
    "kernel_size": 3,
    "dense_units": 128,
    "dropout": 0.5,
    "optimizer": "adam",
    "learning_rate": 0.001,
    "batch_size": 10,
    "epochs": 10,
    "head": "flatten",
}


def test_the_default_config_is_the_tutorials_choices():
    config = ModelConfig()
    assert {name: getattr(config, name) for name in TUTORIAL} == TUTORIAL
    assert not (config.batch_norm or config.augment or config.residual or config.early_pool)
    assert (config.label_smoothing, config.weight_decay, config.train_size) == (0.0, 0.0, None)


def test_the_table_describes_every_field_in_order_with_the_dataclasss_default():
    declared = dataclasses.fields(ModelConfig)
    assert list(FIELDS) == [field.name for field in declared]
    for field in declared:
        assert FIELDS[field.name].name == field.name
        assert FIELDS[field.name].default == field.default, field.name


def test_a_config_is_frozen_and_hashable():
    config = ModelConfig(seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 4  # type: ignore[misc]
    assert {config: "a"}[ModelConfig(seed=3)] == "a"
    assert hash(ModelConfig(filters=[16])) == hash(ModelConfig(filters=(16,)))


def test_one_filter_value_applies_to_every_block():
    config = ModelConfig(conv_blocks=3, filters=16)
    assert config.filters == (16,) and config.block_filters() == (16, 16, 16)


def test_filters_given_as_a_list_are_stored_as_a_tuple_one_per_block():
    config = ModelConfig(conv_blocks=2, filters=[8, 16])
    assert config.filters == (8, 16) and config.block_filters() == (8, 16)


def test_to_dict_is_plain_json_and_reads_back_as_the_same_config():
    config = ModelConfig(conv_blocks=2, filters=(16, 32), train_size=500, learning_rate=0.01, seed=9)
    values = config.to_dict()
    assert list(values) == list(FIELDS)
    assert values["filters"] == [16, 32] and values["train_size"] == 500
    assert json.loads(json.dumps(values)) == values  # nothing JSON cannot hold
    assert config_from_dict(json.loads(json.dumps(values))) == config


def test_a_missing_field_takes_its_default():
    config = config_from_dict({"epochs": 3})
    assert config.epochs == 3
    assert config == dataclasses.replace(ModelConfig(), epochs=3)


@pytest.mark.parametrize("values", [[1, 2], "epochs=3", None, 7])
def test_a_config_that_is_not_a_json_object_is_refused_saying_what_it_got(values):
    with pytest.raises(ConfigError, match=rf"^a config must be a JSON object; got {type(values).__name__}$"):
        config_from_dict(values)


def test_unknown_config_field_is_named():
    with pytest.raises(ConfigError, match=r"unknown config field.*colour"):
        config_from_dict({**ModelConfig().to_dict(), "colour": "red"})


def test_every_unknown_field_is_named_with_the_known_ones_in_alphabetical_order():
    with pytest.raises(ConfigError) as refused:
        config_from_dict({"zebra": 1, "epochs": 2, "apple": 3})
    message = str(refused.value)
    assert message.startswith("unknown config field(s): apple, zebra; known: alternating_flip, augment, batch_norm,")
    assert message.endswith(", train_size, weight_average, weight_decay, whiten")


def test_replace_changes_only_what_it_names_and_validates_the_result():
    config = ModelConfig(seed=5)
    changed = config.replace(epochs=4, filters=[8])
    assert (changed.epochs, changed.filters, changed.seed) == (4, (8,), 5)
    assert config.epochs == 10  # the original is untouched
    with pytest.raises(ConfigError, match=r"^epochs must"):
        config.replace(epochs=0)
    with pytest.raises(ConfigError, match=r"unknown config field.*colour"):
        config.replace(colour="red")


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
    ("holdout", -1),
    ("holdout", 25_001),
    ("holdout", 0.5),
    ("seed", -1),
    ("seed", 2**31),
    ("whiten", 1),
    ("gelu", "gelu"),
    ("identity_init", None),
    ("frozen_bn_scale", "on"),
    ("bn_bias_rate", 8),
    ("bn_bias_rate", 0),
    ("alternating_flip", 0),
    ("test_time_shifts", "yes"),
    ("weight_average", 0.99),
]


@pytest.mark.parametrize(("field", "value"), INVALID)
def test_invalid_fields_are_refused_by_name(field, value):
    with pytest.raises(ConfigError) as caught:
        ModelConfig(**{field: value})
    assert str(caught.value).startswith(f"{field} must"), caught.value


@pytest.mark.parametrize(("field", "value"), INVALID)
def test_invalid_fields_from_json_are_refused_by_name_too(field, value):
    with pytest.raises(ConfigError, match=f"^{field} must"):
        config_from_dict({field: value})


def test_message_a_student_can_read():
    with pytest.raises(ConfigError, match=r"^dropout must be at least 0 and below 1; got 1.5$"):
        ModelConfig(dropout=1.5)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"frozen_bn_scale": True}, "frozen_bn_scale needs batch_norm on; it is off. Turn batch_norm on, or "
         "frozen_bn_scale off."),
        ({"bn_bias_rate": 64}, "bn_bias_rate needs batch_norm on; it is off. Turn batch_norm on, or bn_bias_rate "
         "back to 1."),
        ({"test_time_shifts": True}, "test_time_shifts needs test_time_flip on; it is off."),
    ],
)  # fmt: skip
def test_a_setting_that_needs_another_switch_says_which_and_what_to_do(changes, words):
    with pytest.raises(ConfigError, match=f"^{re.escape(words)}"):
        ModelConfig(**changes)
    on = {"frozen_bn_scale": "batch_norm", "bn_bias_rate": "batch_norm", "test_time_shifts": "test_time_flip"}
    assert ModelConfig(**changes, **{on[next(iter(changes))]: True})  # with it on, allowed


def test_two_switches_that_undo_each_other_clash_in_words_and_not_apart():
    words = "alternating_flip and augment cannot both be on: its random flips would undo the flips in turn. "
    assert clash(ModelConfig(alternating_flip=True, augment=True)) == words + "Turn one of them off."
    assert clash(ModelConfig(alternating_flip=True)) is None and clash(ModelConfig(augment=True)) is None


def test_every_field_has_an_invalid_case():
    assert set(FIELDS) == {field for field, _ in INVALID}


def test_the_edges_of_each_range_are_allowed():
    edges = ModelConfig(
        conv_blocks=4,
        filters=(1, 512, 1, 512),
        convs_per_block=4,
        kernel_size=7,
        dense_units=0,
        dropout=0.0,
        label_smoothing=0.3,
        weight_decay=0.1,
        learning_rate=10.0,
        batch_size=4096,
        epochs=500,
        train_size=10,
        holdout=25_000,
        seed=2**31 - 1,
    )
    assert edges.block_filters() == (1, 512, 1, 512)
    assert ModelConfig(batch_size=1, epochs=1, kernel_size=1, train_size=1_000_000).batch_size == 1
