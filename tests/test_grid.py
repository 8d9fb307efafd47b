from __future__ import annotations

import itertools

import numpy as np
import plotly.graph_objects as go
import pytest

from cifar.study import grid

DROPOUT = grid.Setting("dropout", "Dropout", ("0", "0.25", "0.5"))
FILTERS = grid.Setting("filters", "Filters", ("16,32", "32,64", "64,128"))
AUGMENT = grid.Setting("augment", "Augment", ("no", "yes"))
# Planted effects, not monotonic, so that a first, last or lowest value taken for the best one shows.
DROPOUT_EFFECT = {0: 0.55, 1: 0.64, 2: 0.60}
FILTERS_EFFECT = {0: 0.58, 1: 0.52, 2: 0.66}


def _runs(effect_of, runs_per_cell: int = 2, noise: float = 0.005, seed: int = 0) -> list[grid.CellRun]:
    """Runs over the dropout × filters grid whose accuracy is `effect_of(cell)` plus seed noise."""
    random = np.random.default_rng(seed)
    runs = []
    for cell in itertools.product(range(3), range(3)):
        for repeat in range(runs_per_cell):
            accuracy = effect_of(cell) + float(random.normal(0, noise))
            runs.append(grid.CellRun(cell, f"run-{cell[0]}{cell[1]}-{repeat}", f"student {repeat}", accuracy, ()))
    return runs


