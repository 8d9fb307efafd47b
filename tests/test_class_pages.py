"""The pages of a class (pages/shared/signin.py and every page that uses it), each run alone with
AppTest: nothing shows before sign-in, a name from the address sets nobody, and a classmate's
run offers no Stop or Delete, and refuses them in words when the session state is crafted."""

from __future__ import annotations

import re
import shutil

import helpers
import pytest
from helpers import ROOT, FakeBackend, registered
from streamlit.testing.v1 import AppTest

from cifar.classroom.signin import ClassSettings, sign_in_teacher, sign_in_with_code
from cifar.launch import launcher
from cifar.runs.audit import read_audit
from cifar.runs.run import open_run
from cifar.runs.status import write_status

PAGES = re.findall(r'st\.Page\("pages/(\w+)\.py"', (ROOT / "streamlit_app.py").read_text())  # every page, as registered
CLASS = ClassSettings(code="owl42", teacher_password="sesame")


@pytest.fixture(autouse=True)
def a_class(monkeypatch, runs_dir):
    monkeypatch.setenv("CIFAR_CLASS_CODE", CLASS.code)
    monkeypatch.setenv("CIFAR_TEACHER_PASSWORD", CLASS.teacher_password)
    monkeypatch.setenv("CIFAR_RUNS_DIR", str(runs_dir))


def page(name: str, token: str | None = None, **params: str) -> AppTest:
    at = helpers.app_page(name)
    if token:
        at.session_state["class_token"] = token
    for key, value in params.items():
        at.query_params[key] = value
    return at


def _only_the_sign_in(at: AppTest) -> bool:
    return [title.value for title in at.title] == ["Sign in to the class"] and not at.dataframe and not at.tabs


@pytest.mark.parametrize("name", PAGES)
def test_every_page_shows_the_sign_in_and_nothing_else_until_someone_signs_in(name):
    at = page(name).run()
    assert not at.exception and _only_the_sign_in(at)
    assert at.text_input(key="signin_name") and at.text_input(key="signin_code_value")


def test_a_name_in_the_address_signs_nobody_in():
    at = page("train", who="teacher", run="anything").run()
    assert not at.exception and _only_the_sign_in(at)
    assert "sign_out" not in [button.key for button in at.button]


def test_the_form_signs_a_student_in_and_says_what_was_wrong_before(runs_dir):
    at = page("runs").run()
    at.text_input(key="signin_name").input("Ada")
    at.text_input(key="signin_code_value").input("owl41")
    at.button[0].click().run()
    assert not at.exception and any("not the class code" in error.value for error in at.error)
    at.text_input(key="signin_code_value").input("owl42")
    at.button[0].click().run()
    assert not at.exception and not _only_the_sign_in(at)
    assert [entry.outcome for entry in read_audit(runs_dir).entries] == ["refused", "done"]


def test_a_name_signed_in_elsewhere_is_refused_on_the_page(runs_dir):
    sign_in_with_code(CLASS, runs_dir, "Ada", "owl42")
    at = page("runs").run()
    at.text_input(key="signin_name").input("ADA")
    at.text_input(key="signin_code_value").input("owl42")
    at.button[0].click().run()
    assert not at.exception and _only_the_sign_in(at)
    assert any("Someone is signed in as “Ada” already" in error.value for error in at.error)


@pytest.fixture
def anns_run(finished_run, runs_dir):
    """A finished run of Ann's in this class's runs folder."""
    shutil.copytree(finished_run.path, runs_dir / finished_run.id)
    run = open_run(finished_run.id, runs_dir)
    write_status(run.files.status, run.written_status().replace(who="Ann", owner="name:ann"))
    return run


