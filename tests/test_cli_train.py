"""`python -m cifar train` and `launch` (cifar/cli/train.py): a flag for every field of the config
table over a preset, the refusals of `--resume`, and what each command prints and exits with.
A launch here goes to a fake backend, so nothing trains unless a test trains for real."""

from __future__ import annotations

import json
import re
import shutil
import signal

import pytest
from helpers import (
    TINY,
    TINY_FLAGS,
    FakeBackend,
    assert_stopped_keeping_its_epochs,
    registered,
    run_cli,
    squeezed,
    training_in_a_terminal,
    wait_until,
)

from cifar.cli.main import build_parser, main
from cifar.cli.train import config_from_args
from cifar.config.fields import Bool, Choice
from cifar.config.presets import preset
from cifar.config.settings import FIELDS, ModelConfig
from cifar.launch import backends
from cifar.runs.run import list_runs, open_run, open_run_dir

# The model flags the README says `python -m cifar train --help` lists.
README_FLAGS = (
    "--conv-blocks --filters --convs-per-block --kernel-size --dense-units --early-pool --residual --head "
    "--batch-norm --whiten --gelu --identity-init --frozen-bn-scale --bn-bias-rate --dropout --dense-dropout "
    "--label-smoothing --weight-decay --augment --alternating-flip --test-time-flip --test-time-shifts --optimizer "
    "--learning-rate --lr-schedule --weight-average --mixed-precision --batch-size --epochs --train-size "
    "--holdout --seed"
).split()


@pytest.fixture
def fake(monkeypatch) -> FakeBackend:
    """Where `launch` sends new runs in these tests: a backend that starts nothing."""
    backend = FakeBackend()
    registered(monkeypatch, backend)
    monkeypatch.setattr(backends, "for_new_runs", lambda: backend)
    return backend


@pytest.fixture
def parent(finished_run, runs_dir):
    """A copy of the finished two-epoch run in this test's own runs folder."""
    shutil.copytree(finished_run.path, runs_dir / finished_run.id)
    return open_run(finished_run.id, runs_dir)


# --- flags -----------------------------------------------------------------------------------


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


def test_a_switch_turns_a_presets_setting_off_as_well_as_on():
    def parsed(*flags: str) -> ModelConfig:
        return config_from_args(build_parser().parse_args(["launch", *flags]))

    assert parsed("--preset", "better").batch_norm is True  # the preset's own value
    assert parsed("--preset", "better", "--no-batch-norm", "--no-augment") == preset("better").replace(
        batch_norm=False, augment=False
    )
    assert parsed("--preset", "quick", "--augment").augment is True


def test_train_help_lists_every_setting_with_what_it_does_and_allows():
    result = run_cli("train", "--help")
    assert result.returncode == 0, result.stderr
    shown = squeezed(result.stdout)
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
        assert squeezed(entry) in shown, entry


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            ["--dropout", "lots"],
            "argument --dropout: dropout must be a number at least 0 and below 1; got 'lots'",
        ),
        (
            ["--optimizer", "adagrad"],
            "argument --optimizer: invalid choice: 'adagrad' (choose from 'adam', 'sgd', 'rmsprop')",
        ),
        (["--preset", "fastest"], "argument --preset: invalid choice: 'fastest'"),
    ],
)
def test_a_flag_value_the_field_refuses_is_a_usage_error_naming_the_flag(flags, said, runs_dir, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["launch", "--runs-dir", str(runs_dir), *flags])
    assert exited.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"python -m cifar launch: error: {said}"), last
    assert list_runs(runs_dir) == []


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


# --- launch ----------------------------------------------------------------------------------


def test_launch_prints_the_run_id_first_then_its_place_in_line(fake, runs_dir, capsys):
    assert main(["launch", "--runs-dir", str(runs_dir), "--preset", "quick", "--who", " Ada  L "]) == 0
    first = capsys.readouterr().out.splitlines()
    assert main(["launch", "--runs-dir", str(runs_dir), "--preset", "quick", "--run-name", "Second Try!"]) == 0
    second = capsys.readouterr().out.splitlines()
    assert first[1:] == ["queued: number 1 in line"] and second[1:] == ["queued: number 2 in line"]
    assert fake.asked("start") == [first[0], second[0]]
    # The run is named after --run-name, else the preset; the id is the time, the name, 4 hex digits.
    assert re.fullmatch(r"\d{8}-\d{6}-quick-[0-9a-f]{4}", first[0]), first[0]
    assert re.fullmatch(r"\d{8}-\d{6}-second-try-[0-9a-f]{4}", second[0]), second[0]
    made = open_run(first[0], runs_dir)
    assert made.config() == preset("quick")
    status = json.loads(made.files.status.read_text())
    assert (status["who"], status["name"], status["backend"], status["state"]) == ("Ada L", "quick", "fake", "queued")


