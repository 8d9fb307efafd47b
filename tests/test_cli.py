from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, run_cli
from PIL import Image

from cifar.cli import build_parser, config_from_args
from cifar.model import ModelConfig, preset


def test_flags_named_after_config_fields_override_the_preset():
    args = build_parser().parse_args(
        "train --preset quick --epochs 3 --dropout 0.25 --batch-size 64 --filters 32,64 "
        "--train-size 5000 --learning-rate 0.001 --seed 1 --batch-norm --optimizer sgd".split()
    )
    config = config_from_args(args)
    assert config == preset("quick").replace(
        epochs=3,
        dropout=0.25,
        batch_size=64,
        filters=(32, 64),
        train_size=5000,
        seed=1,
        batch_norm=True,
        optimizer="sgd",
    )
    assert config_from_args(build_parser().parse_args(["train"])) == ModelConfig()
    assert config_from_args(build_parser().parse_args(["train", "--train-size", "all"])).train_size is None


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "runs", "stop"])
def test_help_says_what_each_command_does(command, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    assert exited.value.code == 0
    assert len(capsys.readouterr().out) > 200


def test_evaluate_json_and_table(finished_run):
    _, run = finished_run
    result = run_cli("evaluate", str(run.path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["epoch"] == 2
    assert report["test_accuracy"] == pytest.approx(run.history()["val_accuracy"][-1], abs=1e-6)
    assert np.array(report["confusion"]).sum() == 100
    table = run_cli("evaluate", run.id, "--runs-dir", str(run.path.parent), "--epoch", "1")
    assert table.returncode == 0 and "epoch 1 of 2" in table.stdout and "precision" in table.stdout


def test_evaluate_unknown_epoch_and_run(finished_run):
    _, run = finished_run
    result = run_cli("evaluate", str(run.path), "--epoch", "9")
    assert result.returncode == 2 and "epochs 1–2; got 9" in result.stderr
    missing = run_cli("evaluate", "no-such-run", "--runs-dir", str(run.path.parent))
    assert missing.returncode == 2 and "No run 'no-such-run'" in missing.stderr


def test_predict_top3_and_a_bad_file(finished_run, tmp_path):
    _, run = finished_run
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 200), (30, 120, 200)).save(photo)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    result = run_cli("predict", str(run.path), str(photo), str(bad), "--json")
    assert result.returncode == 1  # one file failed; the other still answered
    answers = json.loads(result.stdout)
    assert [a["class"] for a in answers[0]["top"]] and len(answers[0]["top"]) == 3
    assert sum(a["probability"] for a in answers[0]["top"]) <= 1.0001
    assert "notes.png" in answers[1]["error"] and "not an image" in answers[1]["error"]


def test_predict_matches_the_model_on_the_same_pixels(finished_run, tmp_path):
    """The command line's answer equals the model's on the 32×32 array it should have seen."""
    from cifar.infer import predict, prepare_image

    _, run = finished_run
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    (tmp_path / "x.png").write_bytes(buffer.getvalue())
    probabilities = predict(run.load_model(), prepare_image(buffer.getvalue()).pixels)
    result = run_cli("predict", str(run.path), str(tmp_path / "x.png"), "--json")
    top = json.loads(result.stdout)[0]["top"][0]
    assert top["class"] == run.class_names()[int(np.argmax(probabilities))]
    assert top["probability"] == pytest.approx(float(probabilities.max()), abs=1e-5)


def test_runs_lists_and_says_what_to_do_when_empty(finished_run, tmp_path):
    _, run = finished_run
    listed = run_cli("runs", "--runs-dir", str(run.path.parent))
    assert run.id in listed.stdout and "finished" in listed.stdout
    empty = run_cli("runs", "--runs-dir", str(tmp_path))
    assert "No runs" in empty.stdout and "python -m cifar train" in empty.stdout


def test_the_trainer_refuses_a_folder_that_holds_no_prepared_run(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cifar.train", str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 2 and "holds no prepared run" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing was written there
