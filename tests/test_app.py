"""The dashboard's pages, each run alone with Streamlit's AppTest."""

from __future__ import annotations

import io
import json
import os
import shutil

import pytest
from helpers import TINY, app_page, kill_mid_epoch, train_run, wait_for_end, wait_until, whole_app
from PIL import Image

from cifar.atomic import write_json_atomic
from cifar.config.presets import PRESETS, ablation_rows
from cifar.data import evaluation_set, load_dataset
from cifar.launch import launcher
from cifar.runs.config_file import load_config, save_config
from cifar.runs.owner import ALONE
from cifar.runs.run import list_runs, open_run
from cifar.runs.status import write_status


@pytest.fixture
def with_data(batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))


def test_runs_page_with_no_runs_says_what_to_do():
    at = app_page("runs").run()
    assert not at.exception
    assert any("No runs yet" in info.value for info in at.info)
    assert "python -m cifar train" in at.code[0].value


def _two_runs(finished_run, runs_dir) -> tuple[str, str]:
    """The finished run and a copy that trained with another learning rate and dropout."""

    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    other = runs_dir / (run.id + "-b")
    shutil.copytree(run.path, other)
    save_config(load_config(other / "config.json").replace(learning_rate=0.01, dropout=0.3), other / "config.json")
    history = json.loads((other / "history.json").read_text())
    history["val_accuracy"] = [value + 0.05 for value in history["val_accuracy"]]
    write_json_atomic(other / "history.json", history)
    return run.id, other.name


def test_runs_page_compares_downloads_and_deletes(finished_run, runs_dir):
    first, second = _two_runs(finished_run, runs_dir)
    at = app_page("runs").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["run"].tolist() == [second, first] and table["state"].tolist() == ["finished"] * 2
    assert {"learning_rate", "dropout"} <= set(table.columns) and "batch_size" not in table.columns
    assert table["parameters"].notna().all()
    assert at.multiselect(key="compare_runs").value == [second, first]
    kinds = [json.loads(chart.proto.spec)["data"][0]["type"] for chart in at.get("plotly_chart")]
    assert kinds == ["scatter", "parcoords"]  # the overlaid curves, then settings against accuracy
    assert at.selectbox(key="manage_run").value == second

    at.button(key="delete_run").click().run()
    assert "cannot be undone" in at.warning[0].value and (runs_dir / second).is_dir()
    at.button(key="confirm_delete_no").click().run()
    assert not at.warning and (runs_dir / second).is_dir()
    at.button(key="delete_run").click().run()
    at.button(key="confirm_delete_yes").click().run()
    assert not at.exception and not (runs_dir / second).exists() and (runs_dir / first).is_dir()
    assert at.dataframe[0].value["run"].tolist() == [first]


def test_runs_page_keeps_a_live_run_from_deletion(finished_run, runs_dir):
    first, _ = _two_runs(finished_run, runs_dir)
    run = open_run(first, runs_dir)
    write_status(run.files.status, run.written_status().replace(state="running", pid=os.getpid(), pid_start=None))
    at = app_page("runs")
    at.query_params["run"] = first
    at.run()
    assert not at.exception and at.selectbox(key="manage_run").value == first
    assert at.button(key="delete_run").disabled


def test_data_page_shows_counts_samples_and_browser(with_data):
    at = app_page("data").run()
    assert not at.exception
    assert "200 training and 100 test images" in at.markdown[0].value
    assert at.selectbox(key="browse_class").value == "airplane"
    at.selectbox(key="browse_class").set_value("cat").run()
    assert not at.exception
    at.radio(key="browse_split").set_value("test").run()
    assert not at.exception and at.number_input(key="browse_page").value == 1


def test_data_page_without_data_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "missing"))
    at = app_page("data").run()
    assert not at.exception
    assert "CIFAR10_DIR" in at.error[0].value


def test_entry_script_routes_with_sidebar(with_data):
    at = whole_app().run()
    assert not at.exception
    assert "200 train and 100 test images" in at.sidebar.caption[0].value


