"""What a trained model got right and wrong: confusion matrix, per-class metrics, confusions.

Everything works from stored class probabilities (a run's `predictions/epoch-NNN.npy`) and
the true labels, so any epoch can be replayed without running the model again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn import metrics

from cifar.network.build import sparse_crossentropy


def confusion(labels: np.ndarray, predicted: np.ndarray, num_classes: int, normalize: bool = False) -> np.ndarray:
    """Confusion matrix: row = true class, column = predicted class.

    Args:
        labels: true class of each image.
        predicted: predicted class of each image.
        num_classes: size of the matrix.
        normalize: divide each row by its total, so a row reads as "of the true cats, this
            share was called ..."; a class with no images gives a row of zeros.

    Returns:
        int64 counts, or float64 row shares when `normalize`.
    """
    counts = metrics.confusion_matrix(labels, predicted, labels=np.arange(num_classes))
    return row_shares(counts) if normalize else counts


def row_shares(counts: np.ndarray) -> np.ndarray:
    """Each row of a count matrix divided by its total; an empty row stays zeros."""
    counts = np.asarray(counts)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)


def per_class_metrics(labels: np.ndarray, predicted: np.ndarray, class_names: tuple[str, ...]) -> list[dict]:
    """Precision, recall, F1 and support for each class, in class order."""
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        labels, predicted, labels=np.arange(len(class_names)), zero_division=0
    )
    return [
        {
            "class": name,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    ]


@dataclass(frozen=True)
class Confusion:
    """One off-diagonal cell: `count` images of class `true` were called `predicted`."""

    true: str
    predicted: str
    count: int
    share: float  # of the true class's images

    def __str__(self) -> str:
        return f"{self.true} taken for {self.predicted} {self.count} times ({self.share:.0%} of {self.true})"


def most_confused(counts: np.ndarray, class_names: tuple[str, ...], top: int = 5) -> list[Confusion]:
    """The `top` largest off-diagonal cells of a count matrix, largest first."""
    totals = counts.sum(axis=1)
    cells = [
        (int(counts[t, p]), t, p) for t in range(len(counts)) for p in range(len(counts)) if t != p and counts[t, p] > 0
    ]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [
        Confusion(class_names[t], class_names[p], n, n / totals[t] if totals[t] else 0.0) for n, t, p in cells[:top]
    ]


def most_confused_classes(counts: np.ndarray, class_names: tuple[str, ...], top: int = 4) -> list[str]:
    """Classes with the most images sent elsewhere plus taken from elsewhere."""
    off = counts - np.diag(np.diag(counts))
    involvement = off.sum(axis=0) + off.sum(axis=1)
    order = np.argsort(-involvement, kind="stable")
    return [class_names[i] for i in order[:top]]


def cell_images(labels: np.ndarray, probabilities: np.ndarray, true: int, predicted: int) -> np.ndarray:
    """Indices of test images of class `true` predicted as `predicted`, most confident first."""
    chosen = np.argmax(probabilities, axis=1)
    indices = np.flatnonzero((labels == true) & (chosen == predicted))
    confidence = probabilities[indices, predicted].astype(np.float32)
    return indices[np.argsort(-confidence, kind="stable")]


def summarize(labels: np.ndarray, probabilities: np.ndarray, class_names: tuple[str, ...]) -> dict:
    """Test loss and accuracy, confusion matrix (counts and shares), per-class table, confusions."""
    probabilities = probabilities.astype(np.float32)
    predicted = np.argmax(probabilities, axis=1)
    counts = confusion(labels, predicted, len(class_names))
    return {
        "test_loss": sparse_crossentropy(probabilities, labels),
        "test_accuracy": float(np.mean(predicted == labels)),
        "class_names": list(class_names),
        "confusion": counts.tolist(),
        "confusion_normalized": row_shares(counts).round(4).tolist(),
        "per_class": per_class_metrics(labels, predicted, class_names),
        "most_confused": [vars(c) for c in most_confused(counts, class_names)],
        "most_confused_classes": most_confused_classes(counts, class_names),
    }
