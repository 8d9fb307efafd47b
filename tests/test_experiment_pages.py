"""A class experiment in the app, each page run alone with AppTest: a teacher makes one on the
Class page and sees its link; a student who opens the link is told their cell and launches it;
the Class page draws the grid and the answer; a student cannot make one."""

from __future__ import annotations

import helpers
import pytest
from helpers import FakeBackend, registered
from streamlit.testing.v1 import AppTest

from cifar.atomic import write_json_atomic
from cifar.classroom.experiments import make_experiment, parse_vary, read_experiment, save_experiment
from cifar.classroom.signin import ClassSettings, sign_in_teacher, sign_in_with_code
from cifar.runs.owner import Person
from cifar.runs.run import list_runs

CLASS = ClassSettings(code="owl42", teacher_password="sesame")
TEACHER = Person("Teacher", "teacher", "teacher password", "teacher")


@pytest.fixture(autouse=True)
def a_class(monkeypatch, runs_dir, batches_dir):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    monkeypatch.setenv("CIFAR_CLASS_CODE", CLASS.code)
    monkeypatch.setenv("CIFAR_TEACHER_PASSWORD", CLASS.teacher_password)
    monkeypatch.setenv("CIFAR_RUNS_DIR", str(runs_dir))


@pytest.fixture
def backend(monkeypatch):
    return registered(monkeypatch, FakeBackend(name="local"))


def page(name: str, token: str, **params: str) -> AppTest:
    at = helpers.app_page(name)
    at.session_state["class_token"] = token
    for key, value in params.items():
        at.query_params[key] = value
    return at


def _student(runs_dir, name: str) -> str:
    return sign_in_with_code(CLASS, runs_dir, name, CLASS.code).token


def _grid(runs_dir):
    experiment = make_experiment("drop", "quick", [parse_vary("dropout=0/0.5"), parse_vary("filters=16/32")],
                                 person=TEACHER)  # fmt: skip
    save_experiment(experiment, runs_dir, person=TEACHER)
    return experiment


def test_a_teacher_makes_an_experiment_on_the_class_page_and_gets_its_link(runs_dir):
    token = sign_in_teacher(CLASS, runs_dir, CLASS.teacher_password).token
    at = page("board", token).run()
    at.text_input(key="experiment_name").input("width")
    at.selectbox(key="experiment_setting_0").select("dropout")
    at.text_input(key="experiment_values_0").input("0/0.5")
    at.selectbox(key="experiment_setting_1").select("filters")
    at.text_input(key="experiment_values_1").input("16/32/64")
    at.button[0].click()
    at = at.run()
    assert not at.exception and not at.error, [error.value for error in at.error]
    assert read_experiment("width", runs_dir).cells() == [(i, j) for i in range(2) for j in range(3)]
    assert any(code.value.endswith("train?experiment=width") for code in at.code)


def test_a_bad_grid_on_the_class_page_says_why_and_keeps_nothing(runs_dir):
    token = sign_in_teacher(CLASS, runs_dir, CLASS.teacher_password).token
    at = page("board", token).run()
    at.text_input(key="experiment_name").input("one")
    at.text_input(key="experiment_values_0").input("0.5")
    at.button[0].click()
    at = at.run()
    assert "dropout has one value" in at.error[0].value
    assert not (runs_dir / ".class" / "experiments" / "one.json").exists()


def test_a_student_sees_no_form_and_opens_the_link_to_launch_their_cell(runs_dir, backend):
    experiment = _grid(runs_dir)
    board = page("board", _student(runs_dir, "Ann")).run()
    assert not board.exception and "experiment_name" not in [box.key for box in board.text_input]
    train = page("train", _student(runs_dir, "Bob"), experiment="drop").run()
    assert not train.exception
    assert "Your cell: **dropout 0 · filters 16** (nobody has launched it yet)." in [i.value for i in train.info]
    train.button(key="experiment_launch").click().run()
    (run,) = list_runs(runs_dir)
    assert run.written_status().cell == (0, 0) and run.written_status().who == "Bob"
    assert run.config() == experiment.config((0, 0))
    after = page("train", _student(runs_dir, "Cy"), experiment="drop").run()
    assert "Your cell: **dropout 0 · filters 32** (nobody has launched it yet)." in [i.value for i in after.info]


def test_an_unknown_experiment_in_the_link_says_so(runs_dir):
    at = page("train", _student(runs_dir, "Ann"), experiment="nope").run()
    assert not at.exception and "There is no experiment 'nope'" in at.error[0].value


def test_the_class_page_draws_the_grid_and_the_answer_as_runs_finish(runs_dir, backend):
    _grid(runs_dir)
    for name, accuracy in (("Ann", 0.4), ("Bob", 0.41), ("Cy", 0.6), ("Di", 0.62)):
        train = page("train", _student(runs_dir, name), experiment="drop").run()
        train.button(key="experiment_launch").click().run()
        run = next(run for run in list_runs(runs_dir) if run.written_status().who == name)
        write_json_atomic(run.files.history, {"epoch": [1], "val_accuracy": [accuracy]})
        backend.states[run.id] = "finished"
    at = page("board", _student(runs_dir, "Ed"), experiment="drop").run()
    assert not at.exception
    assert at.selectbox(key="experiment_choice").value == "drop"
    figure = at.get("plotly_chart")[-1].proto.spec
    assert "40.0%" in figure and "62.0%" in figure  # each cell's accuracy in its square
    assert any("dropout" in markdown.value and "0.5 was best" in markdown.value for markdown in at.markdown)
