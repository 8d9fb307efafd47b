"""A class experiment's answer: one to three settings varied over a grid of cells, students
each training a cell, and from their runs a summary per cell, which setting mattered most (and
how sure that is), a sentence saying so, a heatmap of the grid, the curves of chosen cells and
a table for download.

Pure functions over plain data: nothing here reads a run or imports Streamlit, so the page
that shows an experiment only gathers its runs and places what this module builds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sklearn import ensemble, inspection

from cifar.study.charts import RUN_COLOURS

MAX_SETTINGS = 3  # the heatmap shows rows, columns and panels side by side: three settings at most
MIN_RUNS = 3  # finished runs below which no importance is estimated
FEW_RUNS = 6  # finished runs below which the sentence warns that the answer may change
# Few trees per forest: every resample fits its own, so the answer averages over many forests,
# and a forest's cost is mostly Python overhead per tree, paid on every page refresh.
FOREST_TREES = 20
PERMUTATION_REPEATS = 20  # shuffles of each setting's column per resample
BOOTSTRAP_RESAMPLES = 30  # resamples of the runs; their spread is the uncertainty reported
EMPTY_CELL_COLOUR = "#e5e7eb"  # what shows through a cell without a finished run
MUTED_TEXT_COLOUR = "#64748b"
SCALE_STEP = 5.0  # the colour scale's ends move in steps of this many points, so colours stay comparable


@dataclass(frozen=True)
class Setting:
    """One setting the experiment varies."""

    name: str  # the config field, as "dropout"
    label: str  # how a person reads it, as "Dropout"
    values: tuple[str, ...]  # the values tried, as display text, in the teacher's order


@dataclass(frozen=True)
class CellRun:
    """One run of the experiment."""

    cell: tuple[int, ...]  # the index into each setting's values, in the settings' order
    run_id: str
    who: str  # the person who launched it
    best_accuracy: float | None  # best test accuracy so far, 0 to 1; None before its first epoch ends
    curve: tuple[float, ...]  # test accuracy after each epoch, 0 to 1


@dataclass(frozen=True)
class CellSummary:
    """What the runs of one cell reached."""

    cell: tuple[int, ...]  # the index into each setting's values
    values: tuple[str, ...]  # those values as display text
    runs: int  # runs with at least one finished epoch
    launched: int  # all runs in the cell, finished epochs or not
    mean: float | None  # mean best test accuracy over `runs`, 0 to 1; None when `runs` is 0
    spread: float | None  # sample standard deviation of the same; None below two runs
    best: float | None  # the highest best test accuracy in the cell


@dataclass(frozen=True)
class Importance:
    """How much one setting explains of the differences in best test accuracy."""

    name: str
    label: str
    share: float  # its share of the settings' summed importance, 0 to 1, averaged over resamples
    spread: float  # standard deviation of that share over bootstrap resamples of the runs
    best_value: str | None  # the value whose runs, over all other settings, did best on average
    best_mean: float | None  # those runs' mean best test accuracy, 0 to 1


def cell_summaries(settings: Sequence[Setting], runs: Sequence[CellRun]) -> list[CellSummary]:
    """One summary per cell of the whole grid, in row-major order of the settings.

    Args:
        settings: the varied settings, in the experiment's order.
        runs: every run of the experiment, finished epochs or not.

    Returns:
        A summary for every cell, those without a run included (zero runs, no mean).

    Raises:
        ValueError: a run's cell does not index into the settings' values.
    """
    _check_cells(settings, [run.cell for run in runs])
    by_cell: dict[tuple[int, ...], list[CellRun]] = {}
    for run in runs:
        by_cell.setdefault(tuple(run.cell), []).append(run)
    return [_summary(settings, cell, by_cell.get(cell, [])) for cell in _all_cells(settings)]


def _summary(settings: Sequence[Setting], cell: tuple[int, ...], runs: list[CellRun]) -> CellSummary:
    accuracies = np.array([run.best_accuracy for run in runs if run.best_accuracy is not None], dtype=float)
    return CellSummary(
        cell=cell,
        values=_cell_values(settings, cell),
        runs=len(accuracies),
        launched=len(runs),
        mean=float(accuracies.mean()) if len(accuracies) else None,
        spread=float(accuracies.std(ddof=1)) if len(accuracies) >= 2 else None,
        best=float(accuracies.max()) if len(accuracies) else None,
    )


def importances(settings: Sequence[Setting], runs: Sequence[CellRun], seed: int = 0) -> list[Importance]:
    """Which setting mattered most: each setting's share of the differences between runs.

    A random forest learns best test accuracy from the cell of each finished run, and sklearn's
    permutation importance says how much its fit suffers when one setting's column is shuffled.
    That is repeated over bootstrap resamples of the runs: the share reported is the mean over
    them, and its spread their standard deviation, which is wide while runs are few.

    Args:
        settings: the varied settings, in the experiment's order.
        runs: every run of the experiment; those without a finished epoch are left out.
        seed: fixes the resamples, forests and shuffles, so a refresh gives the same answer.

    Returns:
        One importance per setting, the largest share first; shares sum to 1 unless no setting
        explains anything. Empty below three finished runs, or when all of them reached the
        same accuracy.

    Raises:
        ValueError: a run's cell does not index into the settings' values.
    """
    _check_cells(settings, [run.cell for run in runs])
    finished = [run for run in runs if run.best_accuracy is not None]
    targets = np.array([run.best_accuracy for run in finished], dtype=float)
    if len(finished) < MIN_RUNS or np.ptp(targets) == 0:
        return []
    features = np.array([run.cell for run in finished], dtype=int)
    if len(settings) == 1:
        # Alone, a setting is all there is to explain the differences; no forest can say more.
        shares, spreads = np.ones(1), np.zeros(1)
    else:
        shape = tuple(len(setting.values) for setting in settings)
        shares, spreads = _bootstrap_shares(features, targets, shape, seed)
    found = []
    for index, setting in enumerate(settings):
        best_value, best_mean = _best_value(setting, features[:, index], targets)
        found.append(
            Importance(setting.name, setting.label, float(shares[index]), float(spreads[index]), best_value, best_mean)
        )
    return sorted(found, key=lambda importance: importance.share, reverse=True)


def _best_value(setting: Setting, column: np.ndarray, targets: np.ndarray) -> tuple[str, float]:
    """The value of `setting` whose runs (`column` holds their value indices) have the highest
    mean accuracy, and that mean; the first such value on a tie."""
    means = {int(index): float(targets[column == index].mean()) for index in np.unique(column)}
    best = max(means, key=means.__getitem__)
    return setting.values[best], means[best]


def _bootstrap_shares(
    features: np.ndarray, targets: np.ndarray, shape: tuple[int, ...], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each setting's mean share of importance over bootstrap resamples, and its standard deviation."""
    random = np.random.default_rng(seed)
    grid = np.indices(shape).reshape(len(shape), -1).T
    samples = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        chosen = random.integers(len(targets), size=len(targets))
        if np.ptp(targets[chosen]) == 0:
            continue  # a resample without differences has nothing to explain, and R² is undefined
        forest = ensemble.RandomForestRegressor(FOREST_TREES, random_state=int(random.integers(2**31)), n_jobs=1)
        forest.fit(features[chosen], targets[chosen])
        result = inspection.permutation_importance(
            forest,
            features[chosen],
            targets[chosen],
            scoring=_grid_r2_scorer(forest.predict(grid), shape),
            n_repeats=PERMUTATION_REPEATS,
            random_state=int(random.integers(2**31)),
            n_jobs=1,
        )
        clipped = np.clip(result.importances_mean, 0, None)  # below zero is noise: shuffling never helps
        if clipped.sum() > 0:
            samples.append(clipped / clipped.sum())
    if not samples:
        return np.zeros(len(shape)), np.zeros(len(shape))
    return np.mean(samples, axis=0), np.std(samples, axis=0)