def test_cell_summaries_count_average_and_spread_every_cell():
    runs = [
        grid.CellRun((0, 0), "a", "ana", 0.50, (0.4, 0.5)),
        grid.CellRun((0, 0), "b", "ben", 0.54, (0.54,)),
        grid.CellRun((0, 0), "c", "cy", 0.61, (0.3, 0.61)),
        grid.CellRun((1, 2), "d", "dee", 0.70, (0.7,)),
        grid.CellRun((1, 2), "e", "eve", None, ()),  # launched, no epoch finished yet
        grid.CellRun((2, 1), "f", "fay", None, ()),
    ]
    summaries = grid.cell_summaries([DROPOUT, FILTERS], runs)

    assert [summary.cell for summary in summaries] == [(d, f) for d in range(3) for f in range(3)]
    by_cell = {summary.cell: summary for summary in summaries}
    full = by_cell[(0, 0)]
    assert full.values == ("0", "16,32") and (full.runs, full.launched) == (3, 3)
    assert full.mean == pytest.approx(np.mean([0.50, 0.54, 0.61]))
    assert full.spread == pytest.approx(np.std([0.50, 0.54, 0.61], ddof=1))
    assert full.best == pytest.approx(0.61)
    single = by_cell[(1, 2)]
    assert (single.runs, single.launched, single.mean, single.spread) == (1, 2, pytest.approx(0.70), None)
    training = by_cell[(2, 1)]
    assert (training.runs, training.launched, training.mean, training.best) == (0, 1, None, None)
    empty = [summary.cell for summary in summaries if summary.launched == 0]
    assert empty == [(0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (2, 2)]


def test_a_run_outside_the_grid_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        grid.cell_summaries([DROPOUT, FILTERS], [grid.CellRun((3, 0), "a", "ana", 0.5, ())])
    with pytest.raises(ValueError, match="one index per setting"):
        grid.importances([DROPOUT, FILTERS], [grid.CellRun((1,), "a", "ana", 0.5, ())])


def test_the_setting_that_changes_accuracy_has_the_largest_share_and_its_best_value():
    runs = _runs(lambda cell: DROPOUT_EFFECT[cell[0]])
    found = grid.importances([DROPOUT, FILTERS], runs)

    assert [importance.name for importance in found] == ["dropout", "filters"]
    dropout, filters = found
    assert dropout.share > 0.8 and filters.share < 0.2
    assert sum(importance.share for importance in found) == pytest.approx(1.0)
    assert dropout.best_value == "0.25" and dropout.label == "Dropout"
    assert dropout.best_mean == pytest.approx(np.mean([run.best_accuracy for run in runs if run.cell[0] == 1]))


def test_the_answer_follows_the_setting_that_matters():
    """Swapping which setting changes accuracy swaps the answer: the estimate is used, not assumed."""
    found = grid.importances([DROPOUT, FILTERS], _runs(lambda cell: FILTERS_EFFECT[cell[1]]))

    assert found[0].name == "filters" and found[0].share > 0.8
    assert found[0].best_value == "64,128"


def _both_matter(cell: tuple[int, ...]) -> float:
    return DROPOUT_EFFECT[cell[0]] + 0.02 * cell[1]


def test_few_runs_give_a_wide_spread_and_many_a_narrow_one():
    few = grid.importances([DROPOUT, FILTERS], _runs(_both_matter, runs_per_cell=1, noise=0.02)[:5])
    many = grid.importances([DROPOUT, FILTERS], _runs(_both_matter, runs_per_cell=4, noise=0.02))

    assert few[0].spread > 2 * many[0].spread


def test_importances_need_three_finished_runs_with_differences():
    two = [grid.CellRun((0, 0), "a", "ana", 0.5, ()), grid.CellRun((1, 0), "b", "ben", 0.6, ())]
    unfinished = grid.CellRun((2, 0), "c", "cy", None, ())
    same = [grid.CellRun((index, 0), str(index), "ana", 0.5, ()) for index in range(3)]

    assert grid.importances([DROPOUT, FILTERS], [*two, unfinished]) == []
    assert grid.importances([DROPOUT, FILTERS], same) == []
    assert grid.importance_words([], 2) == "Once at least 3 runs have finished, this says which setting mattered most."
    assert "same test accuracy" in grid.importance_words([], 3)


def test_one_setting_has_the_whole_share():
    runs = [grid.CellRun((cell,), str(cell), "ana", DROPOUT_EFFECT[cell], ()) for cell in range(3)]
    (only,) = grid.importances([DROPOUT], runs)

    assert (only.share, only.best_value, only.best_mean) == (1.0, "0.25", pytest.approx(0.64))
    assert grid.importance_words([only], 3).startswith("In this class, dropout 0.25 was best, at 64.0% test accuracy")


def test_importances_are_the_same_on_every_refresh():
    runs = _runs(lambda cell: DROPOUT_EFFECT[cell[0]], runs_per_cell=1, noise=0.03)
    assert grid.importances([DROPOUT, FILTERS], runs) == grid.importances([DROPOUT, FILTERS], runs)


def _importance(setting: grid.Setting, share: float, spread: float, best_value: str, best_mean: float):
    return grid.Importance(setting.name, setting.label, share, spread, best_value, best_mean)


def test_the_words_name_the_setting_its_share_and_its_best_value():
    clear = [_importance(DROPOUT, 0.70, 0.12, "0.25", 0.641), _importance(FILTERS, 0.30, 0.12, "32,64", 0.60)]

    assert grid.importance_words(clear, 12) == (
        "In this class, dropout explained most of the difference (about 70% ± 12%): "
        "0.25 was best, at 64.1% test accuracy on average."
    )
    assert grid.importance_words(clear, 4).endswith("With only 4 runs finished, this may change as more finish.")


def test_the_words_say_when_two_settings_mattered_about_equally():
    close = [_importance(FILTERS, 0.52, 0.10, "32,64", 0.62), _importance(DROPOUT, 0.48, 0.10, "0.25", 0.6)]
    apart = [
        _importance(FILTERS, 0.45, 0.05, "32,64", 0.62),
        _importance(DROPOUT, 0.30, 0.05, "0.25", 0.6),
        _importance(AUGMENT, 0.25, 0.05, "yes", 0.6),
    ]

    assert "filters and dropout mattered about equally" in grid.importance_words(close, 20)
    assert "filters mattered most (about 45% ± 5% of the difference)" in grid.importance_words(apart, 20)


def _heatmaps(figure: go.Figure) -> list[go.Heatmap]:
    return [trace for trace in figure.data if isinstance(trace, go.Heatmap)]


def _annotation_texts(figure: go.Figure) -> list[str]:
    return [annotation.text.replace("<br>", " ") for annotation in figure.layout.annotations]


def test_grid_figure_puts_each_cell_mean_in_its_row_and_column():
    runs = [
        grid.CellRun((0, 2), "a", "ana", 0.60, ()),
        grid.CellRun((0, 2), "b", "ben", 0.63, ()),
        grid.CellRun((2, 0), "c", "cy", 0.71, ()),
    ]
    figure = grid.grid_figure([DROPOUT, FILTERS], grid.cell_summaries([DROPOUT, FILTERS], runs))

    (heatmap,) = _heatmaps(figure)
    z = np.array(heatmap.z, dtype=float)  # rows dropout, columns filters, in percent
    expected = np.full((3, 3), np.nan)
    expected[0, 2], expected[2, 0] = 61.5, 71.0
    np.testing.assert_allclose(z, expected)
    spread = np.std([60, 63], ddof=1)
    assert heatmap.text[0][2].replace("<br>", " · ") == f"61.5% · 2 runs ± {spread:.1f}"
    assert heatmap.text[2][0].replace("<br>", " · ") == "71.0% · 1 run"
    assert _annotation_texts(figure).count("no run yet") == 7
    assert figure.layout.yaxis.title.text == "Dropout" and figure.layout.xaxis.title.text == "Filters"
    assert list(figure.layout.yaxis.ticktext) == list(DROPOUT.values)
    assert list(figure.layout.xaxis.ticktext) == list(FILTERS.values)
    scale = figure.layout.coloraxis
    assert scale.showscale and scale.cmin < 61.5 and scale.cmax > 71.0


def test_grid_figure_of_one_setting_is_one_row():
    runs = [grid.CellRun((1,), "a", "ana", 0.64, ())]
    figure = grid.grid_figure([DROPOUT], grid.cell_summaries([DROPOUT], runs))

    (heatmap,) = _heatmaps(figure)
    assert np.array(heatmap.z, dtype=float).shape == (1, 3)
    assert figure.layout.xaxis.title.text == "Dropout"


def test_grid_figure_of_three_settings_has_one_heatmap_per_value_of_the_third():
    settings = [DROPOUT, FILTERS, AUGMENT]
    runs = [grid.CellRun((0, 1, 0), "a", "ana", 0.55, ()), grid.CellRun((2, 1, 1), "b", "ben", 0.66, ())]
    figure = grid.grid_figure(settings, grid.cell_summaries(settings, runs))

    heatmaps = _heatmaps(figure)
    assert len(heatmaps) == len(AUGMENT.values)
    assert len({heatmap.coloraxis for heatmap in heatmaps}) == 1  # one scale shared by the panels
    assert np.array(heatmaps[0].z, dtype=float)[0, 1] == pytest.approx(55.0)
    assert np.array(heatmaps[1].z, dtype=float)[2, 1] == pytest.approx(66.0)
    assert {"Augment no", "Augment yes"} <= set(_annotation_texts(figure))


def test_grid_figure_with_no_finished_run_has_no_scale():
    runs = [grid.CellRun((0, 0), "a", "ana", None, ())]
    figure = grid.grid_figure([DROPOUT, FILTERS], grid.cell_summaries([DROPOUT, FILTERS], runs))

    assert not figure.layout.coloraxis.showscale
    assert sorted(_annotation_texts(figure)) == ["1 run training"] + ["no run yet"] * 8
    with pytest.raises(ValueError, match="1 to 3 settings"):
        grid.grid_figure([], [])


def test_curves_figure_overlays_the_chosen_cells_one_colour_each():
    runs = [
        grid.CellRun((1, 1), "run-a", "ana", 0.6, (0.4, 0.6)),
        grid.CellRun((1, 1), "run-b", "ben", 0.62, (0.45, 0.62, 0.6)),
        grid.CellRun((2, 0), "run-c", "cy", 0.5, (0.5,)),
        grid.CellRun((0, 0), "run-d", "dee", 0.7, (0.7,)),  # not chosen
        grid.CellRun((2, 0), "run-e", "eve", None, ()),  # nothing to draw yet
    ]
    figure = grid.curves_figure([DROPOUT, FILTERS], runs, [(1, 1), (2, 0)])

    assert [list(trace.y) for trace in figure.data] == [[0.4, 0.6], [0.45, 0.62, 0.6], [0.5]]
    assert list(figure.data[1].x) == [1, 2, 3]
    assert figure.data[0].line.color == figure.data[1].line.color != figure.data[2].line.color
    assert [trace.name for trace in figure.data if trace.showlegend] == [
        "dropout 0.25 · filters 32,64",
        "dropout 0.5 · filters 16,32",
    ]
    assert "run-b by ben" in figure.data[1].hovertemplate


def test_experiment_table_has_a_row_per_cell_and_a_column_per_setting():
    runs = [grid.CellRun((0, 1), "a", "ana", 0.5, ()), grid.CellRun((0, 1), "b", "ben", 0.6, ())]
    table = grid.experiment_table([DROPOUT, FILTERS], grid.cell_summaries([DROPOUT, FILTERS], runs))

    assert list(table.columns) == ["Dropout", "Filters", "runs", "mean", "spread", "best"]
    assert len(table) == 9
    row = table[(table["Dropout"] == "0") & (table["Filters"] == "32,64")].iloc[0]
    assert (row["runs"], row["mean"], row["best"]) == (2, pytest.approx(0.55), pytest.approx(0.6))
    assert row["spread"] == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert table["runs"].sum() == 2 and table["mean"].isna().sum() == 8
