"""Studying what a run learned: evaluate (confusion matrix, metrics), infer (an image to what
the model sees), explain (feature maps, filters, Grad-CAM) and faithfulness (checks of those
maps), gallery (choosing images to show), compare (runs side by side), charts (every
Plotly figure, from plain arrays), changes (what was asked of a training while it ran),
embedding (the map of the test set by a layer's features), attack (images made to fool a
network, and its accuracy under attack) and kept (what those two keep in the cache, keyed by
the weights). Nothing here writes a run."""

__all__ = [
    "attack",
    "changes",
    "charts",
    "compare",
    "embedding",
    "evaluate",
    "explain",
    "faithfulness",
    "gallery",
    "grid",
    "infer",
    "kept",
]
