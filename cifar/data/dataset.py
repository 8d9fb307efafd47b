"""What every part of the loader shares: the class names, the Dataset, and where to get the data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cifar.errors import DataError

CLASS_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
OFFICIAL_ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_NAME = "cifar-10-python.tar.gz"  # the official archive's file name, kept as it is
OFFICIAL_PAGE_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"  # the page that publishes it

HOW_TO_GET_DATA = (
    "Download the CIFAR-10 python archive (cifar-10-python.tar.gz, 163 MB) from "
    f"{OFFICIAL_ARCHIVE_URL} and point CIFAR10_DIR at it (or at its unpacked "
    "cifar-10-batches-py folder, or at an image tree <root>/train/<class>/*.png and "
    "<root>/test/<class>/*.png), or pass --data PATH."
)


class UnusableSource(DataError):
    """No CIFAR-10 where the loader looked: the problem, then where to get the data.

    The message ends with advice for the command line (`HOW_TO_GET_DATA`); a page that offers
    its own way to get the data shows `problem` alone.
    """

    def __init__(self, problem: str):
        super().__init__(f"{problem} {HOW_TO_GET_DATA}")
        self.problem = problem  # what was wrong, in words, without the advice


# One split as every source yields it, in the shape of Keras' `load_data()`: images
# (N, 32, 32, 3) and their labels (N,).
Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Dataset:
    """CIFAR-10 in memory: uint8 images, integer labels and the class names."""

    x_train: np.ndarray  # (N, 32, 32, 3) uint8
    y_train: np.ndarray  # (N,) uint8, class indices 0..9
    x_test: np.ndarray  # (M, 32, 32, 3) uint8
    y_test: np.ndarray  # (M,) uint8
    class_names: tuple[str, ...]
    source: str  # where it came from, in words

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
