"""Inside a trained network: its feature maps, its first layer's filters and Grad-CAM, at any
kept epoch.

Grad-CAM (Selvaraju et al. 2017) weights a convolution layer's activation maps by the mean
gradient of a class's score over each map, keeps the positive part and scales it to 0..1. The
score is the class's logit, before the softmax, as in keras.io's "Grad-CAM class activation
visualization": a probability near zero has a vanishing gradient, a logit does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cifar.config.settings import IMAGE_SHAPE
from cifar.errors import CifarError, RunError, os_errors_as
from cifar.network.build import build_model
from cifar.network.saving import load_weights
from cifar.runs.run import Run
from cifar.study.gallery import enlarge

GAP_COLOUR = (148, 163, 184)
BRIGHTEST = 99.0  # the percentile of a layer's values drawn white
FLAT_LIMIT = 1e-12  # a map whose largest value is below this is flat: no part of the layer raised the score


def open_epoch(run: Run, epoch: int | None = None):
    """The run's model as it was after `epoch` (default: the last finished epoch).

    Kept weights are loaded into the network the run's config builds; the last epoch of a run
    made before weights were kept comes from its model.keras.

    Raises:
        RunError: no finished epoch, an epoch whose weights were not kept, or a file that
            does not load; the message says which and what there is.
    """
    epoch = kept_epoch(run, epoch)
    if epoch not in run.weight_epochs():
        model = run.load_model()
        check_image_size(model, f"Run {run.id}'s network")
        return model

    model = build_model(run.config())
    load_weights(model, run.files.weights_file(epoch), f"Run {run.id}'s weights of epoch {epoch}")
    return model


def check_image_size(model, what: str) -> None:
    """Raise `RunError` unless `model` (named `what` in the message) takes 32×32 colour images."""
    shape = tuple(model.input.shape[1:])
    if shape != IMAGE_SHAPE:
        size = "×".join(str(side) for side in shape)
        raise RunError(
            f"{what} takes images of {size}, not the 32×32×3 of CIFAR-10, so it cannot be shown or attacked "
            "with these images. Choose a run trained here."
        )


def kept_epoch(run: Run, epoch: int | None = None) -> int:
    """`epoch`, or the run's last kept one, checked without opening the network.

    Raises:
        RunError: no finished epoch, or an epoch whose network was not kept.
    """
    epochs = run.inside_epochs()
    if not epochs:
        raise RunError(f"Run {run.id} has no finished epoch yet: its network appears after the first one.")
    epoch = epochs[-1] if epoch is None else epoch
    if epoch not in epochs:
        raise RunError(f"Run {run.id} kept its network for epochs {_listed(epochs)}, not for epoch {epoch}.")
    return epoch


def _listed(epochs: list[int]) -> str:
    shown = ", ".join(str(epoch) for epoch in epochs[:12])
    return shown + (f" … {epochs[-1]}" if len(epochs) > 12 else "")


@dataclass(frozen=True)
class LayerMaps:
    """One layer's activation for one image: every channel's map."""

    name: str
    kind: str  # "conv" (after its BatchNorm and ReLU where it has them) or "pool"
    values: np.ndarray  # (height, width, channels) float32


@dataclass(frozen=True)
class Filters:
    """The first convolution's filters, each scaled to 0..1 so that its pattern shows."""

    kernels: np.ndarray  # (filters, k, k, 3) float32 in 0..1
    responses: np.ndarray  # (filters,) each filter's strongest response on the image


@dataclass(frozen=True)
class GradCam:
    """Where the network looked for one class, on one layer."""

    class_index: int
    layer: str
    coarse: np.ndarray  # (height, width) of the layer, 0..1
    heatmap: np.ndarray  # (32, 32), 0..1: the coarse map resized to the image
    flat: bool  # True when no place raised the class's score: the map is all zeros


