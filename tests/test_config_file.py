"""cifar.runs.config_file: a run's config.json written whole and read back; a file that is not a
config is a ConfigError, one that cannot be read a RunError, each in words."""

from __future__ import annotations

import errno
import json
import os

import pytest

from cifar.config.settings import ModelConfig
from cifar.errors import ConfigError, RunError
from cifar.runs.config_file import load_config, save_config


def test_json_round_trip(tmp_path):
    config = ModelConfig(conv_blocks=2, filters=(16, 32), augment=True, train_size=500, optimizer="sgd", seed=7)
    save_config(config, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == config
    assert json.loads((tmp_path / "config.json").read_text())["filters"] == [16, 32]


def test_the_file_is_plain_json_a_person_can_read(tmp_path):
    path = tmp_path / "config.json"
    save_config(ModelConfig(train_size=None, dropout=0.25), str(path))  # a str path too
    text = path.read_text()
    values = json.loads(text)
    assert text.startswith('{\n  "conv_blocks": 1,\n') and text.endswith("}\n")
    assert values["train_size"] is None and values["dropout"] == 0.25 and values["filters"] == [32]
    assert os.listdir(tmp_path) == ["config.json"]


def test_a_config_written_before_a_field_existed_takes_its_default(tmp_path):
    path = tmp_path / "config.json"
    # An older version's file: no label_smoothing, residual or head.
    old = {"conv_blocks": 2, "filters": [16, 32], "dropout": 0.3, "batch_size": 20, "epochs": 2}
    path.write_text(json.dumps(old))
    config = load_config(path)
    assert config.label_smoothing == 0.0 and config.residual is False and config.head == "flatten"
    assert config.filters == (16, 32) and config.dropout == 0.3


def test_a_file_that_is_not_json_is_a_config_error_naming_it(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"conv_blocks": 2,')
    with pytest.raises(ConfigError, match=r"config\.json is not valid JSON \(") as caught:
        load_config(path)
    assert str(path) in str(caught.value) and not isinstance(caught.value, RunError)


@pytest.mark.parametrize(("text", "words"), [("[1, 2]", "got list"), ("null", "got NoneType"), ('"x"', "got str")])
def test_json_that_is_not_an_object_is_refused_in_words(tmp_path, text, words):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"a config must be a JSON object; {words}"):
        load_config(path)


def test_a_value_out_of_range_or_an_unknown_field_is_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"dropout": 1.5}')
    with pytest.raises(ConfigError, match=r"dropout must be at least 0 and below 1; got 1\.5"):
        load_config(path)
    path.write_text('{"colour": "red"}')
    with pytest.raises(ConfigError, match=r"unknown config field.*colour"):
        load_config(path)


def test_a_missing_file_is_a_run_error_saying_the_run_may_be_gone(tmp_path):
    path = tmp_path / "deleted-run" / "config.json"
    with pytest.raises(RunError) as caught:
        load_config(path)
    reason = os.strerror(errno.ENOENT)
    assert str(caught.value) == (
        f"Could not read {path} ({reason}: {path}): the run may have been deleted or moved meanwhile"
    )
    assert not isinstance(caught.value, ConfigError)


def test_a_folder_in_place_of_the_file_is_a_run_error_too(tmp_path):
    (tmp_path / "config.json").mkdir()
    with pytest.raises(RunError, match=os.strerror(errno.EISDIR)):
        load_config(tmp_path / "config.json")
