"""The map of what a network learned: test images placed by their features in one layer.

Each image's activation in a layer (by default the one the classifier weighs: the features
before the last Dense) is reduced to its first 50 principal components, then laid out in two
dimensions by t-SNE (van der Maaten and Hinton 2008), which keeps near what is near. Classes the
network tells apart form islands; the images it confuses sit on their shores.

Another epoch's map starts from the last epoch's layout and is turned, flipped and scaled onto
it (orthogonal Procrustes), so that replaying the epochs shows the islands forming rather than
the picture spinning. Maps are kept in the cache folder by run, epoch, layer and a digest of
the weights (kept.py): the second look is a read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors

from cifar.errors import CifarError
from cifar.runs.run import Run
from cifar.study import kept
from cifar.study.explain import kept_epoch, map_layers, open_epoch
from cifar.study.gallery import samples_per_class

MAP_IMAGES = 2000  # a fixed, class-balanced sample of the test set: 200 of each class
NEIGHBOURS = 10  # the nearest images in feature space that a chosen point shows
COMPONENTS = 50  # principal components kept before t-SNE: the usual choice, and 5× faster
PERPLEXITY = 30.0  # t-SNE's effective number of neighbours per point (5 to 50 is usual)
# A layout started from another is scaled to this spread first. scikit-learn scales its own
# "pca" start to 1e-4, where early exaggeration moves whole islands: the same features started
# from their own layout landed 0.47 spreads away (4 islands of 30), 0.03 from a spread of 1e-2.
_INIT_SPREAD = 1e-2
_BATCH = 250  # images per forward pass while features are read
POOLED_SIDE = 4  # a convolution layer's maps are averaged down to at most 4×4 before they are mapped
FLAT_KINDS = ("Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dense")
_KEPT = ("indices", "points", "labels", "predicted", "neighbours")  # the arrays a kept map holds


@dataclass(frozen=True)
class FeatureMap:
    """Where each image of a sample lands in the map of one layer, after one epoch."""

    epoch: int
    layer: str
    indices: np.ndarray  # (N,) test-image numbers
    points: np.ndarray  # (N, 2) float32, the t-SNE layout
    labels: np.ndarray  # (N,) true classes
    predicted: np.ndarray  # (N,) the network's answers after `epoch`
    neighbours: (
        np.ndarray
    )  # (N, NEIGHBOURS) positions of each image's nearest in feature space (its 50 principal components)

    def agreement(self) -> float:
        """The share of each image's nearest neighbours (in feature space) that have its true class."""
        return float((self.labels[self.neighbours] == self.labels[:, None]).mean())

    def alike(self, position: int) -> int:
        """How many of the image at `position`'s nearest neighbours share its true class."""
        return int((self.labels[self.neighbours[position]] == self.labels[position]).sum())

    def chance(self) -> float:
        """The share `agreement` would have if neighbours were drawn at random from the sample."""
        counts = np.bincount(self.labels).astype(np.float64)
        total = counts.sum()
        return float((counts * (counts - 1)).sum() / (total * (total - 1))) if total > 1 else 0.0


def embed_layers(model) -> list[str]:
    """The layers a map can be made of, from the first convolution to the last one before the
    classifier: each convolution's activation, each pooling, and each flat layer."""
    spatial = {name for name, _ in map_layers(model)}
    last = model.layers[-1].name
    return [
        layer.name
        for layer in model.layers
        if layer.name != last and (layer.name in spatial or type(layer).__name__ in FLAT_KINDS)
    ]


def default_layer(model) -> str:
    """The layer the classifier weighs: the one whose output is the last Dense's input."""
    return embed_layers(model)[-1]


def check_layer(model, layer: str | None) -> str:
    """`layer`, or the default when None.

    Raises:
        CifarError: there is no such layer to map; the message lists the ones there are.
    """
    layers = embed_layers(model)
    if layer is None:
        return layers[-1]
    if layer not in layers:
        raise CifarError(f"There is no layer {layer!r} to map; this network has {', '.join(layers)}.")
    return layer