def test_train_page_defaults_to_the_tutorial_and_follows_presets(with_data):
    at = app_page("train").run()
    assert not at.exception
    assert at.metric[0].value == "1,060,138"
    at.selectbox(key="preset").set_value("quick").run()
    assert not at.exception
    assert at.metric[0].value == "282,250"
    assert at.dataframe[0].value["parameters"].sum() == 282250
    assert at.select_slider(key="cfg_filters_1").value == 64
    at.slider(key="cfg_conv_blocks").set_value(3).run()
    assert not at.exception and at.select_slider(key="cfg_filters_2").value == 64


def test_train_page_says_what_each_preset_measured_and_what_records_techniques_are_worth(with_data):
    at = app_page("train").run()
    assert any(PRESETS["tutorial"].measured_words in caption.value for caption in at.caption)
    assert not [each for each in at.expander if each.label == "What each technique is worth"]
    at.selectbox(key="preset").set_value("record").run()
    assert not at.exception
    assert any(PRESETS["record"].measured_words in caption.value for caption in at.caption)
    (worth,) = [each for each in at.expander if each.label == "What each technique is worth"]
    shown = worth.table[0].value
    assert list(shown["flags"]) == [row["flags"] for row in ablation_rows("record")]
    assert "--no-whiten" in list(shown["flags"]) and "held out" in worth.caption[0].value
    assert "moved its test accuracy by 1.4 points" in worth.caption[0].value


def test_train_page_refuses_a_network_that_would_not_fit(with_data, monkeypatch):
    monkeypatch.setattr("cifar.launch.estimate.available_memory_bytes", lambda: 4e9)  # a small laptop
    at = app_page("train").run()
    at.slider(key="cfg_conv_blocks").set_value(4).run()
    for block in range(4):
        at.select_slider(key=f"cfg_filters_{block}").set_value(256)
    at.slider(key="cfg_convs_per_block").set_value(4)
    at.select_slider(key="cfg_kernel_size").set_value(7)
    at.select_slider(key="cfg_batch_size").set_value(256).run()
    at.number_input(key="cfg_epochs").set_value(500).run()
    assert not at.exception
    assert "GB of memory" in at.error[0].value and "4.0 GB free" in at.error[0].value
    assert at.button(key="launch").disabled
    assert any(" h here. Fewer epochs" in warning.value for warning in at.warning)
    at.selectbox(key="preset").set_value("quick").run()
    assert not at.error and not at.warning and not at.button(key="launch").disabled


def test_train_page_launches_a_training(with_data, runs_dir):
    at = app_page("train").run()
    at.selectbox(key="preset").set_value("quick").run()
    at.number_input(key="cfg_epochs").set_value(1).run()
    at.button(key="launch").click().run()
    assert not at.exception
    (run,) = list_runs(runs_dir)
    assert run.config().epochs == 1 and at.query_params["run"] == run.id
    assert at.button(key="stop_training")  # offered while it trains
    assert wait_for_end(run).state == "finished"
    at.run()  # the page after the training: its outcome and curves stay, Stop goes
    accuracy = run.history()["val_accuracy"][-1]
    assert not at.exception and at.success[0].value == f"Finished: {accuracy:.1%} test accuracy after 1 epoch."
    assert any(f"](results?run={run.id})" in text.value for text in at.markdown)
    assert len(at.get("plotly_chart")) == 2 and not [b for b in at.button if b.key == "stop_training"]


def test_a_second_launch_says_where_it_stands_in_the_queue(with_data, runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "1")
    at = app_page("train").run()
    at.selectbox(key="preset").set_value("quick").run()
    at.number_input(key="cfg_epochs").set_value(500).run()
    at.button(key="launch").click().run()
    first = at.query_params["run"]
    wait_until(lambda: [j.state for j in launcher.live_jobs(runs_dir)] == ["running"], what="the first to train")
    at.button(key="launch").click().run()
    second = at.query_params["run"]
    assert not at.exception and second != first
    wait_until(lambda: len(launcher.live_jobs(runs_dir)) == 2, what="the second to queue")
    at.run()
    assert any("Queued: number 1 in line" in info.value for info in at.info), [i.value for i in at.info]
    at.button(key="stop_training").click().run()  # the run this session watches: the queued one
    assert "before training began" in wait_for_end(open_run(second, runs_dir)).message
    assert launcher.status(open_run(first, runs_dir)).state == "running"
    launcher.stop(first, runs_dir, person=ALONE)
    assert wait_for_end(open_run(first, runs_dir)).state == "stopped"