def _grid_r2_scorer(
    grid_predictions: np.ndarray, shape: tuple[int, ...]
) -> Callable[[object, np.ndarray, np.ndarray], float]:
    """R² of a fitted forest whose predictions over every cell are `grid_predictions`.

    A forest's prediction depends only on the cell, so one predict over the grid serves every
    shuffled copy that permutation_importance scores: a predict per shuffle would cost more
    than the rest of the estimate together.
    """

    def score(_forest: object, features: np.ndarray, targets: np.ndarray) -> float:
        predicted = grid_predictions[np.ravel_multi_index(np.asarray(features, dtype=int).T, shape)]
        return 1.0 - np.sum((targets - predicted) ** 2) / np.sum((targets - targets.mean()) ** 2)

    return score


def importance_words(importances: Sequence[Importance], runs_finished: int) -> str:
    """The answer in a sentence a student reads: which setting mattered, how surely, what did best.

    Args:
        importances: what `importances` returned, the largest share first.
        runs_finished: how many runs have at least one finished epoch.

    Returns:
        One or two sentences; with no importances, what is needed before there is an answer.
    """
    if not importances:
        if runs_finished < MIN_RUNS:
            return f"Once at least {MIN_RUNS} runs have finished, this says which setting mattered most."
        return f"All {runs_finished} finished runs reached the same test accuracy, so no setting stands out yet."
    top = importances[0]
    best = f"{top.best_value} was best, at {top.best_mean:.1%} test accuracy on average"
    if len(importances) == 1:
        sentence = f"In this class, {_in_sentence(top.label)} {best}."
    elif top.share == 0:
        sentence = "In this class, no setting explains the differences between runs yet: they look like chance."
    elif top.share - importances[1].share <= top.spread + importances[1].spread:
        second = importances[1]
        sentence = (
            f"In this class, {_in_sentence(top.label)} and {_in_sentence(second.label)} mattered about equally"
            f" (about {_share(top)} and {_share(second)}); {_in_sentence(top.label)} {best}."
        )
    elif top.share >= 0.5:
        sentence = (
            f"In this class, {_in_sentence(top.label)} explained most of the difference (about {_share(top)}): {best}."
        )
    else:
        sentence = (
            f"In this class, {_in_sentence(top.label)} mattered most (about {_share(top)} of the difference): {best}."
        )
    if runs_finished < FEW_RUNS:
        sentence += f" With only {runs_finished} runs finished, this may change as more finish."
    return sentence


