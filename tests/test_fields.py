"""The field table: one entry makes a setting's validation, flag, widget and comparison column;
and label smoothing, the first field added through it."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from helpers import TINY, TINY_FLAGS, app_page, run_cli, wait_for_end

import pages.parts.train_controls  # noqa: F401 (see below)
from cifar.cli.main import build_parser, main
from cifar.cli.train import config_from_args
from cifar.config.fields import GROUPS, Float, Int, OptionalInt, PerBlock
from cifar.config.settings import FIELDS, ModelConfig
from cifar.errors import ConfigError
from cifar.launch import launcher
from cifar.network.build import build_model, make_loss, training_targets
from cifar.runs.owner import ALONE
from cifar.runs.run import list_runs, open_run_dir
from cifar.runs.status import write_status
from cifar.study import compare

# A setting described anew at run time: the test changes its words and bounds in the table and
# looks for the change everywhere. Every module that reads the table is imported above, before
# the change, so that one copying the table at import (instead of reading it when asked) fails.
CHANGED = "label_smoothing"


@pytest.fixture
def changed_field(monkeypatch):
    field = dataclasses.replace(
        FIELDS[CHANGED], label="Softened targets", help="Trains towards softened targets.", high=0.2, axis="soft."
    )
    monkeypatch.setitem(FIELDS, CHANGED, field)
    return field


def test_every_field_is_described_in_full():
    for name, field in FIELDS.items():
        assert field.name == name and field.label and field.help.endswith(".") and field.axis, name
        assert field.group in GROUPS, name
        field.check(field.default)  # the default is allowed
        assert len(field.axis) <= 12, f"{name}'s axis title is too long for a phone's comparison"
    assert ModelConfig().to_dict() == {name: field.to_json(field.default) for name, field in FIELDS.items()}


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("filters", "32,64", (32, 64)),
        ("train_size", "all", None),
        ("train_size", "6000", 6000),
        ("batch_norm", "yes", True),
        ("augment", "off", False),
        ("learning_rate", "0.003", 0.003),
        ("epochs", "3", 3),
    ],
)
def test_a_value_in_words_parses_as_the_field_wants(field, text, value):
    assert FIELDS[field].parse(text) == value


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("epochs", "three", "epochs must be a whole number from 1 to 500; got 'three'"),
        ("filters", "32;64", "filters must be whole numbers separated by commas, like 32,64; got '32;64'"),
        ("batch_norm", "maybe", "batch_norm must be true or false"),
        ("label_smoothing", "lots", "label_smoothing must be a number from 0 to 0.3; got 'lots'"),
    ],
)
def test_a_value_that_does_not_parse_is_named_with_what_is_allowed(field, text, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        FIELDS[field].parse(text)


def test_messages_come_from_the_field_kind():
    assert str(_refusal(Int(name="n", default=1, low=1, high=4, label="", help="", group="", axis=""), 9)) == (
        "n must be from 1 to 4; got 9"
    )
    kinds = OptionalInt(name="size", default=None, low=10, high=100, label="", help="", group="", axis="")
    assert str(_refusal(kinds, 5)) == "size must be from 10 to 100, or all; got 5"
    assert kinds.allowed().endswith("or all")
    fraction = Float(name="p", default=0.0, low=0, high=1, high_open=True, label="", help="", group="", axis="")
    assert str(_refusal(fraction, 1.0)) == "p must be at least 0 and below 1; got 1.0"
    assert str(_refusal(fraction, math.nan)) == "p must be a number at least 0 and below 1; got nan"
    per_block = PerBlock(name="f", default=(8,), low=1, high=9, count_field="b", label="", help="", group="", axis="")
    with pytest.raises(ConfigError, match=r"^f must give one value for all blocks or one per block \(b is 3\)"):
        per_block.check_with({"f": (1, 2), "b": 3})


def _refusal(field, value) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        field.check(value)
    return caught.value


def test_all_is_the_word_for_every_training_image_wherever_it_is_written():
    assert ModelConfig(train_size="all").train_size is None and ModelConfig(train_size="All").train_size is None
    assert FIELDS["train_size"].parse("all") is None and FIELDS["train_size"].to_widget(None) == "all"
    with pytest.raises(ConfigError, match=r"^train_size must be from 10 to 1000000, or all; got 5$"):
        ModelConfig(train_size=5)
    with pytest.raises(ConfigError, match=r"^kernel_size must be one of 1, 3, 5, 7; got 0$"):
        ModelConfig(kernel_size=0)


def test_a_widget_offers_a_value_that_is_not_among_its_usual_choices():
    assert FIELDS["learning_rate"].widget_options(0.002)[:4] == [0.0001, 0.0003, 0.001, 0.002]
    assert FIELDS["train_size"].widget_options(None)[-1] == "all"
    assert FIELDS["train_size"].widget_options(750)[:3] == [500, 750, 1000]


def test_a_field_described_anew_is_a_flag_with_its_help_and_bounds(changed_field, capsys, runs_dir):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--label-smoothing X Trains towards softened targets. (a number from 0 to 0.2)" in help_text
    config = config_from_args(parser.parse_args(["train", "--preset", "quick", "--label-smoothing", "0.15"]))
    assert config.label_smoothing == 0.15 and config.conv_blocks == 2
    assert main(["train", "--label-smoothing", "0.25", "--runs-dir", str(runs_dir)]) == 2
    assert "error: label_smoothing must be from 0 to 0.2; got 0.25" in capsys.readouterr().err
    assert not list_runs(runs_dir)
    with pytest.raises(ConfigError, match=r"label_smoothing must be from 0 to 0\.2"):
        ModelConfig(label_smoothing=0.25)


def test_a_field_described_anew_is_a_train_page_widget(changed_field, batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    at = app_page("train").run()
    assert not at.exception
    slider = at.slider(key="cfg_label_smoothing")
    assert slider.label == "Softened targets" and slider.value == 0.0 and slider.max == 0.2
    slider.set_value(0.1).run()
    assert not at.exception and not at.error
    at.button(key="launch").click().run()
    assert not at.exception
    (run,) = list_runs()  # the launched run's config holds the widget's value
    assert run.config().label_smoothing == 0.1
    launcher.stop(run, person=ALONE)
    assert wait_for_end(run).state in ("stopped", "finished")  # no training process outlives the test


def test_a_field_described_anew_is_a_runs_page_column_and_axis(changed_field, runs_dir):
    for value in (0.0, 0.2):
        path = launcher.prepare_run(TINY.replace(label_smoothing=value), runs_dir, f"soft-{value}", person=ALONE)
        run = open_run_dir(path)
        write_status(run.files.status, run.written_status().replace(state="finished"))
    at = app_page("runs").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert sorted(table["label_smoothing"].tolist()) == [0.0, 0.2]
    assert "learning_rate" not in table.columns  # the same in both runs
    assert compare.axis(CHANGED).title == "soft."


def test_label_smoothing_is_off_by_default_and_everywhere_a_field_is():
    assert ModelConfig().label_smoothing == 0.0 and make_loss(ModelConfig()) == "sparse_categorical_crossentropy"
    assert build_model(ModelConfig()).loss == "sparse_categorical_crossentropy"  # the tutorial's model is untouched
    assert FIELDS["label_smoothing"].group == "Regularisation"


def test_label_smoothing_trains_on_softened_targets():
    """The loss Keras reports against the formula, worked out with numpy from the model's outputs."""
    smoothing = 0.2
    config = TINY.replace(label_smoothing=smoothing)
    model = build_model(config)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 16).astype(np.uint8)
    targets = training_targets(config, labels)
    assert targets.shape == (16, 10) and np.array_equal(targets.argmax(axis=1), labels)
    probabilities = np.clip(model.predict(images, verbose=0).astype(np.float64), 1e-7, 1.0)
    softened = targets * (1 - smoothing) + smoothing / 10
    expected = float(np.mean(-(softened * np.log(probabilities)).sum(axis=1)))
    reported = model.evaluate(images, targets, verbose=0, return_dict=True)
    assert reported["loss"] == pytest.approx(expected, rel=1e-4)
    assert reported["accuracy"] == pytest.approx(float(np.mean(probabilities.argmax(axis=1) == labels)))


def test_a_run_with_label_smoothing_trains_from_the_command_line(batches_dir, runs_dir):
    result = run_cli("train", "--data", str(batches_dir), "--epochs", "1", "--label-smoothing", "0.1", *TINY_FLAGS)
    assert result.returncode == 0, result.stderr
    run = open_run_dir(result.stdout.splitlines()[0])
    assert run.config().label_smoothing == 0.1 and launcher.status(run).state == "finished"
    history = run.history()
    # The test loss is the plain cross-entropy: it matches the stored predictions.
    from cifar.network.build import sparse_crossentropy

    stored = run.predictions().astype(np.float32)
    assert history["val_loss"][0] == pytest.approx(sparse_crossentropy(stored, run.labels()), abs=2e-3)
