from __future__ import annotations

import numpy as np
import pytest

from cifar.study.changes import Mark
from cifar.study.charts import (
    CELL_TRACE_NAME,
    MISTAKE_SYMBOL,
    chosen_point,
    confusion_figure,
    feature_map_figure,
    history_figure,
    probability_figure,
    robustness_figure,
    selected_cell,
)

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


# A pause at epoch 3, batch 50 of 100, and a new rate at the end of epoch 1: by hand, half an
# epoch past the end of epoch 2, and exactly where epoch 1's point sits.
MARKS = [Mark(2.5, "paused", "Ann: Paused."), Mark(1.0, "lr 0.0001")]


def _marks_drawn(figure) -> list[tuple[float, str]]:
    """(x, label) of each mark: a dashed line from the bottom of the plot to its top, labelled at x."""
    lines = [(shape.x0, shape.x1, shape.y0, shape.y1, shape.yref, shape.line.dash) for shape in figure.layout.shapes]
    assert all(x0 == x1 and (y0, y1, yref, dash) == (0, 1, "paper", "dash") for x0, x1, y0, y1, yref, dash in lines)
    labels = [(note.x, note.text) for note in figure.layout.annotations]
    assert [x0 for x0, *_ in lines] == [x for x, _ in labels]
    return labels


def test_history_figure_draws_each_mark_where_it_happened_between_the_epochs():
    figure = history_figure(HISTORY, "accuracy", marks=MARKS)
    assert _marks_drawn(figure) == [(2.5, "paused"), (1.0, "lr 0.0001")]
    assert list(figure.data[0].x) == [1, 2, 3]  # each epoch's point where it ends: the pause lies between 2 and 3
    paused = figure.layout.annotations[0]
    assert paused.hovertext == "Ann: Paused." and figure.layout.annotations[1].hovertext is None
    assert _marks_drawn(history_figure(HISTORY, "loss", marks=[(0.25, "resumed")])) == [(0.25, "resumed")]
    assert not history_figure(HISTORY, "loss").layout.shapes


def test_a_continued_runs_line_and_the_marks_are_both_drawn():
    figure = history_figure(HISTORY, "loss", continued_after=2, marks=MARKS)
    drawn = [(shape.x0, note.text) for shape, note in zip(figure.layout.shapes, figure.layout.annotations, strict=True)]
    assert drawn == [(2, "continued"), (2.5, "paused"), (1.0, "lr 0.0001")]


def test_batch_figure_draws_each_mark_on_the_batch_it_happened_after():
    from cifar.study.charts import batch_figure

    events = [{"epoch": 3, "batch": 50, "batches": 100, "loss": 1.0, "accuracy": 0.5}]
    figure = batch_figure(events, marks=MARKS)
    assert list(figure.data[0].x) == [2.5]  # the batch the pause came after
    assert _marks_drawn(figure) == [(2.5, "paused"), (1.0, "lr 0.0001")]
    assert not batch_figure(events).layout.shapes


def test_marks_close_together_put_their_labels_at_different_heights():
    figure = history_figure(HISTORY, "loss", marks=[(2.4, "paused"), (2.5, "lr 0.01"), (2.6, "resumed")])
    heights = [note.y for note in figure.layout.annotations]
    assert len(set(heights)) == 3 and all(0.5 < height <= 1 for height in heights)


def test_the_axis_holds_the_curves_and_the_marks_and_labels_stay_inside_it():
    # Plotly would widen the axis to fit each label: the range is set, and a label in its right
    # half goes left of its line.
    figure = history_figure(HISTORY, "accuracy", marks=MARKS)
    assert list(figure.layout.xaxis.range) == [0.5, 3.5] and figure.layout.xaxis.autorange is False
    assert [note.xanchor for note in figure.layout.annotations] == ["right", "left"]  # 2.5 and 1.0
    early = history_figure({}, "loss", marks=[Mark(0.25, "paused")])
    assert list(early.layout.xaxis.range) == [-0.25, 0.75]
    assert history_figure(HISTORY, "loss").layout.xaxis.range is None  # no marks: plotly ranges it


def test_the_batch_axis_starts_at_zero_and_ends_just_past_the_last_batch_or_mark():
    from cifar.study.charts import batch_figure

    events = [{"epoch": 3, "batch": 50, "batches": 100, "loss": 1.0, "accuracy": 0.5}]
    assert list(batch_figure(events, marks=MARKS).layout.xaxis.range) == pytest.approx([0, 2.575])
    assert list(batch_figure(events[:0], marks=[Mark(1.0, "paused")]).layout.xaxis.range) == [0, 1.05]


def test_the_feature_map_colours_by_class_crosses_the_mistakes_and_reports_positions():
    points = np.arange(12, dtype=np.float32).reshape(6, 2)
    labels, predicted = np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 1, 1, 0, 2])
    figure = feature_map_figure(points, labels, predicted, np.array([5, 9, 13, 17, 21, 25]), ["a", "b", "c"], chosen=3)
    shown = {
        (trace.name, trace.marker.symbol): list(trace.customdata)
        for trace in figure.data
        if trace.customdata is not None and len(trace.x)
    }
    assert shown[("a", "circle")] == [0] and shown[("a", MISTAKE_SYMBOL)] == [1]
    assert shown[("c", MISTAKE_SYMBOL)] == [4] and ("b", MISTAKE_SYMBOL) not in shown
    assert [trace.name for trace in figure.data if trace.showlegend is not False] == ["a", "b", "c"]  # one entry each
    crossed = next(trace for trace in figure.data if trace.name == "a" and trace.marker.symbol == MISTAKE_SYMBOL)
    assert crossed.text == ("#9: a, taken for b",)
    ring = figure.data[-1]
    assert (ring.x[0], ring.y[0]) == (6.0, 7.0)  # the chosen point, position 3
    assert chosen_point([{"customdata": [4]}]) == 4 and chosen_point([{"customdata": 2}]) == 2
    assert chosen_point([{"x": 1}]) is None and chosen_point([]) is None


def test_the_robustness_figure_has_a_line_per_attack_over_the_budgets():
    figure = robustness_figure((0, 1, 2, 4, 8), {"fgsm": (0.5, 0.4, 0.3, 0.2, 0.05), "pgd": (0.5, 0.4, 0.3, 0.1, 0.0)})
    assert [trace.name for trace in figure.data] == ["FGSM", "PGD"]
    assert list(figure.data[1].y) == [0.5, 0.4, 0.3, 0.1, 0.0] and list(figure.layout.xaxis.tickvals) == [0, 1, 2, 4, 8]
