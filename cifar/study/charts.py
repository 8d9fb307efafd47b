"""Plotly figures built from plain arrays and lists; the pages only place them.

Nothing here reads files or imports Streamlit, so every figure is unit-tested on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cifar.study.changes import Mark
from cifar.study.evaluate import row_shares

TRAIN_COLOUR = "#2563eb"
VALIDATION_COLOUR = "#ea580c"
# A click on a heatmap cell comes back empty in Streamlit (streamlit issue 8760); an
# invisible marker over each cell is what the page's selection can report.
CELL_TRACE_NAME = "cells"
MARK_COLOUR = "#64748b"
MARK_ROWS = 3  # labels of marks close together take turns at these heights, so they do not overlap


def history_figure(
    history: dict[str, list[float]],
    metric: str,
    continued_after: int | None = None,
    marks: Sequence[Mark] = (),
    tested_on: str = "the test set",
) -> go.Figure:
    """Train against validation per epoch for `metric` ("accuracy" or "loss"), as in the tutorial;
    the validation curve is named by what it was tested on (`tested_on`).

    Epoch k's point is at x = k, where epoch k ends, so a mark at x = 2.5 (epoch 3, batch 50 of
    100) falls halfway between the points of epochs 2 and 3.

    Args:
        history: a run's history: lists under "epoch", metric and "val_" + metric.
        metric: which pair of curves to draw.
        continued_after: for a continued run, the parent's last epoch: a dashed line marks it.
        marks: where the course changed (cifar/study/changes.py), in epochs done: a dashed line
            and a label each.
    """
    epochs = history.get("epoch", [])
    figure = go.Figure()
    for key, name, colour in (
        (metric, "train", TRAIN_COLOUR),
        (f"val_{metric}", f"validation ({tested_on.removeprefix('the ')})", VALIDATION_COLOUR),
    ):
        figure.add_trace(
            go.Scatter(
                x=epochs,
                y=history.get(key, []),
                name=name,
                mode="lines+markers",
                line={"color": colour},
                hovertemplate=f"epoch %{{x}}<br>{name} {metric} %{{y:.4f}}<extra></extra>",
            )
        )
    figure.update_layout(
        title=metric.capitalize(),
        xaxis_title="epoch",
        yaxis_title=metric,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
    )
    if metric == "accuracy":
        figure.update_yaxes(tickformat=".0%")
    figure.update_xaxes(dtick=1 if len(epochs) <= 20 else None)
    if continued_after:
        figure.add_vline(
            x=continued_after,
            line={"dash": "dash", "color": "#64748b", "width": 1},
            annotation={"text": "continued", "font": {"size": 11, "color": "#64748b"}},
            annotation_position="top right",
        )
    if marks:
        shown = [*epochs, *(x for x, *_ in marks), *([continued_after] if continued_after else [])]
        draw_marks(figure, marks, (min(shown) - 0.5, max(shown) + 0.5))  # half an epoch beyond either end
    return figure


def draw_marks(figure: go.Figure, marks: Sequence[Mark], x_range: tuple[float, float]) -> None:
    """A dashed vertical line at each mark's x, its label beside the line's top, its note on hover.

    Plotly widens an axis it ranges itself until every label fits, which would squeeze the curves
    into a part of the chart: the axis holds `x_range`, and a label in its right half goes on
    the left of its line.

    Args:
        figure: a figure whose x axis counts epochs done.
        marks: Mark records or plain (x, label) pairs.
        x_range: the x axis's range, which holds the curves and every mark.
    """
    low, high = x_range
    figure.update_xaxes(range=[low, high], autorange=False)
    for index, (x, label, *note) in enumerate(marks):
        leftwards = x > (low + high) / 2
        figure.add_shape(
            type="line",
            x0=x,
            x1=x,
            xref="x",
            y0=0,
            y1=1,
            yref="paper",
            line={"dash": "dash", "color": MARK_COLOUR, "width": 1},
        )
        figure.add_annotation(
            x=x,
            y=1 - 0.1 * (index % MARK_ROWS),
            xref="x",
            yref="paper",
            text=label,
            hovertext=note[0] if note and note[0] else None,
            showarrow=False,
            xanchor="right" if leftwards else "left",
            yanchor="top",
            xshift=-2 if leftwards else 2,
            font={"size": 10, "color": MARK_COLOUR},
            bgcolor="rgba(255, 255, 255, 0.8)",
        )


# Runs told apart by colour in the overlays; a run past the tenth reuses a colour with dashes.
RUN_COLOURS = (
    "#2563eb",
    "#ea580c",
    "#16a34a",
    "#9333ea",
    "#dc2626",
    "#0891b2",
    "#ca8a04",
    "#db2777",
    "#4b5563",
    "#65a30d",
)
METRIC_NAMES = {
    "val_accuracy": "validation accuracy",
    "val_loss": "validation loss",
    "accuracy": "train accuracy",
    "loss": "train loss",
}


def overlay_figure(histories: dict[str, dict[str, list[float]]], metric: str = "val_accuracy") -> go.Figure:
    """One curve per run for `metric` (a history key such as "val_accuracy"), over epochs.

    Args:
        histories: run label to that run's history.
        metric: which history column to draw.
    """
    title = METRIC_NAMES.get(metric, metric)
    figure = go.Figure()
    for index, (label, history) in enumerate(histories.items()):
        figure.add_trace(
            go.Scatter(
                x=history.get("epoch", []),
                y=history.get(metric, []),
                name=label,
                mode="lines+markers",
                line={
                    "color": RUN_COLOURS[index % len(RUN_COLOURS)],
                    "dash": "solid" if index < len(RUN_COLOURS) else "dash",
                },
                hovertemplate=f"{label}<br>epoch %{{x}}: {title} %{{y:.4f}}<extra></extra>",
            )
        )
    figure.update_layout(
        xaxis_title="epoch",
        yaxis_title=title,
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 40, "r": 10, "t": 10, "b": 40},
        height=380,
    )
    if metric.endswith("accuracy"):
        figure.update_yaxes(tickformat=".0%")
    return figure


@dataclass(frozen=True)
class Axis:
    """One axis of a parallel-coordinates view: a column of the runs table and how to show it."""

    column: str
    title: str  # short: a phone's view has about 50 pixels an axis
    log: bool = False  # a log scale, ticked at the values the runs used
    tickformat: str | None = None  # plotly's number format for the axis (".0%", "~s")


def parallel_figure(frame: pd.DataFrame, axes: Sequence[Axis], target: Axis) -> go.Figure:
    """Parallel coordinates: one line per run across `axes`, ending at `target`, coloured by it.

    Text and yes/no columns become evenly spaced axes labelled with their values; a numeric
    column with few values is ticked at exactly those values.
    """
    dimensions = [_dimension(frame[axis.column], axis) for axis in [*axes, target]]
    scores = frame[target.column].astype(float)
    figure = go.Figure(
        go.Parcoords(
            # No colour bar: the last axis is the scale, and a bar would squeeze a phone's axes.
            line={"color": scores.tolist(), "colorscale": "Viridis", "showscale": False},
            dimensions=dimensions,
            labelangle=-25,
            labelside="top",
        )
    )
    figure.update_layout(margin={"l": 40, "r": 40, "t": 80, "b": 20}, height=420)
    return figure


def _dimension(values: pd.Series, axis: Axis) -> dict:
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        categories = sorted({str(v) for v in values}, key=_natural_key)
        return {
            "label": axis.title,
            "values": [categories.index(str(v)) for v in values],
            "tickvals": list(range(len(categories))),
            "ticktext": [{"True": "yes", "False": "no"}.get(c, c) for c in categories],
        }
    numbers = values.astype(float)
    if axis.tickformat:
        return {"label": axis.title, "values": numbers.tolist(), "tickformat": axis.tickformat}
    distinct = sorted(set(numbers.dropna().tolist()))
    log = axis.log and distinct and distinct[0] > 0
    shown = np.log10(numbers) if log else numbers
    dimension = {"label": axis.title, "values": shown.tolist()}
    if len(distinct) <= 8:
        dimension["tickvals"] = np.log10(distinct).tolist() if log else distinct
        dimension["ticktext"] = [f"{v:g}" for v in distinct]
    return dimension


def _natural_key(text: str) -> tuple:
    """Sort "8, 16" before "32" and numbers as numbers."""
    try:
        return (0, [float(part) for part in text.split(",")])
    except ValueError:
        return (1, text)


def confusion_figure(counts: np.ndarray, class_names: Sequence[str], normalized: bool = True) -> go.Figure:
    """The confusion matrix as a heatmap: rows true class, columns predicted, count and share on hover.

    An invisible scatter trace puts one selectable marker on every cell; its `customdata`
    holds (true index, predicted index) so a page can open the images behind a clicked cell.
    """
    counts = np.asarray(counts)
    shares = row_shares(counts)
    values = shares if normalized else counts
    names = list(class_names)
    text = [[f"{v:.0%}" if normalized else str(int(v)) for v in row] for row in values]
    hover = [
        [
            f"true {names[t]}, predicted {names[p]}<br>{int(counts[t, p])} images, {shares[t, p]:.1%} of {names[t]}"
            for p in range(len(names))
        ]
        for t in range(len(names))
    ]
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            hoverinfo="skip",  # the cell markers above carry the hover text and the clicks
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalized else None,
            # Below the matrix, not beside it: on a phone a side colour bar squeezes the cells.
            colorbar={
                "tickformat": ".0%" if normalized else "",
                "orientation": "h",
                "y": -0.36,
                "thickness": 12,
            },
        )
    )
    figure.add_trace(_cell_markers(names, hover))
    figure.update_layout(
        xaxis={"title": "predicted class", "side": "bottom", "tickangle": -45},
        yaxis={"title": "true class", "autorange": "reversed"},
        margin={"l": 80, "r": 10, "t": 20, "b": 10},
        height=620,
        clickmode="event+select",
        dragmode=False,
    )
    return figure


def _cell_markers(names: list[str], hover: list[list[str]]) -> go.Scatter:
    """An invisible, selectable marker on every cell; its customdata is (true, predicted)."""
    true_index, predicted_index = np.meshgrid(range(len(names)), range(len(names)), indexing="ij")
    return go.Scatter(
        x=[names[p] for p in predicted_index.ravel()],
        y=[names[t] for t in true_index.ravel()],
        customdata=np.stack([true_index.ravel(), predicted_index.ravel()], axis=1),
        text=[hover[t][p] for t, p in zip(true_index.ravel(), predicted_index.ravel(), strict=True)],
        # Not hoverinfo="skip": plotly sends no click for a trace that skips hover.
        hovertemplate="%{text}<extra></extra>",
        mode="markers",
        marker={"size": 28, "opacity": 0, "symbol": "square"},
        showlegend=False,
        name=CELL_TRACE_NAME,
    )


def selected_cell(points: Sequence[dict], class_names: Sequence[str]) -> tuple[int, int] | None:
    """(true, predicted) class indices of the first selected cell marker, or None.

    Reads the marker's customdata, else its axis labels (x predicted, y true).
    """
    names = list(class_names)
    for point in points or []:
        data = point.get("customdata")
        if isinstance(data, dict):  # Streamlit hands a row of customdata over as {"0": .., "1": ..}
            data = [data[key] for key in sorted(data, key=str)]
        if data is not None and len(data) == 2:
            return int(data[0]), int(data[1])
        if point.get("y") in names and point.get("x") in names:
            return names.index(point["y"]), names.index(point["x"])
    return None


def probability_figure(
    probabilities: np.ndarray, class_names: Sequence[str], true_class: int | None = None
) -> go.Figure:
    """Horizontal bars of every class's probability, the most probable on top."""
    probabilities = np.asarray(probabilities, dtype=float)
    order = np.argsort(probabilities, kind="stable")  # ascending: plotly draws bottom-up
    colours = [VALIDATION_COLOUR if i == true_class else TRAIN_COLOUR if i == order[-1] else "#94a3b8" for i in order]
    figure = go.Figure(
        go.Bar(
            x=probabilities[order],
            y=[class_names[i] for i in order],
            orientation="h",
            marker={"color": colours},
            text=[f"{p:.1%}" for p in probabilities[order]],
            textposition="auto",
            hovertemplate="%{y}: %{x:.2%}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={"range": [0, 1], "tickformat": ".0%", "title": "probability"},
        margin={"l": 80, "r": 10, "t": 10, "b": 40},
        height=300,
    )
    return figure


def class_counts_figure(
    train_counts: Sequence[int], test_counts: Sequence[int], class_names: Sequence[str]
) -> go.Figure:
    """Grouped bars: images per class in the training and test splits."""
    figure = go.Figure()
    for counts, name, colour in ((train_counts, "train", TRAIN_COLOUR), (test_counts, "test", VALIDATION_COLOUR)):
        figure.add_trace(
            go.Bar(
                x=list(class_names),
                y=list(counts),
                name=name,
                marker={"color": colour},
                hovertemplate=f"%{{x}}: %{{y:,}} {name} images<extra></extra>",
            )
        )
    figure.update_layout(
        barmode="group",
        xaxis={"tickangle": -45, "automargin": True},
        yaxis_title="images",
        legend={"orientation": "h", "y": -0.3},
        margin={"l": 40, "r": 10, "t": 10, "b": 40},
        height=320,
    )
    return figure


def batch_figure(batch_events: Sequence[dict], marks: Sequence[Mark] = ()) -> go.Figure:
    """Live training curves: the running loss and accuracy of the current epoch, batch by batch.

    Keras reports the mean over the epoch so far, so each epoch's curve starts noisy and settles.
    A batch is at x = epochs done when it ended (epoch 3, batch 50 of 100 at 2.5), as are
    `marks`, where the course changed (cifar/study/changes.py).
    """
    x = [event["epoch"] - 1 + event["batch"] / event["batches"] for event in batch_events]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=x,
            y=[event["loss"] for event in batch_events],
            name="loss",
            line={"color": TRAIN_COLOUR},
            hovertemplate="epoch %{x:.2f}<br>loss %{y:.4f}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=x,
            y=[event["accuracy"] for event in batch_events],
            name="accuracy",
            yaxis="y2",
            line={"color": VALIDATION_COLOUR},
            hovertemplate="epoch %{x:.2f}<br>accuracy %{y:.1%}<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={"title": "epoch", "rangemode": "tozero"},
        yaxis={"title": "loss", "rangemode": "tozero"},
        yaxis2={"title": "accuracy", "overlaying": "y", "side": "right", "range": [0, 1], "tickformat": ".0%"},
        legend={"orientation": "h", "y": -0.3},
        margin={"l": 40, "r": 40, "t": 10, "b": 40},
        height=300,
    )
    if marks:
        end = max([*x, *(mark_x for mark_x, *_ in marks)])
        draw_marks(figure, marks, (0, end + max(0.03 * end, 0.05)))
    return figure