def _share(importance: Importance) -> str:
    return f"{importance.share:.0%} ± {importance.spread:.0%}"


def _in_sentence(label: str) -> str:
    """A label inside a sentence: "Dropout" becomes "dropout", "BatchNorm" stays as it is."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def grid_figure(settings: Sequence[Setting], summaries: Sequence[CellSummary]) -> go.Figure:
    """A heatmap of each cell's mean best test accuracy, in percent, with its runs and spread.

    One setting is a single row; two are rows (the first) by columns (the second); with three,
    one heatmap per value of the third sits beside the others on a shared colour scale. A cell
    without a finished run is grey and says so.

    Args:
        settings: the varied settings, in the experiment's order.
        summaries: what `cell_summaries` returned; a cell missing from it shows as empty.

    Raises:
        ValueError: there are no settings or more than three.
    """
    if not 1 <= len(settings) <= MAX_SETTINGS:
        raise ValueError(f"a grid figure shows 1 to {MAX_SETTINGS} settings, not {len(settings)}")
    by_cell = {tuple(summary.cell): summary for summary in summaries}
    panels: list[int | None] = [None]
    titles = None
    if len(settings) == MAX_SETTINGS:
        panels = list(range(len(settings[2].values)))
        titles = [f"{settings[2].label} {value}" for value in settings[2].values]
    figure = make_subplots(rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.03, subplot_titles=titles)
    for column, panel in enumerate(panels, start=1):
        _add_panel(figure, settings, by_cell, panel, column)
    means = [summary.mean * 100 for summary in by_cell.values() if summary.mean is not None]
    rows = len(settings[0].values) if len(settings) > 1 else 1
    figure.update_layout(
        coloraxis=_colour_axis(means),
        plot_bgcolor=EMPTY_CELL_COLOUR,
        margin={"l": 40, "r": 10, "t": 30 if titles else 10, "b": 40},
        height=170 + 55 * rows,
    )
    return figure


def _add_panel(
    figure: go.Figure,
    settings: Sequence[Setting],
    by_cell: dict[tuple[int, ...], CellSummary],
    panel: int | None,
    column: int,
) -> None:
    """One heatmap: rows by columns of the grid, for the third setting's value `panel` if any."""
    cells = _panel_cells(settings, panel)
    summaries = [[by_cell.get(cell) for cell in row] for row in cells]
    figure.add_trace(
        go.Heatmap(
            z=[[_percent(summary) for summary in row] for row in summaries],
            x=list(range(len(cells[0]))),
            y=list(range(len(cells))),
            text=[[_cell_text(summary) for summary in row] for row in summaries],
            texttemplate="%{text}",
            hovertext=[[_cell_hover(settings, cell, by_cell.get(cell)) for cell in row] for row in cells],
            hovertemplate="%{hovertext}<extra></extra>",
            coloraxis="coloraxis",
        ),
        row=1,
        col=column,
    )
    # An annotation, not the heatmap's own text: some plotly.js versions draw no text over a
    # cell without a value (plotly.js issue 6919).
    for row, line in enumerate(summaries):
        for place, summary in enumerate(line):
            if _percent(summary) is None:
                figure.add_annotation(
                    x=place,
                    y=row,
                    text=_empty_text(summary),
                    showarrow=False,
                    font={"size": 11, "color": MUTED_TEXT_COLOUR},
                    row=1,
                    col=column,
                )
    across, down = (settings[0], None) if len(settings) == 1 else (settings[1], settings[0])
    _label_axes(figure, across, down, column)


