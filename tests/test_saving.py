"""A run's model file and per-epoch weights (cifar/network/saving.py): what is written on disk,
what loads back, and which files are refused, in which words, without running their code."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from cifar.errors import RunError
from cifar.network import saving


def _model(seed: int = 0, dense_units: int = 16):
    """A small Keras model with more than ten weight arrays, so their order is put to the test."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for index in range(5):
        x = layers.Conv2D(4, 3, padding="same", activation="relu", name=f"conv{index}")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(layers.GlobalAveragePooling2D()(x))
    outputs = layers.Dense(10, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs)


def _images(count: int = 3) -> np.ndarray:
    return np.random.default_rng(0).random((count, 32, 32, 3), dtype=np.float32)


def test_a_saved_model_loads_back_with_the_same_answers_and_leaves_no_temporary_file(tmp_path):
    model = _model()
    path = tmp_path / "model.keras"
    saving.save_model(model, path)
    assert zipfile.is_zipfile(path) and [p.name for p in tmp_path.iterdir()] == ["model.keras"]
    loaded = saving.load_model(path, "run-1")
    np.testing.assert_allclose(loaded.predict(_images(), verbose=0), model.predict(_images(), verbose=0), atol=1e-6)


def test_saving_again_replaces_the_model(tmp_path):
    path = tmp_path / "model.keras"
    saving.save_model(_model(seed=0), path)
    later = _model(seed=1)
    saving.save_model(later, path)
    loaded = saving.load_model(path, "run-1")
    np.testing.assert_allclose(loaded.get_layer("out").get_weights()[0], later.get_layer("out").get_weights()[0])


def test_the_weights_file_holds_the_layers_arrays_in_order_and_nothing_else(tmp_path):
    model = _model()
    path = tmp_path / "epoch-001.npz"
    saving.save_weights(model, path)
    weights = model.get_weights()
    assert len(weights) > 10
    with np.load(path, allow_pickle=False) as stored:
        assert len(stored.files) == len(weights)  # no optimizer state
        for name, array in zip(sorted(stored.files), weights, strict=True):
            np.testing.assert_array_equal(stored[name], array)
    with zipfile.ZipFile(path) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def test_weights_load_into_a_fresh_model_of_the_same_layers(tmp_path):
    trained, fresh = _model(seed=0), _model(seed=1)
    path = tmp_path / "epoch-001.npz"
    saving.save_weights(trained, path)
    assert not np.allclose(fresh.predict(_images(), verbose=0), trained.predict(_images(), verbose=0))
    saving.load_weights(fresh, path, "Epoch 1's weights")
    for loaded, saved in zip(fresh.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, saved)


def test_weights_of_another_network_are_refused_saying_so(tmp_path):
    path = tmp_path / "epoch-001.npz"
    saving.save_weights(_model(dense_units=16), path)
    other = _model(dense_units=8)
    before = other.get_weights()
    with pytest.raises(RunError, match=r"^Epoch 1's weights does not fit the run's network \(14 arrays for 14\)\.$"):
        saving.load_weights(other, path, "Epoch 1's weights")
    for kept, was in zip(other.get_weights(), before, strict=True):
        np.testing.assert_array_equal(kept, was)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_a_damaged_weights_file_is_refused_in_words(damage, tmp_path):
    path = tmp_path / "epoch-001.npz"
    saving.save_weights(_model(), path)
    if damage == "garbage":
        path.write_bytes(b"not a zip")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.unlink()
    with pytest.raises(RunError, match=r"^Epoch 1's weights is damaged \(.*\); choose another epoch\.$"):
        saving.load_weights(_model(), path, "Epoch 1's weights")


def test_a_run_without_a_model_file_has_no_model_yet(tmp_path):
    with pytest.raises(RunError, match=r"^Run run-7 has no model yet: no epoch has finished\.$"):
        saving.load_model(tmp_path / "model.keras", "run-7")


def test_a_model_file_that_is_a_link_is_refused_even_to_a_good_model(tmp_path):
    elsewhere = tmp_path / "elsewhere.keras"
    saving.save_model(_model(), elsewhere)
    (tmp_path / "run").mkdir()
    link = tmp_path / "run" / "model.keras"
    link.symlink_to(elsewhere)
    with pytest.raises(RunError, match=r"^Run run-7's model\.keras is a link to another file"):
        saving.load_model(link, "run-7")


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"this is not a zip file", "it is not a .keras archive"),
        (b"", "it is not a .keras archive"),
        (None, "it is not a .keras archive"),  # the first half of a real model
    ],
    ids=["garbage", "empty", "truncated"],
)
def test_a_damaged_model_file_is_refused_saying_what_still_shows(content, detail, tmp_path):
    path = tmp_path / "model.keras"
    saving.save_model(_model(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2] if content is None else content)
    with pytest.raises(RunError) as refused:
        saving.load_model(path, "run-7")
    message = str(refused.value)
    assert message.startswith("Run run-7's model.keras is damaged or is not a Keras model this app can read (")
    assert detail in message and message.endswith("train it again for a model.")


def test_a_zip_that_is_not_a_keras_model_is_refused_with_kerass_reason(tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(RunError) as refused:
        saving.load_model(path, "run-7")
    assert "is damaged or is not a Keras model" in str(refused.value)
    assert "it is not a .keras archive" not in str(refused.value)


def _save_lambda_model(path: Path, marker: Path) -> None:
    """A model whose Lambda layer creates `marker` whenever its code runs."""
    import keras
    from keras import layers

    # eval: the marker's path becomes a constant inside the lambda's own code object.
    body = eval(f"lambda t: (__import__('pathlib').Path({str(marker)!r}).touch(), t)[1]")
    inputs = keras.Input((32, 32, 3))
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(layers.Lambda(body)(inputs)))
    keras.Model(inputs, outputs).save(path)
    marker.unlink()  # building the model ran it once, here, on purpose


def test_a_model_that_carries_code_is_refused_and_its_code_never_runs(tmp_path):
    marker, path = tmp_path / "code-ran", tmp_path / "model.keras"
    _save_lambda_model(path, marker)
    kept = path.read_bytes()
    with pytest.raises(RunError) as refused:
        saving.load_model(path, "run-7")
    assert not marker.exists()
    assert str(refused.value).startswith("Run run-7's model holds Python code (a Lambda or custom layer)")
    assert path.read_bytes() == kept
