"""Class experiments (cifar/classroom/experiments.py): what a grid may be, who may make one,
which cell each launch takes (at once too), cells given back, and the answer drawn from runs."""

from __future__ import annotations

import threading

import pytest

from cifar.atomic import write_json_atomic
from cifar.classroom.experiments import (
    answer,
    launch_cell,
    make_experiment,
    next_cell,
    parse_vary,
    read_experiment,
    save_experiment,
)
from cifar.errors import ConfigError, NotAllowed, RunError
from cifar.launch import launcher
from cifar.launch.rules import ClassRules, set_rules
from cifar.runs.audit import read_audit
from cifar.runs.owner import Person, administrator
from cifar.runs.run import list_runs
from cifar.runs.status import write_status

TEACHER = Person("Teacher", "teacher", "teacher password", "teacher")
STUDENTS = [Person(name, f"name:{name.lower()}", "class code", "student") for name in
            ("Ann", "Bob", "Cy", "Di", "Ed", "Flo", "Gus")]  # fmt: skip
VARY = [parse_vary("dropout=0/0.25/0.5"), parse_vary("filters=16,32/32,64")]


def _grid(runs_dir, name="drop-filters", vary=VARY, **fixed):
    experiment = make_experiment(name, "quick", vary, {"epochs": 2, **fixed}, person=TEACHER)
    save_experiment(experiment, runs_dir, person=TEACHER)
    return experiment


def test_vary_reads_values_as_the_command_line_writes_them():
    assert parse_vary("dropout=0/0.25/0.5") == ("dropout", (0.0, 0.25, 0.5))
    assert parse_vary("filters=16,32/32,64/64,128") == ("filters", ((16, 32), (32, 64), (64, 128)))
    assert parse_vary("batch-size=32/64") == ("batch_size", (32, 64))


@pytest.mark.parametrize(
    "vary, said",
    [
        (["dropuot=0/0.5"], "'dropuot' is not a setting. Did you mean dropout"),
        (["dropout"], "--vary takes SETTING=VALUE/VALUE/..."),
        (["dropout=0.5"], "dropout has one value: a setting with one value is fixed"),
        (["dropout=0.5/0.5"], "dropout has one value"),
        (["dropout=0/0.5/0"], "dropout has a value twice"),
        (["dropout=0/1.5"], "dropout: dropout must be at least 0 and below 1"),
        (["dropout=0/0.5", "dropout=0.1/0.2"], "dropout is varied twice"),
        (["seed=1/2"], "seed cannot be varied"),
        (["epochs=1/2/3/4/5/6/7/8", "dropout=0/0.1/0.2/0.3/0.4", "batch_size=16/32/64/128/256"], "200 cells"),
        (["filters=16,32,64/32,64,128", "dropout=0/0.5"], "the cell filters 16,32,64 · dropout 0 is not a network"),
    ],
)
def test_a_grid_that_cannot_be_made_is_refused_saying_why(runs_dir, vary, said):
    with pytest.raises(ConfigError) as refused:
        make_experiment("bad", "quick", [parse_vary(text) for text in vary], person=TEACHER)
    assert said in str(refused.value)
    assert not (runs_dir / ".class" / "experiments").exists()


def test_none_or_four_settings_are_refused():
    four = [parse_vary(text) for text in ("dense_units=0/64", "batch_size=10/20", "epochs=1/2", "dropout=0/0.5")]
    for vary in ([], four):
        with pytest.raises(ConfigError, match=f"an experiment varies 1 to 3 settings; got {len(vary)}"):
            make_experiment("bad", "quick", vary, person=TEACHER)


@pytest.mark.parametrize("name", ["", "a b", "../up", "x" * 41, "-lead", "naïve"])
def test_a_name_that_is_no_name_is_refused(name):
    with pytest.raises(ConfigError, match="an experiment's name is 1 to 40 letters"):
        make_experiment(name, "quick", VARY, person=TEACHER)