def test_launch_without_a_preset_is_the_tutorial(fake, runs_dir, capsys):
    assert main(["launch", "--runs-dir", str(runs_dir), "--epochs", "3"]) == 0
    run_id = capsys.readouterr().out.splitlines()[0]
    assert re.fullmatch(r"\d{8}-\d{6}-tutorial-[0-9a-f]{4}", run_id), run_id
    assert open_run(run_id, runs_dir).config() == preset("tutorial").replace(epochs=3)


def test_a_launch_its_backend_trains_at_once_says_how_to_follow_it_and_where(monkeypatch, runs_dir, capsys):
    cluster = FakeBackend(name="fake-cluster", cluster="http://head:8265")
    registered(monkeypatch, cluster)
    monkeypatch.setattr(backends, "for_new_runs", lambda: cluster)
    # This backend's word: the run it was asked to start trains straight away.
    monkeypatch.setattr(cluster, "start", lambda run_dir: cluster.states.update({run_dir.name: "running"}))
    assert main(["launch", "--runs-dir", str(runs_dir), "--preset", "quick"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["launched on the cluster at http://head:8265; follow it with: python -m cifar runs"]
    assert open_run(lines[0], runs_dir).written_status().cluster == "http://head:8265"


def test_a_launch_of_hours_warns_first_and_still_launches(fake, runs_dir, capsys):
    assert main(["launch", "--runs-dir", str(runs_dir), "--preset", "tutorial", "--epochs", "500"]) == 0
    captured = capsys.readouterr()
    (warning,) = captured.err.splitlines()
    assert re.fullmatch(
        r"warning: This run would take about [\d.]+ h here\. Fewer epochs, fewer training images "
        r"or a larger batch size make it shorter; it can be stopped at any time and keeps its epochs\.",
        warning,
    ), warning
    assert [run.id for run in list_runs(runs_dir)] == [captured.out.splitlines()[0]]


def test_launch_refuses_a_name_that_is_not_one_and_makes_no_run(batches_dir, runs_dir):
    refused = run_cli("launch", "--data", str(batches_dir), "--runs-dir", str(runs_dir), "--who", "x" * 41)
    assert refused.returncode == 2
    assert refused.stderr == "error: a name must be at most 40 characters; got 41. Use a shorter one.\n"
    assert not [path for path in runs_dir.iterdir() if not path.name.startswith(".")]


# --- resume ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "--resume needs --epochs"),
        (["--epochs", "2", "--filters", "16"], "--filters cannot change it"),
        (["--epochs", "2", "--preset", "quick"], "--preset cannot change it"),
        (["--epochs", "0"], "epochs to add must be a whole number from 1 to 498"),
        (["--epochs", "499"], "epochs to add must be a whole number from 1 to 498"),
    ],
)
def test_resume_refuses_what_it_cannot_do(parent, runs_dir, flags, message):
    result = run_cli("train", "--resume", parent.id, "--runs-dir", str(runs_dir), *flags)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert [run.id for run in list_runs(runs_dir)] == [parent.id]  # no half-made run left behind


def test_resume_names_every_flag_that_would_change_the_config(parent, runs_dir, fake, capsys):
    flags = ["--epochs", "2", "--preset", "quick", "--dropout", "0.1", "--no-augment"]
    assert main(["launch", "--resume", parent.id, "--runs-dir", str(runs_dir), *flags]) == 2
    # The preset first, then the fields in the table's order (README_FLAGS), whatever order they were typed.
    assert capsys.readouterr().err == (
        "error: --resume continues the run's own config; --preset, --dropout, --augment cannot change it. "
        "Give only --epochs.\n"
    )
    assert fake.calls == []


def test_launch_resume_queues_the_continuation_beside_its_parent(parent, runs_dir, fake, capsys):
    assert main(["launch", "--resume", parent.id, "--epochs", "3", "--runs-dir", str(runs_dir)]) == 0
    child_id = capsys.readouterr().out.splitlines()[0]
    child = open_run(child_id, runs_dir)
    assert child.config() == parent.config().replace(epochs=5)  # 2 done, 3 more
    written = child.written_status()
    assert (written.resumed_from, written.start_epoch, written.epoch) == (parent.id, 2, 2)
    assert fake.asked("start") == [child_id]


# --- train ------------------------------------------------------------------------------------


def test_ctrl_c_stops_a_training_which_exits_3_keeping_its_epochs(batches_dir, tmp_path):
    with training_in_a_terminal(batches_dir, tmp_path) as (training, run):
        wait_until(lambda: run.history().get("epoch"), what="a finished epoch")
        training.send_signal(signal.SIGINT)
        assert training.wait(timeout=120) == 3, (tmp_path / "stderr.txt").read_text()
    assert_stopped_keeping_its_epochs(run)


def test_the_flags_of_a_config_make_that_config():
    """The tests' tiny network as flags (helpers.flags_of) is the tiny network itself."""
    parsed = build_parser().parse_args(["train", *TINY_FLAGS, "--epochs", str(TINY.epochs)])
    assert config_from_args(parsed) == TINY
