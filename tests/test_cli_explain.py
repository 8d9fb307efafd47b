"""`python -m cifar explain`: its numbers against the Inspector on the same prepared pixels, its
pictures against the overlay drawn by hand, and what it refuses before writing anything."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli
from PIL import Image
from synthetic import make_images

from cifar.cli import explain as explain_command
from cifar.cli import main as cli_main
from cifar.study import explain
from cifar.study.explain import Inspector, open_epoch, overlay
from cifar.study.infer import MAX_BYTES, centre_square, prepare_image


@pytest.fixture(scope="module")
def inspectors(finished_run):
    run = finished_run
    return {epoch: Inspector(open_epoch(run, epoch)) for epoch in run.inside_epochs()}


@pytest.fixture(scope="module")
def photo(finished_run, inspectors, tmp_path_factory) -> Path:
    """A 120×200 photo of a synthetic class whose Grad-CAM for the predicted class is not flat at
    the last epoch, so that its picture has a map to show."""
    folder = tmp_path_factory.mktemp("photos")
    inspector = inspectors[max(inspectors)]
    for number, image in enumerate(make_images(10, seed=5)[0]):
        path = folder / f"photo{number}.png"
        Image.fromarray(image).resize((200, 120), Image.Resampling.BILINEAR).save(path)
        pixels = prepare_image(path.read_bytes()).pixels
        predicted = int(np.argmax(inspector.probabilities(pixels)[0]))
        if not inspector.grad_cam(pixels, predicted).flat:
            return path
    pytest.fail("every synthetic image has a flat map for its predicted class; the test has nothing to show")


def explain_json(run, *args: str, capsys) -> tuple[int, list[dict]]:
    code = cli_main.main(["explain", str(run.path), *args, "--json"])
    return code, json.loads(capsys.readouterr().out)["images"]


def plain_picture(path: Path) -> np.ndarray:
    """The photo's centre square enlarged to the picture's side, with no map over it."""
    square = centre_square(prepare_image(path.read_bytes()).original)
    return np.asarray(square.resize((explain_command.PICTURE_SIDE,) * 2, Image.Resampling.NEAREST))


def test_json_equals_the_inspector_on_the_same_pixels(finished_run, inspectors, photo, tmp_path, capsys):
    run = finished_run
    names = run.class_names()
    pixels = prepare_image(photo.read_bytes()).pixels
    inspector = inspectors[2]
    code, (answer,) = explain_json(run, str(photo), "--out", str(tmp_path), capsys=capsys)
    assert code == 0
    _, probabilities = inspector.feature_maps(pixels)
    predicted = int(np.argmax(probabilities))
    assert list(answer["probabilities"]) == list(names)
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(list(answer["probabilities"].values()), probabilities, atol=1e-5)
    assert answer["predicted"] == answer["class"] == names[predicted]
    heatmap = np.array(answer["heatmap"])
    assert heatmap.shape == (32, 32) and heatmap.min() >= 0 and heatmap.max() <= 1
    cam = inspector.grad_cam(pixels, predicted, inspector.default_cam_layer)
    np.testing.assert_allclose(heatmap, cam.heatmap, atol=1e-4)
    assert (answer["layer"], answer["epoch"], answer["flat"]) == (inspector.default_cam_layer, 2, False)
    assert answer["file"] == str(photo) and answer["png"] == str(tmp_path / f"{photo.stem}-gradcam.png")


def test_class_and_epoch_choose_what_is_explained(finished_run, inspectors, photo, tmp_path, capsys):
    run = finished_run
    names = run.class_names()
    pixels = prepare_image(photo.read_bytes()).pixels
    predicted = int(np.argmax(inspectors[2].probabilities(pixels)[0]))
    others = [c for c in range(len(names)) if c != predicted]
    # A class whose map differs from the predicted one's, where there is one, so that the map shows which was explained.
    asked = next((c for c in others if not inspectors[2].grad_cam(pixels, c).flat), others[0])
    code, (answer,) = explain_json(run, str(photo), "--class", names[asked], "--out", str(tmp_path), capsys=capsys)
    assert code == 0 and answer["predicted"] == names[predicted] and answer["class"] == names[asked]
    np.testing.assert_allclose(answer["heatmap"], inspectors[2].grad_cam(pixels, asked).heatmap, atol=1e-4)

    last = list(answer["probabilities"].values())
    code, (first,) = explain_json(run, str(photo), "--epoch", "1", "--out", str(tmp_path), capsys=capsys)
    assert code == 0 and first["epoch"] == 1
    np.testing.assert_allclose(list(first["probabilities"].values()), inspectors[1].probabilities(pixels)[0], atol=1e-5)
    assert np.abs(np.array(list(first["probabilities"].values())) - last).max() > 1e-3


def test_the_picture_is_the_map_over_what_the_model_saw(finished_run, photo, tmp_path, capsys):
    run = finished_run
    _, (answer,) = explain_json(run, str(photo), "--out", str(tmp_path / "new" / "folder"), capsys=capsys)
    with Image.open(answer["png"]) as written:
        assert written.format == "PNG" and written.size == (explain_command.PICTURE_SIDE, explain_command.PICTURE_SIDE)
        picture = np.asarray(written.convert("RGB")).astype(int)
    plain = plain_picture(photo)
    assert np.abs(picture - plain).mean() > 10  # the map changed the picture
    # ... and it is the map drawn over the centre square (the JSON's map is rounded to 4 decimals).
    drawn = overlay(plain, np.array(answer["heatmap"], dtype=np.float32), explain_command.MAP_OPACITY).astype(int)
    assert np.abs(picture - drawn).max() <= 1
    assert [p.name for p in (tmp_path / "new" / "folder").iterdir()] == [f"{photo.stem}-gradcam.png"]


def test_a_flat_map_is_said_in_words_and_leaves_the_picture_plain(finished_run, photo, tmp_path, capsys, monkeypatch):
    run = finished_run
    monkeypatch.setattr(explain, "FLAT_LIMIT", np.inf)  # no map reaches it: every map is flat
    code = cli_main.main(["explain", str(run.path), str(photo), "--class", "cat", "--out", str(tmp_path)])
    line = capsys.readouterr().out.strip()
    assert code == 0 and "the map is flat: no part of layer" in line and "raised the score of cat" in line
    with Image.open(tmp_path / f"{photo.stem}-gradcam.png") as written:
        assert np.array_equal(np.asarray(written.convert("RGB")), plain_picture(photo))


@pytest.mark.parametrize(
    ("flags", "allowed"),
    [
        (["--class", "kitten"], "airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck"),
        (["--layer", "block9_conv9"], "block1_conv1"),
        (["--epoch", "9"], "epochs 1, 2, not for epoch 9"),
    ],
    ids=["class", "layer", "epoch"],
)
def test_a_bad_choice_is_refused_before_anything_is_written(finished_run, photo, tmp_path, capsys, flags, allowed):
    run = finished_run
    out = tmp_path / "out"
    code = cli_main.main(["explain", str(run.path), str(photo), *flags, "--out", str(out)])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("error: ") and allowed in error
    assert not out.exists()


def test_an_out_that_is_a_file_is_refused(finished_run, photo, tmp_path, capsys):
    run = finished_run
    (tmp_path / "taken").write_text("mine")
    code = cli_main.main(["explain", str(run.path), str(photo), "--out", str(tmp_path / "taken")])
    assert code == 2 and "is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "mine"


def test_bad_images_are_named_and_the_good_ones_answered(finished_run, photo, tmp_path):
    """A real process: text out, one line per image; the unreadable ones on stderr, exit 1."""
    run = finished_run
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    (tmp_path / "a" / "cat.png").write_bytes(photo.read_bytes())
    Image.fromarray(make_images(4, seed=9)[0][3]).save(tmp_path / "b" / "cat.png")  # same name, other picture
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with open(tmp_path / "huge.png", "wb") as huge:
        huge.truncate(MAX_BYTES + 1)  # sparse: refused by its size, never read
    images = [tmp_path / name for name in ("a/cat.png", "notes.png", "b/cat.png", "empty.jpg", "huge.png", "gone.jpg")]
    out = tmp_path / "out"
    result = run_cli("explain", str(run.path), *map(str, images), "--out", str(out))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{images[0]}: ") and lines[1].startswith(f"{images[2]}: ")
    assert str(out / "cat-gradcam.png") in lines[0] and str(out / "cat-2-gradcam.png") in lines[1]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {images[1]}: this is text, not an image.",
        f"error: {images[3]}: the file is empty.",
        f"error: {images[4]}: 20.0 MB is over the 20 MB limit.",
        f"error: {images[5]}: cannot read the file (No such file or directory).",
    ]
    assert sorted(p.name for p in out.iterdir()) == ["cat-2-gradcam.png", "cat-gradcam.png"]
    assert (out / "cat-gradcam.png").read_bytes() != (out / "cat-2-gradcam.png").read_bytes()


def test_same_names_get_their_own_pictures_and_no_input_is_written_over(finished_run, photo, tmp_path, capsys):
    run = finished_run
    out = tmp_path / "out"
    for folder in ("a", "b", "out"):
        (tmp_path / folder).mkdir()
    for path in (tmp_path / "a" / "cat.png", tmp_path / "b" / "cat.png", out / "cat-2-gradcam.png"):
        path.write_bytes(photo.read_bytes())
    (out / "cat-gradcam.png").write_bytes(b"an earlier answer")  # explain's own name: written over
    (tmp_path / "bad.png").write_text("text")
    images = [tmp_path / "a" / "cat.png", tmp_path / "bad.png", tmp_path / "b" / "cat.png", out / "cat-2-gradcam.png"]
    code, answers = explain_json(run, *map(str, images), "--out", str(out), capsys=capsys)
    assert code == 1
    assert answers[1] == {"file": str(images[1]), "error": f"{images[1]}: this is text, not an image."}
    assert [answer.get("png") for answer in answers] == [
        str(out / "cat-gradcam.png"),
        None,
        str(out / "cat-3-gradcam.png"),  # cat-2-gradcam.png is one of the inputs
        str(out / "cat-2-gradcam-gradcam.png"),
    ]
    assert (out / "cat-2-gradcam.png").read_bytes() == photo.read_bytes()
    for answer in answers[::2]:
        with Image.open(answer["png"]) as written:
            assert written.format == "PNG"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_help_says_where_the_pictures_go(capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main.build_parser().parse_args(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert exited.value.code == 0
    assert "default: ./gradcam" in text and "-gradcam.png" in text and "256×256" in text