class Inspector:
    """Looks inside one Keras model built by cifar.network: one forward pass gives every map."""

    def __init__(self, model) -> None:
        import keras

        self.model = model
        self.maps = map_layers(model)  # (name, kind) in order
        self.cam_layers = [name for name, kind in self.maps if kind == "conv"]
        if not self.cam_layers:
            raise CifarError("This model has no convolution layer to look inside.")
        self.default_cam_layer = self.cam_layers[-1]
        self._final = model.layers[-1]
        outputs = [model.get_layer(name).output for name, _ in self.maps]
        self._probe = keras.Model(model.input, [*outputs, model.output])
        self._cam_models: dict = {}

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, (N, classes), for uint8 images (N, 32, 32, 3)."""
        return np.asarray(self.model(_batch(images), training=False), dtype=np.float32)

    def feature_maps(self, image: np.ndarray) -> tuple[list[LayerMaps], np.ndarray]:
        """Every conv layer's and every pooling's maps for one image, and its class probabilities."""
        *outputs, probabilities = self._probe(_batch(image), training=False)
        maps = [
            LayerMaps(name, kind, np.asarray(output[0], dtype=np.float32))
            for (name, kind), output in zip(self.maps, outputs, strict=True)
        ]
        return maps, np.asarray(probabilities[0], dtype=np.float32)

    def first_layer(self, first_layer_maps: LayerMaps) -> Filters:
        """The first convolution's kernels, and each one's strongest response in `first_layer_maps`."""
        first_conv = next(layer for layer in self.model.layers if type(layer).__name__ == "Conv2D")
        kernels = np.moveaxis(np.asarray(first_conv.kernel, dtype=np.float32), -1, 0)  # (filters, k, k, 3)
        low = kernels.min(axis=(1, 2, 3), keepdims=True)
        spread = kernels.max(axis=(1, 2, 3), keepdims=True) - low
        scaled = np.divide(kernels - low, spread, out=np.full_like(kernels, 0.5), where=spread > 0)
        return Filters(scaled, first_layer_maps.values.max(axis=(0, 1)))

    def grad_cam(self, image: np.ndarray, class_index: int, layer: str | None = None) -> GradCam:
        """Grad-CAM of class `class_index` for one image, on `layer` (default: the last conv block's)."""
        layer = layer or self.default_cam_layer
        coarse, heatmaps, flat = self.grad_cams(_batch(image), np.asarray([class_index]), layer)
        return GradCam(int(class_index), layer, coarse[0], heatmaps[0], bool(flat[0]))

    def grad_cams(self, images: np.ndarray, class_indices: np.ndarray, layer: str | None = None):
        """Grad-CAM for a batch: each image for its own class, in one pass.

        Returns:
            coarse maps (N, h, w), 32×32 maps (N, 32, 32), both 0..1, and which are flat (N,).

        Raises:
            CifarError: `layer` is not one of the model's convolution layers.
        """
        import tensorflow as tf

        layer = layer or self.default_cam_layer
        activations, gradients = self._gradients(images, class_indices, layer)
        weights = gradients.mean(axis=(1, 2), keepdims=True)  # one weight per channel and image
        cams = np.maximum((activations * weights).sum(axis=-1), 0.0)
        peaks = cams.max(axis=(1, 2))
        flat = ~(peaks > FLAT_LIMIT)
        coarse = np.divide(cams, peaks[:, None, None], out=np.zeros_like(cams), where=~flat[:, None, None])
        fine = tf.image.resize(coarse[..., None], IMAGE_SHAPE[:2], method="bilinear").numpy()[..., 0]
        return coarse, np.clip(fine, 0.0, 1.0), flat

    def _gradients(self, images: np.ndarray, class_indices: np.ndarray, layer: str):
        import keras
        import tensorflow as tf

        if layer not in self.cam_layers:
            raise CifarError(f"There is no convolution layer {layer!r}; this network has {', '.join(self.cam_layers)}.")
        if layer not in self._cam_models:
            features = self._final.input  # what the output layer weighs into each class's score
            self._cam_models[layer] = keras.Model(self.model.input, [self.model.get_layer(layer).output, features])
        kernel = tf.convert_to_tensor(self._final.kernel)
        bias = tf.convert_to_tensor(self._final.bias)
        chosen = tf.one_hot(class_indices, kernel.shape[-1], dtype=kernel.dtype)
        with tf.GradientTape() as tape:
            activations, features = self._cam_models[layer](_batch(images), training=False)
            scores = tf.reduce_sum((tf.matmul(features, kernel) + bias) * chosen)  # each image's own logit
        gradients = tape.gradient(scores, activations)
        return np.asarray(activations, dtype=np.float64), np.asarray(gradients, dtype=np.float64)


def _batch(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, dtype=np.uint8)
    return images[None] if images.ndim == 3 else images


def map_layers(model) -> list[tuple[str, str]]:
    """The layers whose maps are worth showing: each convolution's activation (its ReLU when a
    BatchNorm comes between) and each pooling."""
    found: list[tuple[str, str]] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            found.append((layer.name, "conv"))
        elif kind == "Activation" and found and found[-1][1] == "conv":
            found[-1] = (layer.name, "conv")  # after BatchNorm: the block's activation
        elif kind == "MaxPooling2D":
            found.append((layer.name, "pool"))
    return found


# A rainbow from blue (not looked at) through green and yellow to red (looked at most).
_COLOURS = np.array([(0, 0, 128), (0, 0, 255), (0, 255, 255), (255, 255, 0), (255, 0, 0), (128, 0, 0)], float)
_STOPS = np.array([0.0, 0.125, 0.375, 0.625, 0.875, 1.0])


def colour(heatmap: np.ndarray) -> np.ndarray:
    """A 0..1 map as RGB uint8, blue to red."""
    values = np.clip(heatmap, 0.0, 1.0)
    return np.stack([np.interp(values, _STOPS, _COLOURS[:, c]) for c in range(3)], axis=-1).astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """`image` (H, W, 3 uint8) with the 32×32 `heatmap` resized over it, at `opacity` (0 to 1)."""
    from PIL import Image

    height, width = image.shape[:2]
    resized = Image.fromarray(heatmap.astype(np.float32), mode="F").resize((width, height), Image.BILINEAR)
    tinted = colour(np.asarray(resized))
    blended = (1 - opacity) * image.astype(np.float32) + opacity * tinted.astype(np.float32)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def feature_grid(maps: LayerMaps, columns: int = 8, tile: int = 48) -> np.ndarray:
    """Every channel of a layer as a grey tile (white: strongest), in a grid with 2-pixel gaps
    of slate blue, so that a white tile's edge still shows.

    One scale for the whole layer, so that tiles compare: a dark tile is a channel that barely
    fired. White is the layer's top percent (`BRIGHTEST`) rather than its single largest value,
    which one hot pixel would otherwise make the only white in the layer.
    """
    values = maps.values
    low, high = float(values.min()), float(np.percentile(values, BRIGHTEST))
    high = high if high > low else float(values.max())
    scaled = np.clip((values - low) / (high - low), 0.0, 1.0) if high > low else np.zeros_like(values)
    side, channels = values.shape[0], values.shape[-1]
    scale = max(1, -(-tile // side))
    columns = min(columns, channels)
    rows = -(-channels // columns)
    step = side * scale + 2
    grid = np.empty((rows * step - 2, columns * step - 2, 3), dtype=np.uint8)
    grid[:] = GAP_COLOUR
    for channel in range(channels):
        row, column = divmod(channel, columns)
        block = np.kron(scaled[..., channel], np.ones((scale, scale))) * 255
        grid[row * step : row * step + side * scale, column * step : column * step + side * scale] = block[..., None]
    return grid


def filter_tiles(first: Filters, size: int = 48) -> tuple[list[np.ndarray], np.ndarray]:
    """Each filter as an RGB tile about `size` pixels wide, every weight a crisp square, the
    strongest response first; and the filters' numbers in that order."""
    side = first.kernels.shape[1]
    scale = max(1, -(-size // side))
    order = np.argsort(-first.responses, kind="stable")
    tiles = [np.kron(first.kernels[i] * 255, np.ones((scale, scale, 1))).round().astype(np.uint8) for i in order]
    return tiles, order


def looked(inspector: Inspector, images: np.ndarray, classes, scale: int = 3, opacity: float = 0.5):
    """Each image enlarged `scale` times with its Grad-CAM for its class (one for all, or one
    each) over it, and whether each map was flat (then the image is shown alone)."""

    images = _batch(images)
    classes = np.broadcast_to(np.asarray(classes, dtype=np.int64), (len(images),))
    _, heatmaps, flat = inspector.grad_cams(images, classes)
    shown = [enlarge(image, scale) if is_flat else overlay(enlarge(image, scale), heatmap, opacity)
             for image, heatmap, is_flat in zip(images, heatmaps, flat, strict=True)]  # fmt: skip
    return shown, flat


def stamp(run: Run, epoch: int) -> int:
    """When epoch `epoch`'s network was last written: what a cache of opened networks keys on."""
    path = run.files.weights_file(epoch) if epoch in run.weight_epochs() else run.files.model
    with os_errors_as(
        RunError, f"Run {run.id}'s network of epoch {epoch} is gone", "it may have been deleted meanwhile"
    ):
        return path.stat().st_mtime_ns