def test_only_a_teacher_makes_an_experiment_and_a_name_is_kept_once(runs_dir):
    experiment = make_experiment("grid", "quick", VARY, person=TEACHER)
    with pytest.raises(NotAllowed, match="Only a teacher may make a class experiment"):
        save_experiment(experiment, runs_dir, person=STUDENTS[0])
    save_experiment(experiment, runs_dir, person=TEACHER)
    with pytest.raises(ConfigError, match="an experiment named grid exists already"):
        save_experiment(experiment, runs_dir, person=TEACHER)
    actions = [(entry.who, entry.action, entry.outcome) for entry in read_audit(runs_dir).entries]
    assert actions == [("Ann", "make an experiment", "refused"), ("Teacher", "make an experiment", "done")]
    assert read_experiment("grid", runs_dir) == experiment


def test_a_grid_whose_cells_pass_the_class_s_limits_is_refused(runs_dir):
    set_rules(TEACHER, ClassRules(max_epochs=3), runs_dir)
    experiment = make_experiment("long", "quick", [parse_vary("epochs=2/5")], person=TEACHER)
    with pytest.raises(ConfigError, match=r"the cell epochs 5 asks for 5 epochs .* the class allows 3 epochs"):
        save_experiment(experiment, runs_dir, person=TEACHER)


def test_an_unknown_or_damaged_experiment_says_so_and_names_those_there_are(runs_dir):
    _grid(runs_dir)
    with pytest.raises(RunError, match="There is no experiment 'nope'; the experiments are: drop-filters"):
        read_experiment("nope", runs_dir)
    (runs_dir / ".class" / "experiments" / "broken.json").write_text('{"name": "broken", "vary": 3}')
    with pytest.raises(RunError, match="The experiment broken is damaged"):
        read_experiment("broken", runs_dir)
    with pytest.raises(RunError, match="is not an experiment's name"):
        read_experiment("../../etc/passwd", runs_dir)


def test_six_launches_take_the_six_cells_then_a_second_seed(runs_dir, fake_backend):
    experiment = _grid(runs_dir)
    taken = [launch_cell(experiment.name, runs_dir, person=student, backend=fake_backend) for student in STUDENTS]
    cells = [cell for _, cell in taken]
    assert sorted(cells[:6]) == sorted(experiment.cells())
    assert cells[6] == (0, 0)  # every cell has a run: the first cell again, with its next seed
    configs = {run.id: run.config() for run, _ in taken}
    for run, cell in taken[:6]:
        assert configs[run.id] == experiment.config(cell)
        assert run.written_status().experiment == experiment.name and run.written_status().cell == cell
    assert configs[taken[6][0].id].seed == experiment.base.seed + 1


