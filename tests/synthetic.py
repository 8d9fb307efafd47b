"""Small CIFAR-10-shaped datasets written to disk in the formats the loader reads.

Each class gets its own colour and stripe direction plus noise, so a tiny CNN learns it in
an epoch or two: tests can check that training does something, in seconds.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from cifar.data import CLASS_NAMES


def make_images(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` uint8 images (count, 32, 32, 3) and labels, classes in turn 0, 1, ... 9, 0, ..."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(CLASS_NAMES)
    colours = np.random.default_rng(1234).integers(40, 216, size=(len(CLASS_NAMES), 3))
    rows = np.arange(32)[:, None]
    cols = np.arange(32)[None, :]
    images = np.empty((count, 32, 32, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        stripes = ((rows if label % 2 else cols) // (2 + label // 2)) % 2  # (32, 1) or (1, 32)
        stripes = np.broadcast_to(stripes, (32, 32))
        base = colours[label][None, None, :] * (0.6 + 0.4 * stripes[..., None])
        noise = rng.normal(0, 12, size=(32, 32, 3))
        images[i] = np.clip(base + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.uint8)


def write_batches(folder: Path, train: int = 200, test: int = 100, batches: int = 5) -> Path:
    """The official python format: data_batch_1..N, test_batch, batches.meta."""
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = make_images(train, seed=1)
    x_test, y_test = make_images(test, seed=2)
    for i, (x, y) in enumerate(zip(np.array_split(x_train, batches), np.array_split(y_train, batches), strict=True), 1):
        _dump_batch(folder / f"data_batch_{i}", x, y)
    _dump_batch(folder / "test_batch", x_test, y_test)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({b"label_names": [n.encode() for n in CLASS_NAMES]}, handle)
    return folder


def _dump_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    flat = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # CIFAR's channel-first rows
    with open(path, "wb") as handle:
        pickle.dump({b"data": flat, b"labels": [int(v) for v in labels]}, handle)


def write_archive(path: Path, train: int = 200, test: int = 100) -> Path:
    """The official `cifar-10-python.tar.gz` layout: cifar-10-batches-py/ inside."""
    folder = write_batches(path.parent / "archive-src" / "cifar-10-batches-py", train, test)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return path


def write_tree(root: Path, train: int = 200, test: int = 100, suffix: str = ".png") -> Path:
    """An image-folder tree: <root>/{train,test}/<class>/NNNN.png."""
    for split, count, seed in (("train", train, 1), ("test", test, 2)):
        images, labels = make_images(count, seed)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            folder = root / split / CLASS_NAMES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"{i:04d}{suffix}")
    return root
