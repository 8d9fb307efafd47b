from __future__ import annotations

import numpy as np
import pytest

from cifar.study.evaluate import (
    cell_images,
    confusion,
    most_confused,
    most_confused_classes,
    per_class_metrics,
    sparse_crossentropy,
    summarize,
)

NAMES = ("cat", "dog", "frog")
# Worked by hand: 4 cats (3 right, 1 called dog), 3 dogs (1 right, 2 called cat),
# 2 frogs (both right, plus nothing else called frog).
TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2])
PRED = np.array([0, 0, 0, 1, 1, 0, 0, 2, 2])
COUNTS = [[3, 1, 0], [2, 1, 0], [0, 0, 2]]


def test_confusion_counts_and_row_shares():
    assert confusion(TRUE, PRED, 3).tolist() == COUNTS
    shares = confusion(TRUE, PRED, 3, normalize=True)
    np.testing.assert_allclose(shares, [[3 / 4, 1 / 4, 0], [2 / 3, 1 / 3, 0], [0, 0, 1]])


def test_empty_class_row_is_zeros_not_nan():
    shares = confusion(np.array([0, 0]), np.array([0, 1]), 3, normalize=True)
    assert shares[2].tolist() == [0, 0, 0]


def test_per_class_metrics_by_hand():
    rows = per_class_metrics(TRUE, PRED, NAMES)
    cat, dog, frog = rows
    # cat: predicted cat 5 times, 3 right -> precision 3/5; 3 of 4 cats found -> recall 3/4
    assert cat["precision"] == pytest.approx(3 / 5) and cat["recall"] == pytest.approx(3 / 4)
    assert cat["f1"] == pytest.approx(2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4))
    # dog: predicted dog twice, 1 right; 1 of 3 dogs found
    assert dog["precision"] == pytest.approx(1 / 2) and dog["recall"] == pytest.approx(1 / 3)
    assert frog == {"class": "frog", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}


def test_most_confused_in_words():
    pairs = most_confused(np.array(COUNTS), NAMES)
    assert [(p.true, p.predicted, p.count) for p in pairs] == [("dog", "cat", 2), ("cat", "dog", 1)]
    assert str(pairs[0]) == "dog taken for cat 2 times (67% of dog)"
    assert most_confused_classes(np.array(COUNTS), NAMES, top=2) == ["cat", "dog"]


def test_cell_images_most_confident_first():
    probabilities = np.array(
        [[0.9, 0.1, 0], [0.4, 0.6, 0], [0.2, 0.8, 0], [0.3, 0.7, 0], [0.1, 0.9, 0]], dtype=np.float16
    )
    labels = np.array([0, 0, 0, 1, 0])
    # cats called dog: images 1 (0.6), 2 (0.8), 4 (0.9)
    assert cell_images(labels, probabilities, true=0, predicted=1).tolist() == [4, 2, 1]
    assert cell_images(labels, probabilities, true=1, predicted=0).tolist() == []


def test_crossentropy_matches_keras():
    import keras

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 10))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities[0] = np.eye(10)[3]  # a confident mistake for label 0: clipped, not infinite
    labels = rng.integers(0, 10, size=50)
    labels[0] = 0
    reference = keras.losses.SparseCategoricalCrossentropy()(labels, probabilities.astype(np.float32))
    assert sparse_crossentropy(probabilities.astype(np.float32), labels) == pytest.approx(float(reference), rel=1e-5)


def test_summarize_reports_accuracy_and_matrix():
    probabilities = np.eye(3, dtype=np.float32)[PRED]
    report = summarize(TRUE, probabilities, NAMES)
    assert report["test_accuracy"] == pytest.approx(6 / 9)
    assert report["confusion"] == COUNTS
    assert report["most_confused"][0] == {"true": "dog", "predicted": "cat", "count": 2, "share": pytest.approx(2 / 3)}


def test_a_run_knows_which_test_set_it_was_tested_on(finished_run):
    from cifar.runs.run import tested_on

    run = finished_run
    labels = run.labels()
    assert tested_on(run, labels.copy())
    assert not tested_on(run, labels[:-1])  # another size
    assert not tested_on(run, (labels + 1) % 10)  # the same size, other labels