def test_launches_made_at_once_take_different_cells(runs_dir, fake_backend):
    experiment = _grid(runs_dir)
    start = threading.Barrier(6)
    cells = []

    def launch(student):
        start.wait()
        cells.append(launch_cell(experiment.name, runs_dir, person=student, backend=fake_backend)[1])

    threads = [threading.Thread(target=launch, args=(student,)) for student in STUDENTS[:6]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(cells) == sorted(experiment.cells())


def test_a_deleted_or_failed_run_gives_its_cell_back(runs_dir, fake_backend):
    experiment = _grid(runs_dir)
    runs = {cell: run for run, cell in
            (launch_cell(experiment.name, runs_dir, person=s, backend=fake_backend) for s in STUDENTS[:6])}  # fmt: skip
    fake_backend.states[runs[(1, 0)].id] = "finished"
    launcher.delete(runs[(1, 0)], person=TEACHER)
    assert next_cell(experiment, runs_dir) == ((1, 0), 0)
    failed = runs[(2, 1)]
    write_status(failed.files.status, failed.written_status().replace(state="failed"))
    fake_backend.states.pop(failed.id)
    assert next_cell(experiment, runs_dir) == ((1, 0), 0)
    launch_cell(experiment.name, runs_dir, person=STUDENTS[6], backend=fake_backend)
    assert next_cell(experiment, runs_dir) == ((2, 1), 0)


def test_a_student_s_cell_is_held_to_the_class_s_limits(runs_dir, fake_backend):
    experiment = _grid(runs_dir)
    set_rules(TEACHER, ClassRules(waiting_per_person=1), runs_dir)
    launch_cell(experiment.name, runs_dir, person=STUDENTS[0], backend=fake_backend)
    with pytest.raises(NotAllowed, match="You have 1 run waiting or training"):
        launch_cell(experiment.name, runs_dir, person=STUDENTS[0], backend=fake_backend)
    assert len(list_runs(runs_dir)) == 1


def test_the_answer_lists_every_cell_and_the_setting_that_mattered(runs_dir, fake_backend):
    experiment = _grid(runs_dir)
    for student in STUDENTS[:6] + [administrator("Zed")] * 6:
        run, cell = launch_cell(experiment.name, runs_dir, person=student, backend=fake_backend)
        # Dropout decides: 0.25 best; filters hardly matter; the second seed a little lower.
        accuracy = {0: 0.50, 1: 0.62, 2: 0.55}[cell[0]] + 0.004 * cell[1] - 0.01 * (student.name == "Zed")
        write_json_atomic(run.files.history, {"epoch": [1, 2], "val_accuracy": [accuracy - 0.1, accuracy]})
        fake_backend.states[run.id] = "finished"
    found = answer(experiment, runs_dir).to_json()
    assert len(found["cells"]) == 6 and all(len(cell["runs"]) == 2 for cell in found["cells"])
    first = next(cell for cell in found["cells"] if cell["cell"] == [1, 0])
    assert first["settings"] == {"dropout": "0.25", "filters": "16,32"}
    assert first["mean_accuracy"] == pytest.approx((0.62 + 0.61) / 2)
    assert [each["setting"] for each in found["importances"]] == ["dropout", "filters"]
    assert found["importances"][0]["best_value"] == "0.25"
    assert "dropout" in found["in_words"] and "0.25 was best" in found["in_words"]


def test_a_cell_s_runs_never_share_a_seed_when_one_of_them_is_deleted(runs_dir, fake_backend):
    experiment = _grid(runs_dir)
    runs = [launch_cell(experiment.name, runs_dir, person=student, backend=fake_backend) for student in STUDENTS]
    first = next(run for run, cell in runs if cell == (0, 0))
    second = runs[6][0]  # the cell's second seed
    fake_backend.states[first.id] = "finished"
    launcher.delete(first, person=TEACHER)
    third, cell = launch_cell(experiment.name, runs_dir, person=administrator("Zed"), backend=fake_backend)
    assert cell == (0, 0) and third.config().seed != second.config().seed


def test_a_run_stopped_before_its_first_epoch_gives_its_cell_back(runs_dir, fake_backend):
    experiment = _grid(runs_dir)
    run, cell = launch_cell(experiment.name, runs_dir, person=STUDENTS[0], backend=fake_backend)
    fake_backend.states[run.id] = "stopped"
    assert next_cell(experiment, runs_dir) == (cell, 0)
    write_json_atomic(run.files.history, {"epoch": [1], "val_accuracy": [0.3]})
    assert next_cell(experiment, runs_dir) != (cell, 0)


@pytest.mark.parametrize(
    "vary",
    [
        [{"setting": "dropout", "values": [0.0, 0.5]}, {"setting": "epochs", "values": [1, 2]},
         {"setting": "batch_size", "values": [8, 16]}, {"setting": "dense_units", "values": [8, 16]}],
        [{"setting": "dropout", "values": [0.0, 7.5]}],
        [{"setting": "dropout", "values": [0.5, 0.5]}],
        [{"setting": "epochs", "values": list(range(1, 41))}],
    ],
)  # fmt: skip
def test_an_experiment_file_damaged_by_hand_is_refused_in_words(runs_dir, vary):
    experiment = _grid(runs_dir)
    values = experiment.to_json() | {"vary": vary}
    write_json_atomic(runs_dir / ".class" / "experiments" / "drop-filters.json", values)
    with pytest.raises(RunError, match="The experiment drop-filters is damaged"):
        read_experiment("drop-filters", runs_dir)
