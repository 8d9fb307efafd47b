"""What a config's network holds and costs, counted from its layer shapes alone, without
building it: a network too large for this machine is refused before any memory is spent on it."""

from __future__ import annotations

from cifar.config.settings import IMAGE_SHAPE, NUM_CLASSES, ModelConfig

# Copies of the weights an optimizer keeps while training: the weights, their gradients and
# its own state (Adam: two moments; SGD: momentum; RMSprop: a mean square).
OPTIMIZER_WEIGHT_COPIES = {"adam": 4, "rmsprop": 3, "sgd": 3}


def _conv_shapes(config: ModelConfig):
    """(side, input channels, filters) of every convolution, block by block, in order."""
    side, channels = IMAGE_SHAPE[0], IMAGE_SHAPE[2]
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
    side = IMAGE_SHAPE[0] // 2 ** len(config.block_filters())
    return side * side * config.block_filters()[-1]


def forward_macs(config: ModelConfig) -> int:
    """Multiply-accumulates for one image's forward pass, from the layer shapes alone."""
    kernel_area = config.kernel_size**2
    total = sum(side * side * kernel_area * inputs * filters for side, inputs, filters in _conv_shapes(config))
    features = _features(config)
    if config.dense_units:
        total += features * config.dense_units
        features = config.dense_units
    return total + features * NUM_CLASSES


def parameter_count(config: ModelConfig) -> int:
    """Weights of the model `build_model(config)` makes, from the layer shapes alone."""
    total = 0
    for _, inputs, filters in _conv_shapes(config):
        # BatchNorm: no conv bias, but gamma, beta, moving mean and variance.
        total += config.kernel_size**2 * inputs * filters + (4 * filters if config.batch_norm else filters)
    features = _features(config)
    if config.dense_units:
        total += (features + 1) * config.dense_units
        features = config.dense_units
    return total + (features + 1) * NUM_CLASSES


def activation_floats(config: ModelConfig) -> int:
    """Floats one image's forward pass keeps for the backward pass, layer output by layer output."""
    side = IMAGE_SHAPE[0]
    total = side * side * IMAGE_SHAPE[2] * (3 if config.augment else 1)  # rescaled (and flipped, shifted)
    per_conv = 3 if config.batch_norm else 1  # the convolution (+ its norm and relu)
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
