"""`python -m cifar experiment` and `launch --experiment` (cifar/cli/experiment.py): the issue's
walk, a 3 × 2 grid launched by six names on this machine's queue, trained for real, and its
answer printed; and the words for a grid that cannot be made."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli, wait_for_end

from cifar.runs.run import find_run


@pytest.mark.slow  # tens of seconds of real trainings
def test_six_names_cover_a_three_by_two_grid_and_show_prints_its_answer(batches_dir, runs_dir):
    made = run_cli(
        "experiment", "new", "drop-width", "--preset", "quick", "--epochs", "1", "--train-size", "200",
        "--vary", "dropout=0/0.25/0.5", "--vary", "filters=8/16", "--runs-dir", str(runs_dir),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "dropout 0 / 0.25 / 0.5 × filters 8 / 16 (6 cells) on quick" in made.stdout
    assert "train?experiment=drop-width" in made.stdout
    runs = []
    for name in ("Ann", "Bob", "Cy", "Di", "Ed", "Flo"):
        launched = run_cli(
            "launch", "--experiment", "drop-width", "--who", name, "--data", str(batches_dir),
            "--runs-dir", str(runs_dir),
        )  # fmt: skip
        assert launched.returncode == 0, launched.stderr
        assert launched.stdout.splitlines()[1].startswith("cell: dropout ")
        runs.append(find_run(launched.stdout.splitlines()[0], runs_dir))
    for run in runs:
        assert wait_for_end(run, 600).state == "finished", run.written_status().error
    shown = run_cli("experiment", "show", "drop-width", "--json", "--runs-dir", str(runs_dir))
    assert shown.returncode == 0, shown.stderr
    answer = json.loads(shown.stdout)
    cells = {tuple(cell["cell"]): cell for cell in answer["cells"]}
    assert sorted(cells) == [(i, j) for i in range(3) for j in range(2)]
    assert all(len(cell["runs"]) == 1 and cell["mean_accuracy"] is not None for cell in cells.values())
    whose = sorted(run["who"] for cell in cells.values() for run in cell["runs"])
    assert whose == ["Ann", "Bob", "Cy", "Di", "Ed", "Flo"]
    importances = {each["setting"]: each for each in answer["importances"]}
    assert set(importances) == {"dropout", "filters"}, answer
    assert sum(each["share"] for each in importances.values()) == pytest.approx(1.0)
    assert answer["in_words"].startswith("In this class"), answer["in_words"]
    table = run_cli("experiment", "show", "drop-width", "--runs-dir", str(runs_dir))
    assert "dropout 0.25 · filters 16" in table.stdout and "1 finished" in table.stdout


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--vary", "dropuot=0/0.5"], "'dropuot' is not a setting. Did you mean dropout"),
        (["--vary", "dropout=0.5"], "dropout has one value"),
        (["--vary", "dropout=0/2"], "dropout must be at least 0 and below 1; got 2"),
        (["--vary", "epochs=1/2/3/4/5/6/7/8", "--vary", "dropout=0/0.1/0.2/0.3/0.4", "--vary",
          "batch-size=16/32/64/128/256"], "8 × 5 × 5 is 200 cells; an experiment has at most 36"),
        (["--vary", "dropout=0/0.5", "--dropout", "0.2"], "dropout is both fixed and varied"),
    ],
)  # fmt: skip
def test_a_grid_that_cannot_be_made_is_refused_in_words(runs_dir, flags, said):
    result = run_cli("experiment", "new", "bad", *flags, "--runs-dir", str(runs_dir))
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert not (runs_dir / ".class" / "experiments").exists()


def test_launching_an_unknown_experiment_or_with_settings_of_ones_own_is_refused(runs_dir):
    unknown = run_cli("launch", "--experiment", "nope", "--runs-dir", str(runs_dir))
    assert unknown.returncode == 2 and "There is no experiment 'nope'" in unknown.stderr
    flags = run_cli("launch", "--experiment", "nope", "--dropout", "0.1", "--runs-dir", str(runs_dir))
    assert flags.returncode == 2 and "--dropout cannot change them" in flags.stderr
