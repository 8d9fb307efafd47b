"""What a config's network holds and costs, counted from its layer shapes alone, without
building it: a network too large for this machine is refused before any memory is spent on it."""

from __future__ import annotations

from cifar.config.settings import IMAGE_SHAPE, NUM_CLASSES, ModelConfig
from cifar.network.whitening import CHANNELS as WHITENED
from cifar.network.whitening import PATCH

# Copies of the weights an optimizer keeps while training: the weights, their gradients and
# its own state (Adam: two moments; SGD: momentum; RMSprop: a mean square).
OPTIMIZER_WEIGHT_COPIES = {"adam": 4, "rmsprop": 3, "sgd": 3}


def _first_maps(config: ModelConfig) -> tuple[int, int]:
    """(side, channels) of what the first block sees: the image, or the whitening layer's output."""
    if config.whiten:
        return IMAGE_SHAPE[0] - PATCH + 1, WHITENED
    return IMAGE_SHAPE[0], IMAGE_SHAPE[2]


def _whitening_shape(config: ModelConfig) -> list[tuple[int, int, int, int]]:
    """(side, kernel, input channels, filters) of the whitening layer, where there is one."""
    return [(IMAGE_SHAPE[0] - PATCH + 1, PATCH, IMAGE_SHAPE[2], WHITENED)] if config.whiten else []


def _conv_shapes(config: ModelConfig):
    """(side, input channels, filters) of every learnt convolution, block by block, in order."""
    side, channels = _first_maps(config)
    for filters in config.block_filters():
        for conv in range(config.convs_per_block):
            yield side, channels, filters
            channels = filters
            if conv == 0 and config.early_pool:
                side //= 2
        if not config.early_pool:
            side //= 2


def _features(config: ModelConfig) -> int:
    """Values the last block hands to the dense layers."""
    if config.head != "flatten":
        return config.block_filters()[-1]  # one per filter, pooled over the whole map
    side = _first_maps(config)[0] // 2 ** len(config.block_filters())
    return side * side * config.block_filters()[-1]


def forward_macs(config: ModelConfig) -> int:
    """Multiply-accumulates for one image's forward pass, from the layer shapes alone."""
    kernel_area = config.kernel_size**2
    total = sum(side * side * kernel_area * inputs * filters for side, inputs, filters in _conv_shapes(config))
    total += sum(
        side * side * kernel**2 * inputs * filters for side, kernel, inputs, filters in _whitening_shape(config)
    )
    features = _features(config)
    if config.dense_units:
        total += features * config.dense_units
        features = config.dense_units
    return total + features * NUM_CLASSES


def parameter_count(config: ModelConfig) -> int:
    """Weights of the model `build_model(config)` makes, from the layer shapes alone."""
    total = sum(kernel**2 * inputs * filters + filters for _, kernel, inputs, filters in _whitening_shape(config))
    # BatchNorm: no conv bias, but its offset (its own, or a faster one's), moving mean and
    # variance, and its scale unless that is frozen.
    norm = 3 + (not config.frozen_bn_scale)
    for _, inputs, filters in _conv_shapes(config):
        total += config.kernel_size**2 * inputs * filters + (norm * filters if config.batch_norm else filters)
    features = _features(config)
    if config.dense_units:
        total += (features + 1) * config.dense_units
        features = config.dense_units
    return total + (features + 1) * NUM_CLASSES


def activation_floats(config: ModelConfig) -> int:
    """Floats one image's forward pass keeps for the backward pass, layer output by layer output."""
    side = IMAGE_SHAPE[0]
    total = side * side * IMAGE_SHAPE[2] * (3 if config.augment else 1)  # rescaled (and flipped, shifted)
    for white_side, _, _, filters in _whitening_shape(config):
        total += white_side * white_side * filters * 2  # whitened, and its activation
    side = _first_maps(config)[0]
    per_conv = (3 + (config.bn_bias_rate > 1)) if config.batch_norm else 1  # the convolution (+ norm, offset, relu)
    for conv_side, _, filters in _conv_shapes(config):
        total += conv_side * conv_side * filters * per_conv
    for filters in config.block_filters():
        if config.residual:  # the sum, at the size of the block's later convolutions
            added = side // 2 if config.early_pool else side
            total += added * added * filters
        side //= 2
        total += side * side * filters * (3 if config.dropout else 1)  # pooled (and dropped, with its mask)
    last_hidden = config.dense_units or _features(config)
    dense_dropout = 2 * last_hidden if config.dense_dropout else 0  # its output and its mask
    return total + _features(config) + config.dense_units * 2 + dense_dropout + NUM_CLASSES * 2


def optimizer_weight_copies(config: ModelConfig) -> int:
    """How many floats per weight training holds: weights, gradients and the optimizer's state."""
    return OPTIMIZER_WEIGHT_COPIES[config.optimizer]