def _panel_cells(settings: Sequence[Setting], panel: int | None) -> list[list[tuple[int, ...]]]:
    """The cells one heatmap shows, row by row: one row for one setting, else the first setting's
    values down and the second's across, the third (if any) fixed at `panel`."""
    if len(settings) == 1:
        return [[(place,) for place in range(len(settings[0].values))]]
    fixed = () if panel is None else (panel,)
    return [
        [(row, place, *fixed) for place in range(len(settings[1].values))] for row in range(len(settings[0].values))
    ]


def _percent(summary: CellSummary | None) -> float | None:
    return summary.mean * 100 if summary is not None and summary.mean is not None else None


def _label_axes(figure: go.Figure, across: Setting, down: Setting | None, column: int) -> None:
    """Ticks at each value; the column setting's label below every panel, the row's on the first.

    The ranges are set, not left to plotly: it would shrink them to the cells that have a value.
    """
    rows = len(down.values) if down else 1
    figure.update_xaxes(
        tickvals=list(range(len(across.values))),
        ticktext=list(across.values),
        range=[-0.5, len(across.values) - 0.5],
        title_text=across.label,
        showgrid=False,
        zeroline=False,
        row=1,
        col=column,
    )
    figure.update_yaxes(
        tickvals=list(range(rows)) if down else [],
        ticktext=list(down.values) if down else [],
        range=[rows - 0.5, -0.5],  # the first value on top, as in a table
        title_text=down.label if down and column == 1 else None,
        showgrid=False,
        zeroline=False,
        row=1,
        col=column,
    )


def _cell_text(summary: CellSummary | None) -> str:
    """A cell's text, as "64.1%<br>2 runs ± 1.2" (the spread in points); "" where an annotation speaks.

    Two lines, not one: three panels side by side leave a phone's cells too narrow for one.
    """
    if summary is None or summary.mean is None:
        return ""
    text = f"{summary.mean:.1%}<br>{summary.runs} run{'s' if summary.runs != 1 else ''}"
    return text + (f" ± {summary.spread * 100:.1f}" if summary.spread is not None else "")


def _empty_text(summary: CellSummary | None) -> str:
    if summary is None or summary.launched == 0:
        return "no run<br>yet"
    return f"{summary.launched} run{'s' if summary.launched != 1 else ''}<br>training"


def _cell_hover(settings: Sequence[Setting], cell: tuple[int, ...], summary: CellSummary | None) -> str:
    name = cell_name(settings, cell)
    if summary is None or summary.mean is None:
        return f"{name}<br>{_empty_text(summary)}"
    spread = f", spread {summary.spread:.1%}" if summary.spread is not None else ""
    mean = f"mean {summary.mean:.1%} over {summary.runs} of {summary.launched} runs{spread}"
    return f"{name}<br>{mean}<br>best {summary.best:.1%}"