def test_a_classmate_sees_no_delete_and_a_crafted_confirmation_is_refused_in_words(anns_run, runs_dir):
    bob = sign_in_with_code(CLASS, runs_dir, "Bob", "owl42").token
    at = page("runs", bob).run()
    assert not at.exception and at.button(key="delete_run").disabled
    at = page("runs", bob)
    at.session_state["confirm_delete"] = anns_run.id  # as if Delete had been pressed
    at.run()
    at.button(key="confirm_delete_yes").click().run()
    assert not at.exception and any("Nothing was deleted: Run" in error.value for error in at.error)
    assert anns_run.path.is_dir()
    assert read_audit(runs_dir).entries[-1].outcome == "refused"


def test_the_owner_and_the_teacher_may_delete(anns_run, runs_dir):
    ann = sign_in_with_code(CLASS, runs_dir, "Ann", "owl42").token
    assert not page("runs", ann).run().button(key="delete_run").disabled
    teacher = sign_in_teacher(CLASS, runs_dir, "sesame").token
    assert not page("runs", teacher).run().button(key="delete_run").disabled


def test_a_classmate_cannot_continue_a_run_from_the_train_page(anns_run, runs_dir, batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    bob = sign_in_with_code(CLASS, runs_dir, "Bob", "owl42").token
    at = page("train", bob, run=anns_run.id).run()
    assert not at.exception
    assert "continue" not in [button.key for button in at.button]
    assert any("only they and a teacher may continue it" in caption.value for caption in at.caption)
    assert "This class allows 2 runs waiting at once." in [caption.value for caption in at.caption]


def test_the_stop_button_shows_for_the_owner_only(runs_dir, batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    fake = registered(monkeypatch, FakeBackend())
    ann = sign_in_with_code(CLASS, runs_dir, "Ann", "owl42")
    run = launcher.launch(launcher.ModelConfig(), runs_dir=runs_dir, backend=fake, person=ann.person)
    fake.states[run.id] = "running"
    bob = sign_in_with_code(CLASS, runs_dir, "Bob", "owl42").token
    assert "stop_training" not in [button.key for button in page("train", bob).run().button]
    assert "stop_training" in [button.key for button in page("train", ann.token).run().button]


def test_the_teachers_keys_show_to_the_teacher_only(runs_dir):
    bob = sign_in_with_code(CLASS, runs_dir, "Bob", "owl42").token
    at = page("board", bob).run()
    assert not at.exception and "Teacher's keys" not in [header.value for header in at.subheader]
    teacher = sign_in_teacher(CLASS, runs_dir, "sesame").token
    at = page("board", teacher).run()
    assert not at.exception and "Teacher's keys" in [header.value for header in at.subheader]
    at.button(key="teacher_pause").click().run()
    assert not at.exception and (runs_dir / ".class" / "paused").exists()


def test_a_broken_secrets_file_stops_every_page_saying_why(tmp_path, monkeypatch):
    monkeypatch.delenv("CIFAR_CLASS_CODE")  # the class's settings would be in the file
    home = tmp_path / "home"
    (home / ".streamlit").mkdir(parents=True)
    (home / ".streamlit" / "secrets.toml").write_text('CIFAR_CLASS_CODE = "owl42\n')
    monkeypatch.setenv("HOME", str(home))
    at = page("runs").run()
    assert not at.exception and not at.dataframe and not at.title
    (error,) = at.error
    assert "settings cannot be read, so nobody can sign in" in error.value and "secrets.toml" in error.value


def _sidebar_line() -> None:
    """The sidebar's part of every page (the entry script draws it), alone in a script."""
    from pages.shared.signin import current_person, signed_in_line

    signed_in_line(current_person())


def test_signing_out_on_the_page_shows_the_sign_in_and_says_what_became_of_the_name(runs_dir):
    ada = sign_in_with_code(CLASS, runs_dir, "Ada", "owl42").token
    at = AppTest.from_function(_sidebar_line, default_timeout=60)
    at.session_state["class_token"] = ada
    at.run()
    assert [markdown.value for markdown in at.markdown] == ["Signed in as **Ada**"]
    at.button(key="sign_out").click().run()
    assert not at.exception and _only_the_sign_in(at)
    assert any(info.value == "Signed out." for info in at.info)
    assert read_audit(runs_dir).entries[-1].action == "sign out"