def test_train_page_continues_the_selected_run(with_data, finished_run, runs_dir):
    parent = _with_run(finished_run, runs_dir)
    at = app_page("train")
    at.query_params["run"] = parent
    at.run()
    assert not at.exception and any("2 epochs trained" in md.value for md in at.markdown)
    at.number_input(key="more").set_value(1).run()
    at.button(key="continue").click().run()
    assert not at.exception
    child = open_run(at.query_params["run"], runs_dir)
    assert child.id != parent and child.written_status().resumed_from == parent
    assert wait_for_end(child).state == "finished"
    assert child.history()["epoch"] == [1, 2, 3]

    results = app_page("results")
    results.query_params["run"] = child.id
    results.run()
    assert not results.exception and f"continues {parent} after its epoch 2" in results.caption[0].value


def test_train_page_continues_an_interrupted_run(with_data, batches_dir, runs_dir):
    """A training killed mid-epoch (SIGKILL) carries on from its last finished epoch, from the Train page."""

    parent = launcher.launch(
        TINY.replace(epochs=300, batch_size=2), runs_dir=runs_dir, data=batches_dir, name="killed", person=ALONE
    )
    kill_mid_epoch(parent, after=1)
    assert wait_for_end(parent, timeout=30).state == "interrupted"
    earlier = parent.history()
    done = len(earlier["epoch"])
    at = app_page("train")
    at.query_params["run"] = parent.id
    at.run()
    trained = f"Run **{parent.id}**: interrupted, {done} epoch{'s' if done != 1 else ''} trained."
    assert not at.exception and trained in [md.value for md in at.markdown]
    at.number_input(key="more").set_value(1).run()
    at.button(key="continue").click().run()
    assert not at.exception
    child = open_run(at.query_params["run"], runs_dir)
    assert child.id != parent.id and child.written_status().resumed_from == parent.id
    assert wait_for_end(child).state == "finished"
    history = child.history()
    assert history["epoch"] == list(range(1, done + 2))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert history[key][:done] == earlier[key], key
    steps = child.start_event()["steps"]
    assert int(child.load_model().optimizer.iterations) == (done + 1) * steps


def test_results_page_without_runs_says_what_to_do(with_data):
    at = app_page("results").run()
    assert not at.exception
    assert "No trained run yet" in at.info[0].value


def test_results_page_shows_curves_matrix_and_cell_images(with_data, finished_run, runs_dir):
    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    at = app_page("results")
    at.query_params["run"] = run.id
    at.run()
    assert not at.exception
    accuracy = run.history()["val_accuracy"][-1]
    assert at.metric[0].value == f"{accuracy:.1%}"
    at.select_slider(key="epoch").set_value(1).run()
    assert not at.exception
    at.selectbox(key="cell_true").set_value("cat").run()
    at.selectbox(key="cell_predicted").set_value("cat").run()
    assert not at.exception
    assert any("test images of **cat** predicted as **cat**" in md.value for md in at.markdown)
    at.toggle(key="normalized").set_value(False).run()
    assert not at.exception and at.dataframe[0].value["class"].tolist()[3] == "cat"


def _with_run(finished_run, runs_dir) -> str:
    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    return run.id


def test_predictions_page_filters_and_pages(with_data, finished_run, runs_dir):
    _with_run(finished_run, runs_dir)
    at = app_page("predictions").run()
    assert not at.exception
    run = finished_run
    right = int((run.predictions().astype("float32").argmax(axis=1) == run.labels()).sum())
    at.radio(key="filter_correct").set_value("right").run()
    assert not at.exception and f"{right:,} images" in at.number_input(key="page").label
    at.selectbox(key="filter_true").set_value("truck").run()
    at.selectbox(key="filter_predicted").set_value("airplane").run()
    assert not at.exception