def _colour_axis(means: Sequence[float]) -> dict:
    """A colour scale over the cells' means, its ends rounded out to whole steps so that it
    changes only when a run lands outside it; no scale at all while every cell is empty."""
    if not means:
        return {"colorscale": "Blues", "showscale": False}
    low = max(0.0, np.floor((min(means) - 1) / SCALE_STEP) * SCALE_STEP)
    high = min(100.0, np.ceil((max(means) + 1) / SCALE_STEP) * SCALE_STEP)
    return {
        "colorscale": "Blues",
        "cmin": float(low),
        "cmax": float(high),
        "showscale": True,
        # Below the grid, not beside it: on a phone a side colour bar squeezes the cells.
        "colorbar": {"orientation": "h", "y": -0.3, "yanchor": "top", "thickness": 12, "ticksuffix": "%"},
    }


def curves_figure(settings: Sequence[Setting], runs: Sequence[CellRun], cells: Sequence[tuple[int, ...]]) -> go.Figure:
    """The test accuracy per epoch of every run in `cells`, overlaid, one colour per cell.

    Args:
        settings: the varied settings, in the experiment's order.
        runs: every run of the experiment; those outside `cells` or without an epoch are left out.
        cells: the cells to show, each an index into every setting's values; their order picks colours.

    Raises:
        ValueError: a cell does not index into the settings' values.
    """
    _check_cells(settings, [*cells, *(run.cell for run in runs)])
    figure = go.Figure()
    for index, cell in enumerate(tuple(cell) for cell in cells):
        name = cell_name(settings, cell)
        shown = [run for run in runs if tuple(run.cell) == cell and run.curve]
        for number, run in enumerate(shown):
            figure.add_trace(
                go.Scatter(
                    x=list(range(1, len(run.curve) + 1)),
                    y=list(run.curve),
                    name=name,
                    legendgroup=name,
                    showlegend=number == 0,  # one legend entry per cell, not per run
                    mode="lines+markers",
                    line={"color": RUN_COLOURS[index % len(RUN_COLOURS)]},
                    hovertemplate=f"{run.run_id} by {run.who}<br>{name}<br>epoch %{{x}}: %{{y:.1%}}<extra></extra>",
                )
            )
    figure.update_layout(
        xaxis_title="epoch",
        yaxis_title="test accuracy",
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 40, "r": 10, "t": 10, "b": 40},
        height=380,
    )
    figure.update_yaxes(tickformat=".0%")
    return figure


def cell_name(settings: Sequence[Setting], cell: Sequence[int]) -> str:
    """A cell in words, as "dropout 0.25 · filters 32,64"."""
    return " · ".join(
        f"{_in_sentence(setting.label)} {value}"
        for setting, value in zip(settings, _cell_values(settings, cell), strict=True)
    )


def experiment_table(settings: Sequence[Setting], summaries: Sequence[CellSummary]) -> pd.DataFrame:
    """The grid as a table to download: one row per cell, a column per setting (its label),
    then runs, mean, spread and best (accuracies 0 to 1, empty where there is none)."""
    rows = [
        {
            **{setting.label: value for setting, value in zip(settings, summary.values, strict=True)},
            "runs": summary.runs,
            "mean": summary.mean,
            "spread": summary.spread,
            "best": summary.best,
        }
        for summary in summaries
    ]
    return pd.DataFrame(rows, columns=[*(setting.label for setting in settings), "runs", "mean", "spread", "best"])


def _all_cells(settings: Sequence[Setting]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(len(setting.values)) for setting in settings)))


def _cell_values(settings: Sequence[Setting], cell: Sequence[int]) -> tuple[str, ...]:
    return tuple(setting.values[index] for setting, index in zip(settings, cell, strict=True))


def _check_cells(settings: Sequence[Setting], cells: Sequence[Sequence[int]]) -> None:
    """Raise ValueError for a cell that does not hold one valid value index per setting."""
    sizes = [len(setting.values) for setting in settings]
    for cell in cells:
        if len(cell) != len(sizes) or not all(0 <= index < size for index, size in zip(cell, sizes, strict=False)):
            raise ValueError(
                f"cell {tuple(cell)} does not fit the settings: it needs one index per setting, "
                f"each from 0 to the setting's value count less one ({sizes})"
            )
