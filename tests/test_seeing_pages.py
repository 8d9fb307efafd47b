"""The Map and Fool it pages alone (AppTest): with no run, a run with no epoch, a run still
training, a chosen point and its neighbours, an attack and its answers, another run's answer to
the change, and the robustness curve measured on request."""

from __future__ import annotations

import os
import shutil

import helpers
import pytest
from streamlit.testing.v1 import AppTest

from cifar.runs.run import open_run_dir
from cifar.runs.status import write_status
from cifar.study.attack import kept_robustness


def page(name: str) -> AppTest:
    return helpers.app_page(name, timeout=120)


@pytest.fixture
def trained(finished_run, runs_dir, batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    shutil.copytree(finished_run.path, runs_dir / finished_run.id)
    return open_run_dir(runs_dir / finished_run.id)


def _texts(at: AppTest) -> str:
    return " ".join(e.value for e in [*at.markdown, *at.caption, *at.info, *at.success, *at.warning, *at.error])


@pytest.mark.parametrize("name", ["map", "attack"])
def test_without_runs_each_page_says_what_to_do(name, batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    at = page(name).run()
    assert not at.exception and "No trained run yet" in at.info[0].value


@pytest.mark.parametrize("name", ["map", "attack"])
def test_a_run_with_no_finished_epoch_says_so(name, trained, runs_dir):
    fresh = runs_dir / "20990101-000000-fresh-0000"
    shutil.copytree(trained.path, fresh)
    for file in ("history.json", "model.keras"):
        (fresh / file).unlink()
    shutil.rmtree(fresh / "weights")
    at = page(name).run()
    assert not at.exception and "no finished epoch yet" in at.info[0].value


def test_the_map_shows_the_agreement_and_a_chosen_image_with_its_neighbours(trained):
    at = page("map").run()
    assert not at.exception, at.exception
    assert "of each image's 10 nearest share its class" in _texts(at)
    assert at.selectbox(key="map_layer").value == "dense"  # the classifier's input
    assert "Click a point" in _texts(at)
    at.number_input(key="map_typed").set_value(13).run()
    text = _texts(at)
    assert not at.exception, at.exception
    assert "After epoch 2 the network says" in text and "Its 10 nearest in dense" in text
    assert "Look inside the network at this image](inside?run=" in text
    at.selectbox(key="map_layer").set_value("block1_pool").run()
    assert not at.exception and "placed by block1_pool" in _texts(at)


def test_the_map_of_a_run_still_training_says_which_epoch_it_shows(trained):
    write_status(
        trained.files.status, trained.written_status().replace(state="running", pid=os.getpid(), pid_start=None)
    )
    at = page("map").run()
    assert not at.exception and "is still training: the map shows epoch 2" in _texts(at)


def test_an_attack_shows_both_answers_and_the_change_within_its_budget(trained):
    at = page("attack").run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "It says" in text and "moved by at most 2 of 255" in text
    at.select_slider(key="attack_budget").set_value(64)
    at.selectbox(key="attack_target").set_value("truck")
    at.radio(key="attack_method").set_value("pgd").run()
    text = _texts(at)
    assert not at.exception and "moved by at most" in text
    assert "Fooled" in text and "into **truck**" in text  # 64 levels is plenty on the small network


def test_the_change_is_tried_on_another_run(trained, runs_dir):
    other = runs_dir / "20990101-000000-other-0000"
    shutil.copytree(trained.path, other)
    at = page("attack")
    at.query_params["run"] = trained.id
    at.run()
    at.selectbox(key="attack_other").set_value(other.name).run()
    assert not at.exception and f"Run **{other.name}** says" in _texts(at)


def test_robustness_is_a_button_until_measured_then_the_kept_curve(trained):
    at = page("attack").run()
    assert kept_robustness(trained) is None and "Not measured yet" in _texts(at)
    at.button(key="attack_measure").click().run()
    assert not at.exception, at.exception
    assert kept_robustness(trained) is not None
    assert "under PGD" in _texts(at) and "Not measured yet" not in _texts(at)


def test_your_own_image_asks_for_one(trained):
    at = page("attack").run()
    at.radio(key="attack_source").set_value("your own image").run()
    assert not at.exception and "Drop an image above" in _texts(at)
