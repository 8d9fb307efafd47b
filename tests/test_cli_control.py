"""`python -m cifar control` (cifar/cli/control.py) against a real training launched in the
background, and the values it refuses before asking anything."""

from __future__ import annotations

import math
import os
import re
import time

import pytest
from helpers import TINY, run_cli, wait_for_end, wait_until

from cifar.launch import launcher
from cifar.runs.owner import administrator
from cifar.runs.run import Run, find_run
from cifar.runs.status import write_status


@pytest.mark.slow  # tens of seconds of real trainings
def test_the_command_line_pauses_steers_and_resumes_a_launched_training(long_batches_dir, runs_dir):
    """The issue's walk: a training launched with `launch`, paused, its rate changed, resumed
    and ended early by asking for fewer epochs; it ends finished with every epoch it was to
    train, and the rate is in the events and the optimizer's own. Launched for 50 epochs, it
    cannot end on its own while the test runs, however fast the machine."""
    launched = run_cli(
        "launch", "--preset", "quick", "--train-size", "2000", "--epochs", "50", "--data", str(long_batches_dir),
        "--runs-dir", str(runs_dir), "--who", "Ann",
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr
    run = find_run(launched.stdout.splitlines()[0], runs_dir)
    try:
        wait_until(lambda: run.progress() is not None, 180, "the first batch")

        paused = run_cli("control", run.id, "--pause", "--runs-dir", str(runs_dir))
        assert paused.returncode == 0 and re.search(r"done: Paused at epoch \d+, batch", paused.stdout), paused.stdout
        assert launcher.status(run).paused_since is not None
        assert "paused for" in run_cli("runs", "--runs-dir", str(runs_dir)).stdout
        batches = len([event for event in run.events()[0] if event["type"] == "batch"])
        time.sleep(2)  # paused: no batch ends meanwhile
        assert len([event for event in run.events()[0] if event["type"] == "batch"]) == batches

        changed = run_cli("control", run.id, "--lr", "0.0001", "--runs-dir", str(runs_dir))
        assert changed.returncode == 0 and "done: Learning rate" in changed.stdout, changed.stdout + changed.stderr
        resumed = run_cli("control", run.id, "--resume", "--runs-dir", str(runs_dir))
        assert "done: Resumed." in resumed.stdout, resumed.stdout + resumed.stderr
        wait_until(lambda: len([e for e in run.events()[0] if e["type"] == "batch"]) > batches, 60, "batches again")
        # Paused, the epoch under way stays put while the run is told to end with it; the trainer's
        # answer says which epoch that is (a batch event may not have said it yet).
        repaused = run_cli("control", run.id, "--pause", "--runs-dir", str(runs_dir)).stdout
        last = int(re.search(r"done: Paused at epoch (\d+),", repaused).group(1))
        ended = run_cli("control", run.id, "--epochs", str(last), "--runs-dir", str(runs_dir))
        assert f"done: The run now ends at epoch {last} (it was 50)." in ended.stdout, ended.stdout + ended.stderr
        assert "done: Resumed." in run_cli("control", run.id, "--resume", "--runs-dir", str(runs_dir)).stdout

        status = wait_for_end(run, 300)
        assert status.state == "finished" and status.epochs == last
        assert run.history()["epoch"] == list(range(1, last + 1))
        control = [event for event in run.events()[0] if event["type"] == "control"]
        assert [event["action"] for event in control] == ["pause", "lr", "resume", "pause", "epochs", "resume"]
        assert math.isclose(control[1]["learning_rate"], 0.0001, rel_tol=1e-4)
        # The optimizer carried on from that rate (the quick preset's constant one, scaled to it).
        schedule = run.load_model().optimizer._learning_rate
        assert math.isclose(schedule.value_at(_optimizer_step_at(control[1])), 0.0001, rel_tol=1e-4)
        refused = run_cli("control", run.id, "--pause", "--runs-dir", str(runs_dir))
        assert (
            refused.returncode == 2 and "is finished: only a training that is running can be steered" in refused.stderr
        )
    finally:  # a 50-epoch training must not outlive a failed test
        if launcher.status(run).live:
            launcher.stop(run, person=administrator())
            wait_for_end(run)


def _optimizer_step_at(event: dict) -> int:
    """The optimizer's step count when `event` took effect: the batches trained before it."""
    return (event["epoch"] - 1) * event["batches"] + event["batch"]


@pytest.mark.parametrize(
    "flags, said",
    [(["--lr", "0"], "learning rate"), (["--lr", "nan"], "learning rate"), (["--lr", "fast"], "--lr"),
     (["--epochs", "0"], "it can end at epoch 1 at the earliest"), ([], "one of the arguments")],
)  # fmt: skip
def test_control_refuses_bad_values_before_asking(runs_dir, fake_backend, flags, said):
    run = Run(launcher.prepare_run(TINY, runs_dir, "steered", person=administrator(), backend=fake_backend))
    write_status(run.files.status, run.written_status().replace(state="running", pid=os.getpid(), pid_start=None))
    result = run_cli("control", run.id, *flags, "--runs-dir", str(runs_dir))
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert not run.files.control.exists()
