"""Whether Grad-CAM's maps say something true about the network that made them.

- Deletion (Petsiuk et al. 2018): grey out the pixels an image's map ranks highest; if the map
  is faithful those pixels matter, and the explained class's probability falls further than when
  the same share is greyed where another image's map points (the same blob shapes, in the wrong
  place). Scattered random pixels are no fair baseline: they add edges everywhere.
- Sanity (Adebayo et al. 2018): maps from the same network with random weights should not look
  like the trained network's, so their rank correlation is low.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cifar.study.explain import Inspector

GREY = 128
SHARES = (0.1, 0.2, 0.3, 0.4)  # of the 1,024 pixels, greyed in turn


@dataclass(frozen=True)
class Deletion:
    """Mean fall of the explained (predicted) class's probability when pixels are greyed."""

    own: float  # the pixels the image's own map ranks highest
    other: float  # the same share, ranked by the map of an image of another predicted class
    images: int
    by_share: tuple[tuple[float, float, float], ...] = ()  # (share, own, other) for each share


def grey_top(images: np.ndarray, maps: np.ndarray, share: float) -> np.ndarray:
    """Copies of `images` (N, 32, 32, 3) with the `share` of pixels that `maps` (N, 32, 32) rank
    highest set to mid-grey."""
    flat_maps = maps.reshape(len(maps), -1)
    count = round(share * flat_maps.shape[1])
    top = np.argsort(-flat_maps, axis=1, kind="stable")[:, :count]
    greyed = images.reshape(len(images), -1, images.shape[-1]).copy()
    np.put_along_axis(greyed, top[..., None], GREY, axis=1)
    return greyed.reshape(images.shape)


def partners(classes: np.ndarray, seed: int = 0) -> np.ndarray:
    """For each image, another image whose class differs (chosen at random, fixed by `seed`)."""
    rng = np.random.default_rng(seed)
    chosen = np.empty(len(classes), dtype=np.int64)
    for i, label in enumerate(classes):
        others = np.flatnonzero(classes != label)
        chosen[i] = rng.choice(others) if len(others) else i
    return chosen


def deletion(inspector: Inspector, images: np.ndarray, shares=SHARES, seed: int = 0) -> Deletion:
    """The deletion test on `images` for each one's predicted class, averaged over `shares`."""
    base = inspector.probabilities(images)
    classes = base.argmax(axis=1)
    _, maps, _ = inspector.grad_cams(images, classes)
    other_maps = maps[partners(classes, seed)]
    rows = np.arange(len(images))

    def drops(ranking: np.ndarray) -> list[float]:
        greyed = [inspector.probabilities(grey_top(images, ranking, share))[rows, classes] for share in shares]
        return [float(np.mean(base[rows, classes] - probabilities)) for probabilities in greyed]

    own, other = drops(maps), drops(other_maps)
    return Deletion(
        float(np.mean(own)), float(np.mean(other)), len(images), tuple(zip(shares, own, other, strict=True))
    )


def rank_correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation of each pair of maps (N, ...); 0 where a map is flat."""
    from scipy.stats import rankdata

    a = rankdata(first.reshape(len(first), -1), axis=1)
    b = rankdata(second.reshape(len(second), -1), axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    norms = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)


def sanity(trained: Inspector, randomised: Inspector, images: np.ndarray) -> float:
    """Mean rank correlation between the trained and the randomised network's maps, each for the
    class the trained network predicts, on the same layer."""
    classes = trained.probabilities(images).argmax(axis=1)
    _, trained_maps, _ = trained.grad_cams(images, classes)
    _, random_maps, _ = randomised.grad_cams(images, classes, trained.default_cam_layer)
    return float(np.mean(rank_correlation(trained_maps, random_maps)))
