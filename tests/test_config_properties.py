"""Property-based tests over the config: every valid one builds and trains, every invalid one
is refused naming its field, the value and what is allowed, and what would not fit is refused
before launch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cifar.config.fields import Bool, Choice, Float, PerBlock
from cifar.config.presets import PRESETS
from cifar.config.settings import FIELDS, MAX_EPOCHS, ModelConfig, config_from_dict
from cifar.errors import ConfigError
from cifar.launch import launcher
from cifar.launch.estimate import check_feasible
from cifar.network.build import build_model, training_targets
from cifar.network.size import parameter_count
from cifar.runs.owner import ALONE
from cifar.runs.run import list_runs


@st.composite
def valid_configs(draw, max_filters: int = 16) -> ModelConfig:
    """Any valid config, kept small enough to build and step in about a second."""
    blocks = draw(st.integers(1, 4))
    per_block = draw(st.booleans())
    filters = draw(st.lists(st.integers(1, max_filters), min_size=blocks if per_block else 1,
                            max_size=blocks if per_block else 1))  # fmt: skip
    return ModelConfig(
        conv_blocks=blocks,
        filters=tuple(filters),
        convs_per_block=(convs := draw(st.integers(1, 2))),
        early_pool=draw(st.booleans()),
        residual=convs > 1 and draw(st.booleans()),
        head=draw(st.sampled_from(FIELDS["head"].choices)),
        weight_decay=draw(st.sampled_from([0.0, 0.0005, 0.1])),
        test_time_flip=draw(st.booleans()),
        mixed_precision=draw(st.booleans()),
        kernel_size=draw(st.sampled_from([1, 3, 5, 7])),
        dense_units=draw(st.integers(0, 32)),
        batch_norm=draw(st.booleans()),
        dropout=draw(st.floats(0, 0.95)),
        dense_dropout=draw(st.floats(0, 0.95)),
        label_smoothing=draw(st.floats(0, 0.3)),
        augment=draw(st.booleans()),
        optimizer=draw(st.sampled_from(FIELDS["optimizer"].choices)),
        learning_rate=draw(st.floats(1e-5, 0.1)),
        lr_schedule=draw(st.sampled_from(FIELDS["lr_schedule"].choices)),
        batch_size=draw(st.integers(1, 64)),
        epochs=draw(st.integers(1, MAX_EPOCHS)),
        train_size=draw(st.none() | st.integers(10, 50_000)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@pytest.mark.slow  # 25 networks built and trained a step: about 40 s
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=valid_configs())
def test_every_valid_config_builds_and_takes_a_training_step(config):
    model = build_model(config)
    assert model.count_params() == parameter_count(config)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 8)
    # The targets as the trainer hands them to `fit`: one-hot rows when the labels are smoothed.
    loss = model.train_on_batch(images, training_targets(config, labels), return_dict=True)["loss"]
    assert math.isfinite(loss)
    assert model.predict(images, verbose=0).shape == (8, 10)
    assert config_from_dict(config.to_dict()) == config  # the JSON form round-trips


# For each field, values it must refuse: out of range, the wrong type, NaN.
INVALID = {
    "conv_blocks": [0, 5, -1, 1.5, "2", True, None],
    "filters": [0, 513, -8, (32, 64, 128), (), "32", 1.5, None],
    "convs_per_block": [0, 5, 2.0, False],
    "kernel_size": [0, 2, 4, 9, -3, 3.0],
    "dense_units": [-1, 4097, 12.5, "128"],
    "batch_norm": [1, "yes", None],
    "dropout": [1.0, -0.1, 2, math.nan, "0.5", True],
    "dense_dropout": [1.0, -0.5, math.nan],
    "label_smoothing": [-0.1, 0.31, math.nan, "0.1", True],
    "augment": [0, "no"],
    "early_pool": [1, "yes"],
    "residual": [None, "on"],
    "head": ["Flatten", "avg", "", 0],
    "weight_decay": [-0.001, 0.2, math.nan, "0.01"],
    "test_time_flip": [2, "flip"],
    "mixed_precision": ["bfloat16", 16],
    "optimizer": ["Adam", "lbfgs", "", 1],
    "learning_rate": [0, -0.001, 10.5, math.nan, math.inf, "0.01", True],
    "lr_schedule": ["Cosine", "linear", "", None, 1],
    "batch_size": [0, 4097, 10.0, None],
    "epochs": [0, MAX_EPOCHS + 1, -1, 2.5],
    "train_size": [0, 9, 1_000_001, 100.5, "every", True],
    "seed": [-1, 2**31, 0.5],
}


def allowed_words(name: str, value) -> str:
    """What a refusal of `value` must say is allowed, made from the field's bounds or choices."""
    field = FIELDS[name]
    if isinstance(field, Float):
        if not (field.low_open or field.high_open):
            return f"from {field.low:g} to {field.high:g}"
        low = f"{'above' if field.low_open else 'at least'} {field.low:g}"
        return f"{low} and {'below' if field.high_open else 'at most'} {field.high:g}"
    if isinstance(field, Bool):
        return "true or false"
    if isinstance(field, Choice):
        return "one of " + ", ".join(field.choices)
    if getattr(field, "choices", ()):
        return "one of " + ", ".join(str(choice) for choice in field.choices)  # a few whole numbers
    numbers = value if isinstance(value, tuple) else ()
    if isinstance(field, PerBlock) and numbers and all(field.low <= number <= field.high for number in numbers):
        return f"one value for all blocks or one per block ({field.count_field} is"  # too many values
    return f"{field.low} to {field.high}"


