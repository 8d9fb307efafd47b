"""`python -m cifar evaluate` and `predict` (cifar/cli/study.py): a run's test results from its
stored predictions, counted again here by hand, and its answers for image files, checked against
its model on the same pixels."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from helpers import TINY, run_cli
from PIL import Image

from cifar.cli.main import main
from cifar.data import CLASS_NAMES
from cifar.launch import launcher
from cifar.runs.config_file import save_config
from cifar.runs.layout import RunFiles
from cifar.runs.owner import ALONE


def _stored(run, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """The run's labels and its stored probabilities of `epoch`, read from the files themselves."""
    labels = np.load(run.path / "labels.npy")
    return labels, np.load(run.path / "predictions" / f"epoch-{epoch:03d}.npy").astype(np.float32)


def test_evaluate_json_and_table(finished_run):
    run = finished_run
    result = run_cli("evaluate", str(run.path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["epoch"] == 2
    assert report["test_accuracy"] == pytest.approx(run.history()["val_accuracy"][-1], abs=1e-6)
    assert np.array(report["confusion"]).sum() == 100
    table = run_cli("evaluate", run.id, "--runs-dir", str(run.path.parent), "--epoch", "1")
    assert table.returncode == 0 and "epoch 1 of 2" in table.stdout and "precision" in table.stdout


def test_evaluate_counts_what_the_stored_predictions_say(finished_run, capsys):
    labels, probabilities = _stored(finished_run, 1)
    predicted = probabilities.argmax(axis=1)
    counts = np.zeros((10, 10), dtype=int)
    for true, said in zip(labels, predicted, strict=True):
        counts[true, said] += 1
    assert main(["evaluate", str(finished_run.path), "--epoch", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["run"], report["epoch"], report["class_names"]) == (finished_run.id, 1, list(CLASS_NAMES))
    assert report["confusion"] == counts.tolist()
    assert report["test_accuracy"] == pytest.approx(np.trace(counts) / len(labels))
    loss = -np.mean(np.log(np.maximum(probabilities[np.arange(len(labels)), labels], 1e-7)))
    assert report["test_loss"] == pytest.approx(loss, rel=1e-5)
    assert [row["support"] for row in report["per_class"]] == counts.sum(axis=1).tolist()
    recalls = [row["recall"] for row in report["per_class"]]
    assert recalls == pytest.approx(np.diag(counts) / counts.sum(axis=1))


def test_evaluates_table_has_a_confusion_row_for_each_true_class(finished_run, capsys):
    labels, probabilities = _stored(finished_run, 2)
    counts = np.zeros((10, 10), dtype=int)
    np.add.at(counts, (labels, probabilities.argmax(axis=1)), 1)
    assert main(["evaluate", str(finished_run.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"run {finished_run.id}, epoch 2 of 2 stored"
    loss = -np.mean(np.log(np.maximum(probabilities[np.arange(len(labels)), labels], 1e-7)))
    assert lines[1].startswith(f"test loss {loss:.4f}")
    start = lines.index("confusion matrix (rows: true class, columns: predicted)") + 2
    # The longest class name, "automobile", sets the width of the first column.
    for offset, name in enumerate(CLASS_NAMES):
        assert lines[start + offset] == f"{name:>10} " + " ".join(f"{count:>5}" for count in counts[offset])


def test_evaluate_unknown_epoch_and_run(finished_run):
    run = finished_run
    result = run_cli("evaluate", str(run.path), "--epoch", "9")
    assert result.returncode == 2 and "epochs 1–2; got 9" in result.stderr
    missing = run_cli("evaluate", "no-such-run", "--runs-dir", str(run.path.parent))
    assert missing.returncode == 2 and "No run 'no-such-run'" in missing.stderr


def test_evaluate_says_when_a_run_was_tested_on_held_out_images(finished_run, runs_dir, capsys):
    assert main(["evaluate", str(finished_run.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tested_on"] == "the test set"
    copy = shutil.copytree(finished_run.path, runs_dir / finished_run.id)
    save_config(finished_run.config().replace(holdout=50), RunFiles(copy).config)
    assert main(["evaluate", str(copy)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "tested on 50 held-out training images, not on the test set: 'test' below means those images"
    assert main(["evaluate", str(copy), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tested_on"] == "50 held-out training images"


def test_evaluate_of_a_run_with_no_finished_epoch_says_so(runs_dir, capsys):
    path = launcher.prepare_run(TINY, runs_dir, "new", person=ALONE)
    assert main(["evaluate", path.name, "--runs-dir", str(runs_dir)]) == 2
    assert capsys.readouterr().err == f"error: Run {path.name} has no finished epoch yet, so no predictions.\n"


def test_predict_top3_and_a_bad_file(finished_run, tmp_path):
    from cifar.study.infer import predict, prepare_image, top_classes

    run = finished_run
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 200), (30, 120, 200)).save(photo)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    result = run_cli("predict", str(run.path), str(photo), str(bad), "--json")
    assert result.returncode == 1  # one file failed; the other still answered
    answers = json.loads(result.stdout)
    probabilities = predict(run.load_model(), prepare_image(photo.read_bytes()).pixels)
    expected = [(name, pytest.approx(p, abs=1e-5)) for name, p in top_classes(probabilities, run.class_names())]
    assert answers[0]["image"] == str(photo) and len(expected) == 3
    assert [(a["class"], a["probability"]) for a in answers[0]["top"]] == expected
    assert answers[1] == {"image": str(bad), "error": f"{bad}: this is text, not an image."}


def test_predict_matches_the_model_on_the_same_pixels(finished_run, tmp_path):
    """The command line's answer equals the model's on the 32×32 array it should have seen."""
    from cifar.study.infer import predict, prepare_image

    run = finished_run
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    (tmp_path / "x.png").write_bytes(buffer.getvalue())
    probabilities = predict(run.load_model(), prepare_image(buffer.getvalue()).pixels)
    result = run_cli("predict", str(run.path), str(tmp_path / "x.png"), "--json")
    assert result.returncode == 0, result.stderr
    top = json.loads(result.stdout)[0]["top"][0]
    assert top["class"] == run.class_names()[int(np.argmax(probabilities))]
    assert top["probability"] == pytest.approx(float(probabilities.max()), abs=1e-5)


def test_predicts_table_gives_each_file_its_top_classes_and_each_error_on_stderr(finished_run, tmp_path, capsys):
    pixels = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "tiny.png")  # already 32×32 RGB: the model sees it as it is
    missing = tmp_path / "missing.png"
    probabilities = finished_run.load_model().predict(pixels[None], verbose=0)[0]
    order = np.argsort(-probabilities)[:2]
    assert main(["predict", str(finished_run.path), str(tmp_path / "tiny.png"), str(missing), "--top", "2"]) == 1
    captured = capsys.readouterr()
    tops = ", ".join(f"{CLASS_NAMES[i]} {probabilities[i]:.1%}" for i in order)
    assert captured.out == f"{tmp_path / 'tiny.png'}: {tops}\n"
    assert captured.err == f"error: {missing}: cannot read the file (No such file or directory).\n"


def test_predict_with_a_run_that_has_no_model_says_so(finished_run, runs_dir, tmp_path, capsys):
    copy = runs_dir / finished_run.id
    shutil.copytree(finished_run.path, copy)
    (copy / "model.keras").unlink()
    Image.new("RGB", (32, 32)).save(tmp_path / "black.png")
    assert main(["predict", finished_run.id, str(tmp_path / "black.png"), "--runs-dir", str(runs_dir)]) == 2
    assert capsys.readouterr().err == f"error: Run {finished_run.id} has no model yet: no epoch has finished.\n"
