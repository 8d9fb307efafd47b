from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, TINY, TINY_FLAGS, run_cli, wait_until
from PIL import Image

from cifar.cli.main import build_parser
from cifar.cli.train import config_from_args
from cifar.config.fields import Bool, Choice
from cifar.config.presets import preset
from cifar.config.settings import FIELDS, ModelConfig
from cifar.launch import launcher
from cifar.runs.run import open_run_dir

# The model flags the README says `python -m cifar train --help` lists.
README_FLAGS = (
    "--conv-blocks --filters --convs-per-block --kernel-size --dense-units --early-pool --residual --head "
    "--batch-norm --dropout --dense-dropout --label-smoothing --weight-decay --augment --test-time-flip --optimizer "
    "--learning-rate --lr-schedule --mixed-precision --batch-size --epochs --train-size --seed"
).split()


def _squeezed(text: str) -> str:
    """`text` without whitespace: help wraps lines (at hyphens too) to the terminal's width."""
    return "".join(text.split())


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


@pytest.mark.parametrize(
    ("command", "phrases"),
    [
        ("train", ["Exit codes: 0 finished, 1 failed, 2 bad arguments, 3 stopped.", "--preset", "--resume RUN"]),
        ("evaluate", ["Evaluate a run from its stored test-set predictions", "--epoch EPOCH", "--json", "run"]),
        ("predict", ["Classify image files with a run's model", "--top TOP", "IMAGE [IMAGE ...]"]),
        ("launch", ["Prints the run id on its first line", "--who WHO", "--preset", "--resume RUN"]),
        ("runs", ["List runs, newest first", "their place in line", "--who WHO", "--live", "--json"]),
        ("stop", ["Stop a training after its current batch.", "run id or run directory"]),
    ],
)
def test_help_says_what_each_command_does(command, phrases, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    assert exited.value.code == 0
    shown = _squeezed(capsys.readouterr().out)
    assert shown.startswith(_squeezed(f"usage: python -m cifar {command} [-h]"))
    for phrase in phrases:
        assert _squeezed(phrase) in shown, phrase


def test_train_help_lists_every_setting_with_what_it_does_and_allows():
    result = run_cli("train", "--help")
    assert result.returncode == 0, result.stderr
    shown = _squeezed(result.stdout)
    assert ["--" + name.replace("_", "-") for name in FIELDS] == README_FLAGS
    for field in FIELDS.values():
        flag = "--" + field.name.replace("_", "-")
        if isinstance(field, Bool):
            entry = f"{flag}, --no-{flag[2:]} {field.help}"
        elif isinstance(field, Choice):
            entry = f"{flag} {{{','.join(field.choices)}}} {field.help}"
        else:
            unit = f", in {field.unit}" if field.unit else ""
            entry = f"{flag} {field.metavar} {field.help} ({field.allowed()}{unit})"
        assert _squeezed(entry) in shown, entry


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


def test_evaluate_unknown_epoch_and_run(finished_run):
    run = finished_run
    result = run_cli("evaluate", str(run.path), "--epoch", "9")
    assert result.returncode == 2 and "epochs 1–2; got 9" in result.stderr
    missing = run_cli("evaluate", "no-such-run", "--runs-dir", str(run.path.parent))
    assert missing.returncode == 2 and "No run 'no-such-run'" in missing.stderr


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


def test_runs_lists_and_says_what_to_do_when_empty(finished_run, tmp_path):
    run = finished_run
    listed = run_cli("runs", "--runs-dir", str(run.path.parent))
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(run.id)).split()
    assert row[1:4] == ["finished", "2/2", f"{run.history()['val_accuracy'][-1]:.3f}"]
    empty = run_cli("runs", "--runs-dir", str(tmp_path))
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout == f"No runs in {tmp_path} yet. Start one: python -m cifar train --preset quick\n"