def test_classify_page_answers_an_upload_and_refuses_a_bad_file(with_data, finished_run, runs_dir):
    _with_run(finished_run, runs_dir)
    at = app_page("classify").run()
    assert not at.exception
    at.toggle(key="use_test_image").set_value(True).run()
    assert not at.exception and at.number_input(key="test_index").value == 0
    photo = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 40, 40)).save(photo, "PNG")
    at.file_uploader(key="uploads").set_value(
        [("red.png", photo.getvalue(), "image/png"), ("notes.png", b"just text", "image/png")]
    ).run()
    assert not at.exception
    assert any("**red.png**: looks like a" in md.value for md in at.markdown)
    assert "notes.png" in at.error[0].value and "not an image" in at.error[0].value


def test_a_run_that_held_images_out_shows_those_images_everywhere(with_data, batches_dir, runs_dir):
    run = train_run(batches_dir, runs_dir, "--holdout", "50", epochs=1)
    _, held_labels = evaluation_set(load_dataset(str(batches_dir)), 50)
    at = app_page("predictions").run()
    assert not at.exception
    assert any("tested on 50 held-out training images, not on the test set" in c.value for c in at.caption)
    assert at.title[0].value == "Predictions on the held-out images"
    assert "50 images" in at.number_input(key="page").label  # the 50, not the 100 test images
    at = app_page("classify").run()
    at.toggle(key="use_test_image").set_value(True).run()
    names = run.class_names()
    assert not at.exception and at.number_input(key="test_index").max == 49
    shown = [str(node.proto) for node in at.main if type(node).__name__ == "Image"]
    assert f'caption: "Test image #0: {names[int(held_labels[0])]}"' in shown[0]  # the held-out image #0
    at = app_page("results").run()
    assert not at.exception and at.metric[0].label == "Held-out accuracy"
    assert any("to see the held-out images behind it" in caption.value for caption in at.caption)
    at = app_page("map").run()
    assert not at.exception and any("50 held-out images after epoch 1" in md.value for md in at.markdown)
    at = app_page("runs").run()
    assert not at.exception and list(at.dataframe[0].value["tested on"]) == ["50 held-out training images"]
    at = app_page("board").run()
    assert not at.exception and [metric.label for metric in at.metric][-1] == "Best so far, held-out"
    assert list(at.dataframe[0].value["tested on"]) == ["50 held-out training images"]


def test_classify_and_predictions_without_runs(with_data):
    for name in ("classify", "predictions"):
        at = app_page(name).run()
        assert not at.exception and "No trained run yet" in at.info[0].value


def test_a_run_tested_on_other_data_says_so(finished_run, runs_dir, tree_dir, monkeypatch):
    _with_run(finished_run, runs_dir)
    images = tree_dir  # same sizes, but read class by class: another order of test images
    monkeypatch.setenv("CIFAR10_DIR", str(images))
    at = app_page("predictions").run()
    assert not at.exception and "cannot be shown" in at.warning[0].value


def test_sidebar_run_picker_follows_the_address(with_data, finished_run, runs_dir):
    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    newer = "29991231-000000-newer-0000"
    shutil.copytree(run.path, runs_dir / newer)
    at = whole_app().run()
    assert at.sidebar.selectbox(key="run_picker").value == newer and at.query_params["run"] == newer
    at.query_params["run"] = run.id  # as Launch or a shared link does
    at.run()
    assert not at.exception and at.sidebar.selectbox(key="run_picker").value == run.id
    at.sidebar.selectbox(key="run_picker").set_value(newer).run()
    assert at.query_params["run"] == newer


def test_the_run_choice_survives_the_picker_losing_its_state(with_data, finished_run, runs_dir):
    # Streamlit drops a widget's state when a page change races the page's render (the
    # classroom test saw it with ten sessions): the choice must not jump to the newest run.
    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    shutil.copytree(run.path, runs_dir / "29991231-000000-newer-0000")
    at = whole_app()
    # What the race leaves: the picker's own state gone, no run in the address, the last
    # choice under its plain key.
    at.session_state["run_from_url"] = run.id
    at.run()
    assert not at.exception and at.sidebar.selectbox(key="run_picker").value == run.id
    assert at.query_params["run"] == run.id