# Ten colours told apart by most eyes, one per CIFAR-10 class (Tableau 10).
CLASS_COLOURS = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
MISTAKE_SYMBOL = "x"


def feature_map_figure(
    points: np.ndarray,
    labels: np.ndarray,
    predicted: np.ndarray,
    indices: np.ndarray,
    class_names: Sequence[str],
    chosen: int | None = None,
) -> go.Figure:
    """The map of what a network learned: one point per image, coloured by its true class, a
    cross where the network got it wrong; `chosen` (a position in the map) ringed.

    Each point's customdata is its position in the map, which a selection reports back.
    """
    figure = go.Figure()
    for class_index, name in enumerate(class_names):
        colour = CLASS_COLOURS[class_index % len(CLASS_COLOURS)]
        mine = np.flatnonzero(labels == class_index)
        for group, symbol in (
            (mine[predicted[mine] == class_index], "circle"),
            (mine[predicted[mine] != class_index], MISTAKE_SYMBOL),
        ):
            wrong = symbol == MISTAKE_SYMBOL
            text = [
                f"#{indices[p]}: {name}, taken for {class_names[predicted[p]]}" if wrong else f"#{indices[p]}: {name}"
                for p in group
            ]
            figure.add_trace(
                go.Scatter(
                    x=points[group, 0], y=points[group, 1], mode="markers", name=name, customdata=group, text=text,
                    legendgroup=name, showlegend=not wrong, hovertemplate="%{text}<extra></extra>",
                    marker={"color": colour, "size": 7 if wrong else 6, "symbol": symbol, "opacity": 0.8},
                )
            )  # fmt: skip
    if chosen is not None:
        figure.add_trace(
            go.Scatter(
                x=[points[chosen, 0]], y=[points[chosen, 1]], mode="markers", name="chosen", hoverinfo="skip",
                marker={"size": 18, "color": "rgba(0,0,0,0)", "line": {"color": "#111827", "width": 2}},
                showlegend=False,
            )
        )  # fmt: skip
    figure.update_layout(
        xaxis={"visible": False}, yaxis={"visible": False}, height=520,
        legend={"orientation": "h", "y": -0.05, "itemclick": "toggle"}, margin={"l": 0, "r": 0, "t": 10, "b": 10},
        dragmode="pan", clickmode="event+select", plot_bgcolor="white",
    )  # fmt: skip
    return figure


