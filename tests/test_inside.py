"""The Inside page alone (AppTest): with and without runs, an old-format run, every way to choose
an image, the epoch slider, and "where it looked" on the pages that show images."""

from __future__ import annotations

import io
import shutil

import helpers
import numpy as np
import pytest
from helpers import ROOT, train_run
from PIL import Image
from streamlit.testing.v1 import AppTest

from cifar.runs.run import open_run_dir
from cifar.runs.status import write_status
from cifar.study.explain import Inspector, open_epoch

OLD_RUN = ROOT / "tests" / "fixtures" / "runs-before-issue-10" / "20261130-032409-before-issue-10-dd2e"


def page(name: str = "inside") -> AppTest:
    return helpers.app_page(name)


@pytest.fixture
def trained(finished_run, runs_dir, batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    return open_run_dir(runs_dir / run.id)


def _png(colour=(30, 160, 60), size=(90, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def _texts(at: AppTest) -> str:
    return " ".join(element.value for element in [*at.markdown, *at.caption, *at.info])


def test_without_runs_it_says_what_to_do(batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    at = page().run()
    assert not at.exception and "No trained run yet" in at.info[0].value


def test_a_run_with_no_finished_epoch_says_so(trained, runs_dir):
    fresh = runs_dir / "20990101-000000-fresh-0000"
    shutil.copytree(trained.path, fresh)
    for name in ("history.json", "model.keras"):
        (fresh / name).unlink()
    shutil.rmtree(fresh / "weights")
    at = page().run()
    assert not at.exception and "no finished epoch yet" in at.info[0].value


def test_a_test_image_shows_its_top_classes_grad_cam_filters_and_maps(trained):
    at = page()
    at.query_params["image"] = "13"  # as a link from Predictions or Results opens it
    at.run()
    assert not at.exception, at.exception
    labels = trained.labels()
    assert at.selectbox(key="inside_class").value == int(labels[13])
    assert at.number_input(key="inside_number").value == int(np.count_nonzero(labels[:13] == labels[13]))
    text = _texts(at)
    assert "After epoch 2 it thinks:" in text and "1. **" in text
    assert "**block1_conv1** · 32×32, 8 channels" in text and "**block1_pool** · 16×16, 8 channels" in text
    assert at.selectbox(key="inside_cam_layer").value == "block1_conv1"
    # The answer the page gives is the network's own.
    inspector = Inspector(open_epoch(trained))
    from cifar.data import load_dataset

    probabilities = inspector.probabilities(load_dataset().x_test[13])[0]
    assert at.selectbox(key="inside_cam_class").value == int(probabilities.argmax())
    names = trained.class_names()
    top = np.argsort(-probabilities, kind="stable")[:3]
    listed = "\n".join(f"{rank}. **{names[k]}** {probabilities[k]:.1%}" for rank, k in enumerate(top, 1))
    assert listed in at.markdown[[m.value.startswith("After epoch") for m in at.markdown].index(True)].value

    # Where it looked answers the class and opacity asked for (this run has one convolution to look on).
    def looked() -> list:
        return [image for image in at.get("image") if any(c.startswith("red: where") for c in image.captions)]

    first = looked()[0].proto.imgs[0].url  # a digest of the picture itself
    other = int(top[1])
    at.selectbox(key="inside_cam_class").set_value(other).run()
    assert not at.exception and looked()[0].captions == [f"red: where it found most evidence for {names[other]}"]
    assert looked()[0].proto.imgs[0].url != first  # another class, another map
    at.slider(key="inside_opacity").set_value(0.0).run()
    seen = [image for image in at.get("image") if any(c.endswith("the 32×32 it sees") for c in image.captions)]
    assert looked()[0].proto.imgs[0].url == seen[0].proto.imgs[0].url  # no map over it: the image itself


def test_the_epoch_slider_replays_an_earlier_network(trained):
    at = page()
    at.query_params["image"] = "3"
    at.run()
    assert at.select_slider(key="inside_epoch").options == ["1", "2"]
    at.select_slider(key="inside_epoch").set_value(1).run()
    assert not at.exception and "After epoch 1 it thinks:" in _texts(at)
    # The answer is epoch 1's network's, not the last one's.
    from cifar.data import load_dataset

    image = load_dataset().x_test[3]
    first, last = (Inspector(open_epoch(trained, epoch)).probabilities(image)[0] for epoch in (1, 2))
    assert f"{first.max():.1%}" != f"{last.max():.1%}"
    assert f"{first.max():.1%}" in _texts(at) and f"{last.max():.1%}" not in _texts(at)


def test_an_address_that_is_not_a_test_image_is_said_and_ignored(trained):
    at = page()
    at.query_params["image"] = "../../etc"
    at.run()
    assert not at.exception and "is not a test image number" in at.warning[0].value
    assert "After epoch 2 it thinks:" in _texts(at)


def test_an_upload_and_a_camera_photo_are_looked_inside(trained):
    at = page().run()
    at.radio(key="inside_source").set_value("your own image").run()
    assert not at.exception and "drop one of your own" in _texts(at)
    at.file_uploader(key="inside_file").set_value(("leaf.png", _png(), "image/png")).run()
    assert not at.exception and "After epoch 2 it thinks:" in _texts(at)
    assert any("your image's centre" in caption for image in at.image for caption in image.captions)
    at.file_uploader(key="inside_file").set_value(("notes.png", b"just text", "image/png")).run()
    assert not at.exception and "not an image" in at.error[0].value
    at.radio(key="inside_source").set_value("the camera").run()
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 180, 20)).save(photo, "JPEG")
    at.camera_input(key="inside_camera").set_value(("photo.jpg", photo.getvalue(), "image/jpeg")).run()
    assert not at.exception and "After epoch 2 it thinks:" in _texts(at)


def test_an_old_format_run_shows_its_last_epoch(batches_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    shutil.copytree(OLD_RUN, runs_dir / OLD_RUN.name)
    at = page().run()
    assert not at.exception
    assert "made before every epoch's weights were kept" in _texts(at) and not at.select_slider
    assert "After epoch 2 it thinks:" in _texts(at)


def test_an_epoch_whose_weights_are_damaged_is_a_message(trained):
    trained.files.weights_file(1).write_bytes(b"damaged")
    at = page()
    at.query_params["image"] = "3"
    at.run()
    at.select_slider(key="inside_epoch").set_value(1).run()
    assert not at.exception and "weights of epoch 1 is damaged" in at.error[0].value


def test_where_it_looked_on_results_predictions_and_classify(trained):
    results = page("results").run()
    results.toggle(key="cell_looked").set_value(True).run()
    assert not results.exception and not results.error
    predictions = page("predictions").run()
    predictions.toggle(key="closer_looked").set_value(True).run()
    assert not predictions.exception and not predictions.error
    assert any("](inside?run=" in text.value and "&image=" in text.value for text in predictions.markdown)
    classify = page("classify").run()
    classify.file_uploader(key="uploads").set_value(("leaf.png", _png(), "image/png")).run()
    classify.toggle(key="classify_looked").set_value(True).run()
    assert not classify.exception and not classify.error


def test_an_earlier_epoch_of_an_old_run_says_it_was_not_kept(batches_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    shutil.copytree(OLD_RUN, runs_dir / OLD_RUN.name)
    at = page("results").run()
    at.select_slider(key="epoch").set_value(1).run()
    at.toggle(key="cell_looked").set_value(True).run()
    assert not at.exception and "did not keep its network of epoch 1" in at.info[0].value


def test_a_live_run_still_opens_its_finished_epochs(trained):
    import os

    write_status(trained.files.status, trained.written_status().replace(state="running", pid=os.getpid()))
    at = page()
    at.query_params["image"] = "5"
    at.run()
    assert not at.exception and "After epoch 2 it thinks:" in _texts(at)


def test_where_it_looked_follows_the_layer_asked_for(batches_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    run = train_run(batches_dir, runs_dir, "--convs-per-block", "2", epochs=1)  # two convolutions to look on
    at = page()
    at.query_params.update(run=run.id, image="13")
    at.run()
    assert not at.exception, at.exception
    layer = at.selectbox(key="inside_cam_layer")
    assert layer.options == ["block1_conv1", "block1_conv2"] and layer.value == "block1_conv2"  # the last by default

    def looked() -> str:
        (image,) = [image for image in at.get("image") if any(c.startswith("red: where") for c in image.captions)]
        return image.proto.imgs[0].url  # a digest of the picture itself

    last = looked()
    layer.set_value("block1_conv1").run()
    assert not at.exception and looked() != last  # the first convolution's own map
    at.selectbox(key="inside_cam_layer").set_value("block1_conv2").run()
    assert looked() == last  # and back: the same map as before
