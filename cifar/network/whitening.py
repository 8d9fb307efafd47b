"""The whitening first layer of the `record` recipe (airbench's): a 2×2 convolution, frozen,
whose filters are the eigenvectors of the training images' 2×2 patches, each scaled by one
over the square root of its eigenvalue, and each again with its sign flipped. Its output has
the patches' correlations removed: every direction of colour and texture a patch varies in
comes out with the same spread, so the first learnt layer need not find them itself.

Pure NumPy: the trainer computes the filters from its own training images (`whitening_weights`)
and sets them into the built model (`set_whitening`); a saved model keeps them with its weights.
"""

from __future__ import annotations

import numpy as np

PATCH = 2  # the filters' side, in pixels
CHANNELS = 2 * PATCH * PATCH * 3  # one filter per eigenvector, and its negative: 24
SAMPLE = 5_000  # training images the patch statistics are read from (airbench: 5,000)
EPSILON = 5e-4  # added to each eigenvalue, so a direction of almost no variance is not blown up


def patches(images: np.ndarray) -> np.ndarray:
    """Every 2×2 patch of `images` (uint8, N×32×32×3) as floats in [0, 1], one row each, in the
    order a Keras kernel (height, width, channel) reads them: (N·31·31, 12)."""
    x = np.asarray(images, dtype=np.float32) / 255
    windows = np.lib.stride_tricks.sliding_window_view(x, (PATCH, PATCH), axis=(1, 2))  # N, 31, 31, 3, 2, 2
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, PATCH * PATCH * 3)


def whitening_weights(images: np.ndarray, epsilon: float = EPSILON) -> tuple[np.ndarray, np.ndarray]:
    """The frozen layer's kernel, (2, 2, 3, 24), and bias, (24,), from the patches of up to
    SAMPLE of `images`.

    Filter k (k < 12) is eigenvector k of the patches' covariance divided by √(eigenvalue +
    epsilon), the largest eigenvalue first; filter k + 12 is its negative, so that the
    activation after it keeps both signs. The bias centres each output on the mean patch.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ValueError(f"whitening needs colour images (N, H, W, 3); got the shape {images.shape}")
    rows = patches(images[:SAMPLE]).astype(np.float64)
    values, vectors = np.linalg.eigh(np.cov(rows, rowvar=False))  # ascending
    order = np.argsort(values)[::-1]
    filters = vectors[:, order] / np.sqrt(values[order] + epsilon)  # (12, 12): one column per filter
    both = np.concatenate([filters, -filters], axis=1)  # (12, 24)
    bias = -rows.mean(axis=0) @ both
    return both.reshape(PATCH, PATCH, 3, CHANNELS).astype(np.float32), bias.astype(np.float32)


def set_whitening(model, images: np.ndarray) -> None:
    """Set the model's whitening layer (named "whiten") to the filters of `images`."""
    model.get_layer("whiten").set_weights(list(whitening_weights(images)))
