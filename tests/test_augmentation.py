"""The augmentation preview: made by the model's own layers, and it flips and shifts as they do."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import app_page
from streamlit.testing.v1 import AppTest
from synthetic import make_images

from cifar.config.presets import preset
from cifar.config.settings import ModelConfig
from cifar.network.build import augmentation_layers, augmentation_preview, build_model

AUGMENTED = ModelConfig(augment=True, seed=7)
SHIFT_PIXELS = 0.1 * 32  # RandomTranslation(0.1, 0.1): at most a tenth of the side each way


def _without_seed(layer) -> dict:
    return {key: value for key, value in layer.get_config().items() if key != "seed"}


def test_the_preview_layers_are_the_models_own():
    model = build_model(AUGMENTED)
    layers = augmentation_layers(AUGMENTED)
    assert [layer.name for layer in layers] == ["random_flip", "random_shift"]
    model_names = [layer.name for layer in model.layers]
    assert model_names[1:4] == ["rescale", "random_flip", "random_shift"]
    for layer in layers:
        in_model = model.get_layer(layer.name)
        assert type(layer) is type(in_model) and layer.get_config() == in_model.get_config()
        assert in_model.get_config()["seed"] == AUGMENTED.seed
    reseeded = augmentation_layers(AUGMENTED, seed=3)
    assert [_without_seed(layer) for layer in reseeded] == [_without_seed(layer) for layer in layers]
    assert [layer.get_config()["seed"] for layer in reseeded] == [3, 3]
    assert augmentation_layers(ModelConfig()) == []


def test_the_preview_is_what_the_model_feeds_its_first_convolution_in_training():
    """With the model's seed, the preview equals the output of the model's own `random_shift`
    layer on its first training batch, the same images in the same order."""
    import keras

    images, _ = make_images(8, seed=3)
    model = build_model(AUGMENTED)
    augmented = keras.Model(model.input, model.get_layer("random_shift").output)
    seen = np.asarray(augmented(np.repeat(images, 3, axis=0), training=True))
    preview = augmentation_preview(AUGMENTED, images, draws=3, seed=AUGMENTED.seed)
    expected = np.clip(np.round(seen * 255), 0, 255).astype(np.uint8).reshape(8, 3, 32, 32, 3)
    assert np.abs(preview.astype(int) - expected).max() <= 1


def test_shape_dtype_and_seeds():
    images, _ = make_images(8)
    first = augmentation_preview(AUGMENTED, images, draws=3, seed=1)
    assert first.shape == (8, 3, 32, 32, 3) and first.dtype == np.uint8
    assert np.array_equal(first, augmentation_preview(AUGMENTED, images, draws=3, seed=1))
    assert not np.array_equal(first, augmentation_preview(AUGMENTED, images, draws=3, seed=2))
    assert not np.array_equal(first[:, 0], first[:, 1])  # the draws of one image differ
    assert augmentation_preview(AUGMENTED, images[:2], draws=1).shape == (2, 1, 32, 32, 3)
    assert augmentation_preview(ModelConfig(), images) is None
    assert augmentation_preview(preset("tutorial"), images) is None


@pytest.mark.parametrize(("images", "draws"), [(np.zeros((2, 32, 32), np.uint8), 3), (np.zeros((2, 32, 32, 3)), 0)])
def test_bad_input_is_refused(images, draws):
    with pytest.raises(ValueError, match="must"):
        augmentation_preview(AUGMENTED, images, draws=draws)


def _quadrants() -> np.ndarray:
    """Red on the right half, green on the bottom half: a left-right flip moves the red to the
    left, a top-bottom flip would move the green up, and a shift moves the halves' borders."""
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, 16:, 0] = 255
    image[16:, :, 1] = 255
    return image


def test_it_flips_left_right_and_shifts_by_at_most_a_tenth():
    """Checked against the image itself, not against Keras: away from the borders (which a shift
    moves by at most 3.2 pixels) each draw is the image or its mirror `image[:, ::-1]`."""
    source = _quadrants()
    draws = augmentation_preview(AUGMENTED, source[None].repeat(8, axis=0), draws=3, seed=0).reshape(-1, 32, 32, 3)
    far = np.r_[0:12, 20:32]  # rows or columns more than 4 pixels from the middle
    flipped = []
    for draw in draws:
        is_mirror = np.array_equal(draw[far][:, far], source[:, ::-1][far][:, far])
        assert is_mirror or np.array_equal(draw[far][:, far], source[far][:, far])
        flipped.append(is_mirror)
    assert 0 < sum(flipped) < len(draws), "some draws are mirrored and some are not"
    # How far each border moved: the red area is (16 - shift) columns wide, the green (16 - shift) rows.
    shifts = np.stack([draws[..., 0].mean(axis=(1, 2)), draws[..., 1].mean(axis=(1, 2))], axis=1) / 255 * 32 - 16
    assert np.abs(shifts).max() <= SHIFT_PIXELS + 0.1
    assert (shifts.std(axis=0) > 0.5).all(), "both borders move, by different amounts in different draws"


def _train_page(batches_dir, monkeypatch) -> AppTest:
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    return app_page("train")


def test_train_page_shows_the_preview_only_with_augmentation(batches_dir, monkeypatch):
    at = _train_page(batches_dir, monkeypatch).run()
    assert not at.exception
    assert not at.image and "new_augmentations" not in [button.key for button in at.button]
    at.toggle(key="cfg_augment").set_value(True).run()
    assert not at.exception
    rows = at.image[0].value
    assert len(rows) == 8
    assert at.run().image[0].value == rows, "a rerun draws the same"
    at.button(key="new_augmentations").click().run()
    assert not at.exception and len(at.image[0].value) == 8
    assert set(at.image[0].value).isdisjoint(rows), "every row has new draws"
    at.toggle(key="cfg_augment").set_value(False).run()
    assert not at.exception and not at.image


def test_train_page_without_data_shows_no_preview(tmp_path, monkeypatch):
    at = _train_page(tmp_path / "missing", monkeypatch).run()
    at.toggle(key="cfg_augment").set_value(True).run()
    assert not at.exception and not at.image
