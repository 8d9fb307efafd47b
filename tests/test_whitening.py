"""The whitening first layer (cifar/network/whitening.py): its filters turn the training images'
2×2 patches into outputs with no correlation and the same spread, in Keras' own kernel layout."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cifar.network.whitening import CHANNELS, EPSILON, patches, whitening_weights


def _correlated_images(count: int = 300, seed: int = 0) -> np.ndarray:
    """Images whose neighbouring pixels and colours are strongly alike, as photographs' are."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (count, 8, 8, 1))
    grey = np.kron(coarse, np.ones((1, 4, 4, 1)))  # 4×4 blocks of one value
    colour = grey * np.array([1.0, 0.8, 0.6]) + rng.normal(0, 12, (count, 32, 32, 3))
    return np.clip(colour, 0, 255).astype(np.uint8)


def test_whitened_patches_have_no_correlation_and_the_same_spread():
    images = _correlated_images()
    rows = patches(images).astype(np.float64)
    assert np.corrcoef(rows, rowvar=False)[0, 1] > 0.9  # before: neighbours nearly the same
    kernel, bias = whitening_weights(images)
    assert kernel.shape == (2, 2, 3, CHANNELS) and bias.shape == (CHANNELS,)
    white = rows @ kernel.reshape(12, CHANNELS).astype(np.float64) + bias
    first = white[:, :12]
    assert np.allclose(first.mean(axis=0), 0, atol=1e-3)
    values = np.linalg.eigvalsh(np.cov(rows, rowvar=False))[::-1]
    expected = values / (values + EPSILON)  # one, but for the directions of almost no variance
    assert np.allclose(np.cov(first, rowvar=False), np.diag(expected), atol=1e-3)
    assert np.allclose(white[:, 12:], -first, atol=1e-4)  # each filter and its negative


def test_keras_convolution_with_the_kernel_gives_the_same_numbers():
    images = _correlated_images(40, seed=1)
    kernel, bias = whitening_weights(images)
    layer = keras.layers.Conv2D(CHANNELS, 2, padding="valid")
    layer.build((None, 32, 32, 3))
    layer.set_weights([kernel, bias])
    convolved = np.asarray(layer(images.astype(np.float32) / 255)).reshape(-1, CHANNELS)
    by_hand = patches(images) @ kernel.reshape(12, CHANNELS) + bias
    assert np.allclose(convolved, by_hand, atol=1e-4)


@pytest.mark.parametrize("shape", [(0, 32, 32, 3), (5, 32, 32), (5, 32, 32, 1)])
def test_anything_but_colour_images_is_refused_in_words(shape):
    with pytest.raises(ValueError, match="whitening needs colour images"):
        whitening_weights(np.zeros(shape, np.uint8))
