from __future__ import annotations

import numpy as np

from cifar.study.charts import CELL_TRACE_NAME, confusion_figure, history_figure, probability_figure, selected_cell

HISTORY = {
    "epoch": [1, 2, 3],
    "accuracy": [0.4, 0.5, 0.6],
    "val_accuracy": [0.45, 0.52, 0.55],
    "loss": [1.6, 1.3, 1.1],
    "val_loss": [1.5, 1.35, 1.3],
}
NAMES = ("cat", "dog", "frog")
COUNTS = np.array([[3, 1, 0], [2, 1, 0], [0, 0, 2]])


def test_history_figure_has_train_and_validation():
    figure = history_figure(HISTORY, "accuracy")
    train, validation = figure.data
    assert list(train.x) == [1, 2, 3] and list(train.y) == [0.4, 0.5, 0.6]
    assert list(validation.y) == [0.45, 0.52, 0.55] and "validation" in validation.name
    assert figure.layout.yaxis.tickformat == ".0%"
    assert list(history_figure(HISTORY, "loss").data[1].y) == [1.5, 1.35, 1.3]


def test_history_figure_of_an_empty_run():
    figure = history_figure({}, "loss")
    assert len(figure.data) == 2 and list(figure.data[0].x) == []


def test_confusion_figure_normalized_and_counts():
    figure = confusion_figure(COUNTS, NAMES)
    heatmap, cells = figure.data
    np.testing.assert_allclose(heatmap.z, [[0.75, 0.25, 0], [2 / 3, 1 / 3, 0], [0, 0, 1]])
    assert list(heatmap.x) == list(NAMES) and list(heatmap.y) == list(NAMES)
    assert heatmap.text[0][0] == "75%"
    counts = confusion_figure(COUNTS, NAMES, normalized=False).data[0]
    assert counts.z.tolist() == COUNTS.tolist() and counts.text[1][0] == "2"
    # one invisible, selectable marker per cell, carrying its (true, predicted) indices
    assert cells.name == CELL_TRACE_NAME and len(cells.x) == 9 and cells.marker.opacity == 0
    index = list(zip(cells.y, cells.x, strict=True)).index(("dog", "cat"))
    assert cells.customdata[index].tolist() == [1, 0]
    assert cells.text[index] == "true dog, predicted cat<br>2 images, 66.7% of dog"
    assert heatmap.hoverinfo == "skip" and cells.hoverinfo != "skip"


def test_selected_cell_reads_the_marker():
    assert selected_cell([{"customdata": [1, 0], "x": "cat", "y": "dog"}], NAMES) == (1, 0)
    assert selected_cell([{"x": "frog", "y": "cat"}], NAMES) == (0, 2)
    assert selected_cell([{"customdata": {"0": 2, "1": 1}}], NAMES) == (2, 1)
    assert selected_cell([{"x": "cat"}], NAMES) is None and selected_cell([], NAMES) is None
    assert selected_cell(None, NAMES) is None


def test_probability_figure_most_probable_on_top():
    figure = probability_figure(np.array([0.1, 0.7, 0.2]), NAMES, true_class=2)
    bars = figure.data[0]
    assert list(bars.y) == ["cat", "frog", "dog"]  # bottom-up: the top bar is the most probable
    assert list(bars.text) == ["10.0%", "20.0%", "70.0%"]
    assert bars.marker.color[1] != bars.marker.color[2] != "#94a3b8"


def test_class_counts_figure():
    from cifar.study.charts import class_counts_figure

    figure = class_counts_figure([5, 6, 7], [1, 2, 3], NAMES)
    train, test = figure.data
    assert list(train.x) == list(NAMES) and list(train.y) == [5, 6, 7] and list(test.y) == [1, 2, 3]
    assert figure.layout.barmode == "group"


def test_batch_figure_places_batches_on_an_epoch_axis():
    from cifar.study.charts import batch_figure

    events = [
        {"epoch": 1, "batch": 50, "batches": 100, "loss": 2.0, "accuracy": 0.2},
        {"epoch": 2, "batch": 100, "batches": 100, "loss": 1.5, "accuracy": 0.45},
    ]
    loss, accuracy = batch_figure(events).data
    assert list(loss.x) == [0.5, 2.0] and list(loss.y) == [2.0, 1.5]
    assert list(accuracy.y) == [0.2, 0.45] and accuracy.yaxis == "y2"
