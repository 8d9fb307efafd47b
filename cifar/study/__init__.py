"""Studying what a run learned: evaluate (confusion matrix, metrics), infer (an image to what
the model sees), explain (feature maps, filters, Grad-CAM) and faithfulness (checks of those
maps), gallery (choosing images to show), compare (runs side by side) and charts (every
Plotly figure, from plain arrays). Nothing here writes a run."""

__all__ = ["charts", "compare", "evaluate", "explain", "faithfulness", "gallery", "grid", "infer"]