def shown(value) -> str:
    """The value as a refusal prints it: text quoted, numbers as Python writes them."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple) and len(value) > 1:
        return ", ".join(str(number) for number in value)
    return str(value[0] if isinstance(value, tuple) and value else value)


def assert_names_field_value_and_allowed(error: ConfigError, name: str, value) -> None:
    """The refusal reads "<field> must be <allowed>; got <value>": the field's own name first,
    then what is allowed, then the value given."""
    message = str(error)
    rule, _, given = message.partition("; got ")
    assert rule.startswith(f"{name} must "), message  # `dropout`, not `dense_dropout`
    assert allowed_words(name, value) in rule, message
    assert shown(value) in given, message


def test_the_readmes_example_of_a_refusal():
    with pytest.raises(ConfigError) as refused:
        config_from_dict({**ModelConfig().to_dict(), "dropout": 1.5})
    assert str(refused.value) == "dropout must be at least 0 and below 1; got 1.5"


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, values in INVALID.items() for v in values])
def test_every_invalid_config_is_refused_naming_the_field_the_value_and_what_is_allowed(field, value):
    values = ModelConfig().to_dict()
    values[field] = value
    if field == "filters" and value == (32, 64, 128):
        values["conv_blocks"] = 2  # three values for two blocks
    with pytest.raises(ConfigError) as refused:
        config_from_dict(values)
    assert_names_field_value_and_allowed(refused.value, field, value)


RANGES = {
    "conv_blocks": (1, 4),
    "filters": (1, 512),
    "convs_per_block": (1, 4),
    "dense_units": (0, 4096),
    "batch_size": (1, 4096),
    "epochs": (1, MAX_EPOCHS),
    "train_size": (10, 1_000_000),
    "seed": (0, 2**31 - 1),
}


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_whole_number_out_of_range_is_refused_naming_the_field_and_its_bounds(data):
    field = data.draw(st.sampled_from(sorted(RANGES)))
    low, high = RANGES[field]
    value = data.draw(st.integers(max_value=low - 1) | st.integers(min_value=high + 1))
    with pytest.raises(ConfigError) as refused:
        config_from_dict({**ModelConfig().to_dict(), field: value})
    assert_names_field_value_and_allowed(refused.value, field, value)
    assert f"from {low} to {high}" in str(refused.value)  # the bounds as this test knows them


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(["dropout", "dense_dropout", "label_smoothing", "learning_rate"]),
    value=st.floats(allow_nan=True),
)
def test_any_fraction_or_rate_out_of_range_is_refused_naming_the_field_and_its_range(field, value):
    valid = {"learning_rate": 0 < value <= 10, "label_smoothing": 0 <= value <= 0.3}.get(field, 0 <= value < 1)
    values = {**ModelConfig().to_dict(), field: value}
    if valid:
        assert getattr(config_from_dict(values), field) == value
    else:
        with pytest.raises(ConfigError) as refused:
            config_from_dict(values)
        assert_names_field_value_and_allowed(refused.value, field, value)


@settings(max_examples=50, deadline=None)
@given(name=st.text(min_size=1, max_size=20).filter(lambda n: n not in FIELDS))
def test_unknown_fields_are_refused_by_name(name):
    with pytest.raises(ConfigError, match="unknown config field"):
        config_from_dict({**ModelConfig().to_dict(), name: 1})


HUGE = ModelConfig(conv_blocks=4, filters=(512,), convs_per_block=4, kernel_size=7, dense_units=4096, batch_size=4096)


def test_a_network_that_would_not_fit_is_refused_with_the_estimate():
    verdict = check_feasible(HUGE, 50_000, 10_000, available_bytes=16e9)
    assert verdict.refusal and "GB of memory" in verdict.refusal and "16.0 GB free" in verdict.refusal
    assert "batch size" in verdict.refusal  # and what to change
    assert check_feasible(PRESETS["tutorial"].config, 50_000, 10_000, available_bytes=16e9).refusal is None
    # Memory grows with the batch: the same network at batch 8 fits.
    assert check_feasible(HUGE.replace(batch_size=8), 50_000, 10_000, available_bytes=64e9).refusal is None


def test_a_run_of_hours_is_warned_about_with_the_estimate():
    verdict = check_feasible(PRESETS["tutorial"].config.replace(epochs=100), 50_000, 10_000, available_bytes=16e9)
    assert verdict.refusal is None and len(verdict.warnings) == 1
    assert " h here. Fewer epochs" in verdict.warnings[0]
    assert not check_feasible(PRESETS["quick"].config, 50_000, 10_000, available_bytes=16e9).warnings


def test_refused_before_launch_by_the_launcher_and_the_command_line(runs_dir):
    with pytest.raises(ConfigError, match="GB of memory"):
        launcher.launch(HUGE, runs_dir=runs_dir, person=ALONE)
    result = run_cli("train", "--conv-blocks", "4", "--filters", "512", "--convs-per-block", "4", "--kernel-size",
                     "7", "--dense-units", "4096", "--batch-size", "4096", "--runs-dir", str(runs_dir))  # fmt: skip
    assert result.returncode == 2 and "GB of memory" in result.stderr and not result.stdout
    assert list_runs(runs_dir) == []  # nothing was created


def test_the_command_line_warns_about_a_long_run(runs_dir, tmp_path):
    result = run_cli("train", "--epochs", "100", "--data", str(tmp_path / "missing"), "--runs-dir", str(runs_dir))
    assert "warning: This run would take about" in result.stderr and result.returncode == 1


def test_a_runs_folder_that_cannot_be_written_is_a_clear_error(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("a file, not a folder")
    result = run_cli("train", "--preset", "quick", "--runs-dir", str(blocker))
    assert result.returncode == 2 and "Cannot create a run in" in result.stderr and "writable" in result.stderr
    assert "Traceback" not in result.stderr