def test_the_trainer_refuses_a_folder_that_holds_no_prepared_run(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cifar.training", str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 2 and "holds no prepared run" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing was written there


@contextlib.contextmanager
def _training_in_a_terminal(batches_dir, tmp_path):
    """`python -m cifar train` of a long tiny run, as typed in a terminal: the process and its run."""
    command = [sys.executable, "-m", "cifar", "train", "--data", str(batches_dir), "--runs-dir", str(tmp_path)]
    command += [*TINY_FLAGS, "--batch-size", "2", "--epochs", "300"]  # 100 steps an epoch: minutes in all
    with (
        open(tmp_path / "stderr.txt", "w") as errors,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, cwd=ROOT, env=os.environ
        ) as process,
    ):
        try:
            yield process, open_run_dir(process.stdout.readline().strip())
        finally:
            if process.poll() is None:
                process.kill()


def _assert_stopped_keeping_its_epochs(run) -> None:
    status = launcher.status(run)
    done = run.history()["epoch"]
    assert status.state == "stopped" and len(done) >= 1 and done == list(range(1, len(done) + 1))
    assert status.epoch == len(done) and run.prediction_epochs() == done and run.weight_epochs() == done
    kept = "the run keeps epoch 1" if len(done) == 1 else f"the run keeps epochs 1–{len(done)}"
    assert status.message.startswith("Stopped on request") and status.message.endswith(f"; {kept}."), status.message
    assert int(run.load_model().optimizer.iterations) == len(done) * run.start_event()["steps"]
    assert [event["state"] for event in run.events()[0] if event["type"] == "end"] == ["stopped"]


def test_the_stop_command_stops_a_training_which_exits_3(batches_dir, tmp_path):
    with _training_in_a_terminal(batches_dir, tmp_path) as (training, run):
        wait_until(lambda: run.history().get("epoch"), what="a finished epoch")
        stop = run_cli("stop", run.id, "--runs-dir", str(tmp_path))
        assert (stop.returncode, stop.stdout) == (0, f"asked {run.id} to stop after its current batch\n")
        assert training.wait(timeout=120) == 3, (tmp_path / "stderr.txt").read_text()
    _assert_stopped_keeping_its_epochs(run)
    again = run_cli("stop", run.id, "--runs-dir", str(tmp_path))
    assert (again.returncode, again.stdout) == (0, f"{run.id} is not queued or running; nothing to stop\n")


def test_ctrl_c_stops_a_training_which_exits_3_keeping_its_epochs(batches_dir, tmp_path):
    with _training_in_a_terminal(batches_dir, tmp_path) as (training, run):
        wait_until(lambda: run.history().get("epoch"), what="a finished epoch")
        training.send_signal(signal.SIGINT)
        assert training.wait(timeout=120) == 3, (tmp_path / "stderr.txt").read_text()
    _assert_stopped_keeping_its_epochs(run)


def test_dense_dropout_augment_and_cosine_flags_reach_the_trained_model(batches_dir, tmp_path):
    flags = ["--dense-dropout", "0.3", "--augment", "--lr-schedule", "cosine"]
    result = run_cli(
        "train", "--data", str(batches_dir), "--runs-dir", str(tmp_path), *TINY_FLAGS, "--epochs", "1", *flags
    )
    assert result.returncode == 0, result.stderr
    run = open_run_dir(result.stdout.splitlines()[0])
    written = json.loads(run.files.config.read_text())
    assert (written["dense_dropout"], written["augment"], written["lr_schedule"]) == (0.3, True, "cosine")
    assert run.config() == TINY.replace(epochs=1, dense_dropout=0.3, augment=True, lr_schedule="cosine")
    model = run.load_model()
    assert model.get_layer("dense_dropout").rate == 0.3
    assert type(model.get_layer("random_flip")).__name__ == "RandomFlip"
    assert type(model.get_layer("random_shift")).__name__ == "RandomTranslation"
    # The cosine schedule came down to zero at the run's last step (a constant rate stays 0.001).
    assert int(model.optimizer.iterations) == run.start_event()["steps"]
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
