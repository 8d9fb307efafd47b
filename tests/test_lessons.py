"""A teacher's links and the name a student trains under (cifar/classroom/lessons.py), and the pages
that use them or show the class board, through AppTest. The board itself: test_board.py."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from helpers import TINY, SlotHeld, app_page, report_progress, wait_for_end, whole_app, write_twelve_runs
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cifar.classroom.lessons import lesson_link, read_link
from cifar.config.presets import PRESETS, changed_fields, preset
from cifar.config.settings import FIELDS
from cifar.errors import ConfigError
from cifar.launch import launcher, waits
from cifar.runs.owner import ALONE, alone
from cifar.runs.run import Run, list_runs

LESSON = "preset=quick&epochs=3&dropout=0.25&hide=optimizer,learning_rate"


def _params(link: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(link).query))


# --- links -----------------------------------------------------------------------------------


def test_a_link_applies_its_preset_then_its_values_and_hides_what_it_names():
    lesson = read_link(_params("train?" + LESSON))
    assert lesson.problems == ()
    assert lesson.config() == preset("quick").replace(epochs=3, dropout=0.25)
    assert lesson.hidden == ("optimizer", "learning_rate")


def test_a_bad_value_is_named_and_the_rest_of_the_link_still_applies():
    lesson = read_link(
        {"preset": "quick", "epochs": "3", "dropout": "lots", "batch_size": "0", "dropuot": "0.3", "hide": "optimiser"}
    )
    assert lesson.config() == preset("quick").replace(epochs=3)
    assert lesson.problems == (
        "dropout=lots in the link was left out: dropout must be a number at least 0 and below 1; got 'lots'.",
        "dropuot in the link is not a setting, so it was left out. Did you mean dropout?",
        "batch_size=0 in the link was left out: batch_size must be from 1 to 4096; got 0.",
        "hide names optimiser, which is not a setting; it was left out.",
    )
    unknown = read_link({"preset": "fastest", "epochs": "2"})
    assert unknown.config() == preset("tutorial").replace(epochs=2)
    assert unknown.problems[0].startswith("preset=fastest in the link is not a preset (they are tutorial, quick")


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(sorted(FIELDS)),
    text=st.one_of(
        st.text(max_size=12),
        st.sampled_from(["-1", "0", "1e9", "nan", "inf", "-inf", "true", "  3 ", "0x10", "1,2,3", "%00", "1/0"]),
    ),
)
def test_any_value_for_any_setting_applies_or_is_named_never_raises(key, text):
    lesson = read_link({"preset": "quick", key: text})
    config = lesson.config()  # whatever the link holds, a config that can be trained
    named = [problem for problem in lesson.problems if problem.startswith(f"{key}=")]
    if key in lesson.values:
        assert not named and getattr(config, key) == lesson.values[key]
    else:
        assert named and "in the link was left out: " in named[0], lesson.problems
        assert getattr(config, key) == getattr(preset("quick"), key)  # the preset's own value stays


def test_values_that_need_each_other_apply_in_any_order_and_one_that_never_fits_is_named():
    needs = {"preset": "quick", "residual": "true", "convs_per_block": "2"}
    assert read_link(needs).config().residual and read_link(dict(reversed(needs.items()))).config().residual
    alone = read_link({"preset": "quick", "residual": "true"})
    assert not alone.config().residual
    assert alone.problems == (
        "residual=true in the link was left out: residual needs convs_per_block of at least 2; got 1. "
        "Raise convs_per_block or turn residual off.",
    )


configs = st.builds(
    dict,
    preset=st.sampled_from(list(PRESETS)),
    epochs=st.integers(1, 500),
    dropout=st.floats(0, 0.9, allow_nan=False).map(lambda x: round(x, 3)),
    learning_rate=st.sampled_from([1e-5, 3e-4, 0.001, 0.0125, 0.1]),
    filters=st.lists(st.sampled_from([8, 16, 32, 64]), min_size=1, max_size=1),
    batch_norm=st.booleans(),
    train_size=st.sampled_from([None, 500, 12345]),
)


@settings(max_examples=60, deadline=None)
@given(configs, st.sets(st.sampled_from(list(FIELDS)), max_size=4))
def test_a_shared_link_opens_exactly_the_setup_it_was_made_from(values, hidden):
    name = values.pop("preset")
    try:
        config = preset(name).replace(**{**values, "filters": tuple(values["filters"])})
    except ConfigError as error:  # a setup no page would make (record without BatchNorm): nothing to share
        assume("needs" not in str(error))
        raise
    link = lesson_link(config, name, sorted(hidden))
    lesson = read_link(_params(link))
    assert lesson.problems == () and lesson.config() == config and set(lesson.hidden) == hidden
    assert {key for key in _params(link) if key in FIELDS} == set(changed_fields(config, name))


def test_a_link_hides_its_controls_and_the_page_launches_with_its_values(batches_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "1")
    at = app_page("train")
    at.query_params.update({**_params("train?" + LESSON), "batch_size": "huge", "who": "Ada Lovelace"})
    at.run()
    assert not at.exception
    keys = {widget.key for widget in at.main if getattr(widget, "key", None)}
    assert "cfg_optimizer" not in keys and "cfg_learning_rate" not in keys and "cfg_dropout" in keys
    assert [w.value for w in at.warning] == [
        "batch_size=huge in the link was left out: batch_size must be a whole number from 1 to 4096; got 'huge'."
    ]
    assert any("Set by this lesson's link: optimizer adam, learning rate 0.001" in c.value for c in at.caption)
    at.slider(key="cfg_dropout").set_value(0.4).run()  # a student's own change stays theirs
    assert at.session_state["cfg_dropout"] == 0.4 and at.session_state["cfg_epochs"] == 3
    with SlotHeld(runs_dir):
        at.button(key="launch").click().run()
        (run,) = list_runs(runs_dir)
        assert run.config() == preset("quick").replace(epochs=3, dropout=0.4)
        assert run.written_status().who == "Ada Lovelace"
        launcher.stop(run, person=ALONE)
    assert wait_for_end(run).state == "stopped"


def test_a_hidden_per_block_setting_follows_the_blocks_a_student_chooses():
    at = app_page("train")
    at.query_params.update({"preset": "fast", "filters": "16,32,64", "conv_blocks": "3", "hide": "filters"})
    at.run()
    assert not at.exception and not at.error
    at.slider(key="cfg_conv_blocks").set_value(2).run()
    assert not at.exception and not at.error
    assert any("filters 16, 32." in c.value for c in at.caption), [c.value for c in at.caption]


def test_share_this_setup_gives_the_link_of_what_is_on_screen():
    at = app_page("train").run()
    at.selectbox(key="preset").set_value("quick").run()
    at.number_input(key="cfg_epochs").set_value(3).run()
    assert at.code[0].value == "train?preset=quick&epochs=3"
    at.toggle(key="share_hide_unchanged").set_value(True).run()
    link = at.code[0].value
    lesson = read_link(_params(link))
    assert lesson.config() == preset("quick").replace(epochs=3)
    assert set(lesson.hidden) == set(FIELDS) - {"epochs"}
    reopened = app_page("train")
    reopened.query_params.update(_params(link))
    reopened.run()
    keys = {widget.key for widget in reopened.main if getattr(widget, "key", None)}
    assert {key for key in keys if key.startswith("cfg_")} == {"cfg_epochs"}


def test_the_name_field_keeps_the_name_in_the_address_and_refuses_a_bad_one(runs_dir):
    at = whole_app().run()
    at.sidebar.text_input(key="who").set_value("  Grace   Hopper ").run()
    assert not at.exception and at.query_params["who"] == "Grace Hopper"
    at.sidebar.text_input(key="who").set_value("x" * 41).run()
    assert "a name must be at most 40 characters" in at.sidebar.error[0].value


# --- the Class and Runs pages ----------------------------------------------------------------


@pytest.fixture
def twelve_runs(finished_run, runs_dir) -> Path:
    source = finished_run
    write_twelve_runs(source, runs_dir)
    return runs_dir


def test_the_class_page_shows_the_board_and_exports_it(twelve_runs):
    at = app_page("board").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["who"].tolist() == ["ann", "cem", "bob", "dee"]
    assert [metric.value for metric in at.metric][:2] == ["4", "0 · 0"]
    assert len(at.get("plotly_chart")) == 1
    download = next(element for element in at.get("download_button") if "board" in element.proto.label.lower())
    assert download.proto.label == "Download the board (CSV)"


@pytest.mark.parametrize(("slots", "dee_starts"), [(2, "about 2 min"), (1, "about 3 min")])
def test_the_class_page_shows_whose_training_runs_and_when_each_queued_one_starts(
    slots, dee_starts, fake_backend, runs_dir, monkeypatch
):
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", str(slots))
    monkeypatch.setattr(waits, "estimate_seconds", lambda config, *sizes, trained=None: 60.0 * config.epochs)
    epochs = {"ann": 4, "bob": 3, "cem": 2, "dee": 2}
    ann, bob, *_ = (
        Run(launcher.prepare_run(TINY.replace(epochs=n), runs_dir, who, person=alone(who), backend=fake_backend))
        for who, n in epochs.items()
    )
    fake_backend.states.update({ann.id: "running", bob.id: "running"})
    report_progress(ann.path, epoch=2, epochs=4, eta_seconds=150)
    report_progress(bob.path, epoch=1, epochs=3, eta_seconds=60, batch=2)
    at = app_page("board").run()
    assert not at.exception
    assert [metric.value for metric in at.metric][:2] == ["4", "2 · 2"]
    table = at.dataframe[0].value.set_index("who")
    assert table.loc["ann", "now"] == "training: epoch 2 of 4, about 2 min left"
    assert table.loc["bob", "now"] == "training: epoch 1 of 3, about 60 s left"
    assert table.loc["ann", "progress"] == pytest.approx((1 + 5 / 10) / 4)
    assert table.loc["bob", "progress"] == pytest.approx((0 + 2 / 10) / 3)
    # cem takes the slot bob frees in 60 s; dee the one ann frees at 150 s, or with one slot
    # waits for cem's two minutes after bob's.
    assert table.loc["cem", "now"] == "queued: number 1 in line, starts in about 60 s"
    assert table.loc["dee", "now"] == f"queued: number 2 in line, starts in {dee_starts}"
    assert table.loc[["cem", "dee"], "progress"].isna().all()


def test_the_class_page_without_runs_says_how_a_class_starts():
    at = app_page("board").run()
    assert not at.exception and "Share this setup" in at.info[0].value


def test_the_runs_page_filters_by_name(twelve_runs):
    at = app_page("runs").run()
    at.multiselect(key="runs_who").set_value(["bob"]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 3 and set(table["who"]) == {"bob"}