def chosen_point(points: Sequence[dict]) -> int | None:
    """The map position of the point a selection on `feature_map_figure` reports, or None."""
    for point in points:
        data = point.get("customdata")
        if isinstance(data, list):
            data = data[0] if data else None
        if isinstance(data, int | float) and not isinstance(data, bool):
            return int(data)
    return None


def robustness_figure(budgets: Sequence[int], accuracy: dict[str, Sequence[float]]) -> go.Figure:
    """Test accuracy under attack against the budget ε, one line per attack."""
    figure = go.Figure()
    for (method, values), colour in zip(accuracy.items(), (VALIDATION_COLOUR, TRAIN_COLOUR), strict=False):
        figure.add_trace(
            go.Scatter(
                x=list(budgets), y=list(values), name=method.upper(), mode="lines+markers", line={"color": colour},
                hovertemplate=f"{method.upper()} at ε = %{{x}}/255: %{{y:.1%}}<extra></extra>",
            )
        )  # fmt: skip
    figure.update_layout(
        xaxis={"title": "ε, the budget (pixel levels of 255)", "tickvals": list(budgets)},
        yaxis={"title": "test accuracy under attack", "tickformat": ".0%", "range": [0, 1]},
        legend={"orientation": "h", "y": -0.3}, margin={"l": 40, "r": 10, "t": 20, "b": 40}, height=320,
    )  # fmt: skip
    return figure
