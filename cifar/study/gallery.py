"""Choosing which images a page shows: samples per class, filters over predictions, paging."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cifar.errors import ConfigError

SORTS = ("confident mistakes first", "most confident first", "least confident first", "test-set order")


def class_counts(labels: np.ndarray, num_classes: int) -> list[int]:
    """How many images of each class."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).tolist()


def samples_per_class(labels: np.ndarray, num_classes: int, per_class: int, seed: int = 0) -> list[np.ndarray]:
    """For each class, up to `per_class` image indices chosen at random (fixed by `seed`)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(num_classes):
        indices = np.flatnonzero(labels == label)
        chosen.append(np.sort(rng.choice(indices, size=min(per_class, len(indices)), replace=False)))
    return chosen


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement: every pixel becomes a `scale`×`scale` block, edges stay crisp."""
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


@dataclass(frozen=True)
class Page:
    indices: np.ndarray
    number: int  # 1-based, clamped into range
    count: int  # how many pages in all (at least 1)
    total: int  # how many items in all


def page_of(indices: np.ndarray, number: int, per_page: int) -> Page:
    """Page `number` (1-based) of `indices`, `per_page` at a time; out-of-range numbers are clamped."""
    count = max(1, math.ceil(len(indices) / per_page))
    number = min(max(1, int(number)), count)
    start = (number - 1) * per_page
    return Page(np.asarray(indices)[start : start + per_page], number, count, len(indices))


def filter_predictions(
    labels: np.ndarray,
    probabilities: np.ndarray,
    true_class: int | None = None,
    predicted_class: int | None = None,
    correctness: str = "all",
    confidence: tuple[float, float] = (0.0, 1.0),
    sort: str = SORTS[0],
) -> np.ndarray:
    """Indices of test images matching every filter, in the chosen order.

    Args:
        labels: true class of each image.
        probabilities: class probabilities, one row per image.
        true_class: keep only this true class (None: any).
        predicted_class: keep only this predicted class (None: any).
        correctness: "all", "right" or "wrong".
        confidence: keep images whose top probability lies in [low, high].
        sort: one of SORTS; "confident mistakes first" puts wrong answers first, each group
            most confident first: the mistakes that teach most.

    Raises:
        ConfigError: an unknown `correctness` or `sort`.
    """
    if correctness not in ("all", "right", "wrong"):
        raise ConfigError(f"correctness must be all, right or wrong; got {correctness!r}")
    if sort not in SORTS:
        raise ConfigError(f"sort must be one of {', '.join(SORTS)}; got {sort!r}")
    probabilities = np.asarray(probabilities, dtype=np.float32)
    predicted = np.argmax(probabilities, axis=1)
    top = probabilities.max(axis=1)
    right = predicted == labels
    keep = (top >= confidence[0]) & (top <= confidence[1])
    if true_class is not None:
        keep &= labels == true_class
    if predicted_class is not None:
        keep &= predicted == predicted_class
    if correctness != "all":
        keep &= right if correctness == "right" else ~right
    indices = np.flatnonzero(keep)
    if sort == "test-set order":
        return indices
    if sort == "least confident first":
        return indices[np.argsort(top[indices], kind="stable")]
    order = np.argsort(-top[indices], kind="stable")
    indices = indices[order]
    if sort == "confident mistakes first":
        indices = np.concatenate([indices[~right[indices]], indices[right[indices]]])
    return indices


def strip(images: np.ndarray, scale: int, gap: int = 2, background: int = 255) -> np.ndarray:
    """Images side by side, each enlarged `scale`× (nearest neighbour), `gap` pixels apart."""
    tiles = [enlarge(image, scale) for image in images]
    height = max(tile.shape[0] for tile in tiles)
    spacer = np.full((height, gap, 3), background, dtype=np.uint8)
    parts = []
    for tile in tiles:
        parts += [tile, spacer]
    return np.concatenate(parts[:-1], axis=1)


def class_member(labels: np.ndarray, class_index: int, number: int) -> int:
    """The index of the `number`-th image (from 0, clamped into range) of class `class_index`."""
    members = np.flatnonzero(np.asarray(labels) == class_index)
    if not len(members):
        raise ConfigError(f"there is no image of class {class_index}")
    return int(members[min(max(0, int(number)), len(members) - 1)])


def place_in_class(labels: np.ndarray, index: int) -> tuple[int, int]:
    """(class, number within its class) of image `index`: the inverse of `class_member`."""
    labels = np.asarray(labels)
    class_index = int(labels[index])
    return class_index, int(np.count_nonzero(labels[:index] == class_index))


def with_article(noun: str) -> str:
    """'an airplane', 'a cat'."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