def map_sample(labels: np.ndarray, everything: bool = False) -> np.ndarray:
    """The test images a map shows: `MAP_IMAGES` of them, the same number of each class and the
    same images every time, or every one."""
    if everything or len(labels) <= MAP_IMAGES:
        return np.arange(len(labels))
    classes = int(labels.max()) + 1
    return np.sort(np.concatenate(samples_per_class(labels, classes, MAP_IMAGES // classes)))


def features(model, images: np.ndarray, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """Each image's activation in `layer`, flattened (N, D) float32, and the network's answers (N,).

    A convolution's maps are averaged over areas down to at most `POOLED_SIDE`×`POOLED_SIDE`
    first: the first layer of a 32-filter network is 32,768 numbers an image (512 filters:
    524,288), which 10,000 images would make gigabytes, and PCA a multiple of that.
    """
    import keras
    import tensorflow as tf

    probe = keras.Model(model.input, [model.get_layer(layer).output, model.output])
    found, answers = [], []
    for start in range(0, len(images), _BATCH):
        activation, probabilities = probe(images[start : start + _BATCH], training=False)
        activation = tf.cast(activation, tf.float32)
        if len(activation.shape) == 4 and activation.shape[1] > POOLED_SIDE:
            activation = tf.image.resize(activation, (POOLED_SIDE, POOLED_SIDE), method="area")
        found.append(np.asarray(activation).reshape(len(activation), -1))
        answers.append(np.asarray(probabilities).argmax(axis=1))
    return np.concatenate(found), np.concatenate(answers)


def reduce(values: np.ndarray, seed: int = 0) -> np.ndarray:
    """The first principal components of `values` (at most `COMPONENTS`); zeros for a layer
    where every image gives the same features."""
    alive = values[:, values.std(axis=0) > 0]  # a unit that never changes tells no image apart
    components = max(1, min(COMPONENTS, alive.shape[1], len(values) - 1))
    if not alive.shape[1]:
        return np.zeros((len(values), components), np.float32)
    return PCA(components, random_state=seed, svd_solver="auto").fit_transform(alive).astype(np.float32)


def nearest(reduced: np.ndarray, count: int = NEIGHBOURS) -> np.ndarray:
    """Each point's `count` nearest others (Euclidean), nearest first, as positions (N, count)."""
    count = min(count, len(reduced) - 1)
    finder = NearestNeighbors(n_neighbors=count + 1).fit(reduced)
    _, found = finder.kneighbors(reduced)
    return np.asarray([_without_self(row, i, count) for i, row in enumerate(found)], dtype=np.int64)


def _without_self(row: np.ndarray, position: int, count: int) -> np.ndarray:
    others = row[row != position]  # a duplicate image may come before the point itself
    return others[:count]


def layout(reduced: np.ndarray, reference: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Two-dimensional t-SNE coordinates (N, 2), started from `reference` and turned onto it
    when given, else from the first two principal components."""
    if not np.ptp(reduced, axis=0).any():
        return np.zeros((len(reduced), 2), np.float32)  # every point the same: t-SNE would divide by 0
    perplexity = min(PERPLEXITY, max(1.0, (len(reduced) - 1) / 3))
    start = "pca"
    if reference is not None:
        centred = reference - reference.mean(axis=0)
        start = (centred / (centred[:, 0].std() or 1.0) * _INIT_SPREAD).astype(np.float32)
    tsne = TSNE(2, perplexity=perplexity, init=start, learning_rate="auto", random_state=seed)
    points = tsne.fit_transform(reduced).astype(np.float32)
    return points if reference is None else align(points, reference)


def align(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`points` turned, flipped, scaled and moved to lie as close to `reference` as they can
    (orthogonal Procrustes: the shape itself is unchanged)."""
    moved, target = points - points.mean(axis=0), reference - reference.mean(axis=0)
    u, singular, vt = np.linalg.svd(moved.T @ target)
    turn = u @ vt
    spread = float((moved**2).sum())
    scale = float(singular.sum()) / spread if spread > 0 else 1.0
    return (scale * moved @ turn + reference.mean(axis=0)).astype(np.float32)


def make_map(model, images, labels, indices, layer, epoch, reference=None) -> FeatureMap:
    """The map of `layer` for the test images `indices` (images and labels: the whole test set)."""
    values, predicted = features(model, images[indices], layer)
    if not np.isfinite(values).all():
        raise CifarError(
            f"The features in {layer} after epoch {epoch} are not numbers: the training diverged by then. "
            "Choose an earlier epoch."
        )
    reduced = reduce(values)
    if not np.ptp(reduced, axis=0).any():
        raise CifarError(
            f"Every image gives the same features in {layer} after epoch {epoch}: that layer is dead (every unit "
            "silent or fixed), so there is nothing to map. Choose an earlier layer or another epoch."
        )
    points = layout(reduced, reference)
    chosen = np.asarray(labels)[indices].astype(np.int64)
    return FeatureMap(epoch, layer, indices, points, chosen, predicted.astype(np.int64), nearest(reduced))


def map_of(
    run: Run,
    images: np.ndarray,
    labels: np.ndarray,
    epoch: int | None = None,
    layer: str | None = None,
    everything: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> FeatureMap:
    """The map of `run`'s network after `epoch` (default: its last kept), kept in the cache.

    Args:
        images, labels: the test set the run was tested on (uint8 images).
        layer: a name from `embed_layers` (default: the classifier's input).
        everything: map every test image rather than the fixed sample of `MAP_IMAGES`.
        on_step: told in words what is being done, for a page's spinner.

    Raises:
        RunError: no kept epoch, an epoch not kept, or a network that cannot be opened.
        CifarError: a layer that does not exist (the message lists them).
    """
    last = kept_epoch(run)
    epoch = kept_epoch(run, epoch)  # says in words when there is no such epoch
    sample = map_sample(labels, everything)
    detail = _detail(run, epoch, last, everything, images[sample])
    found = None if layer is None else _kept_map(run, epoch, layer, detail)
    if found is not None:
        return found
    model = open_epoch(run, epoch)
    layer = check_layer(model, layer)
    found = _kept_map(run, epoch, layer, detail)
    if found is not None:
        return found
    reference = None if epoch == last else map_of(run, images, labels, last, layer, everything, on_step).points
    if on_step:
        on_step(f"Placing {len(sample):,} test images by their features in {layer} (epoch {epoch})…")
    made = make_map(model, images, labels, sample, layer, epoch, reference)
    kept.keep_arrays(
        kept.kept_file(run, epoch, "map", f"{layer}-{detail}", ".npz"), {n: getattr(made, n) for n in _KEPT}
    )
    return made


def _detail(run: Run, epoch: int, last: int, everything: bool, shown: np.ndarray) -> str:
    """What besides the layer a kept map depends on: the sample, the images themselves (another
    copy of CIFAR-10 has other pixels) and, for an earlier epoch, the last epoch's network, whose
    map it is turned onto: a run that trains on makes its earlier maps anew."""
    detail = f"{'all' if everything else MAP_IMAGES}-{kept.images_digest(shown)}"
    return detail if epoch == last else f"{detail}-onto-e{last}-{kept.weights_digest(run, last)}"


def _kept_map(run: Run, epoch: int, layer: str, detail: str) -> FeatureMap | None:
    found = kept.read_arrays(kept.kept_file(run, epoch, "map", f"{layer}-{detail}", ".npz"))
    if found is None or not all(name in found for name in _KEPT):
        return None
    return FeatureMap(epoch, layer, *(found[name] for name in _KEPT))
