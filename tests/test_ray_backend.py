"""Trainings on a Ray cluster: a real one-machine cluster (tests/ray_head.py) takes launches,
trains them, stops them and reports them; and what a launch says when Ray cannot take it.

The cluster offers 2 CPUs and each training asks for 1, so two train at once and a third waits
in Ray's queue. A "fake trainer" is a program in the worker's place that sleeps and never
writes: a training that ignores its stop file.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from app_server import free_port
from helpers import ROOT, TINY, app_page, run_cli, wait_for_end, wait_until

from cifar.errors import RunError
from cifar.launch import backends, launcher, ray_backend
from cifar.runs.owner import ALONE
from cifar.runs.run import Run, list_runs
from cifar.runs.status import RunStatus

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed: pip install -r requirements-cluster.txt")


def on_a_cluster(test):
    """A test on the real cluster, with real trainings: from a few seconds to a minute or two."""
    for mark in (needs_ray, pytest.mark.slow, pytest.mark.timeout(420)):
        test = mark(test)
    return test


LONG = TINY.replace(epochs=200, batch_size=2)  # 100 steps an epoch: trains far longer than any test waits


@pytest.fixture(scope="module")
def head():
    from ray_head import start_head, stop_head

    started = start_head(cpus=2)
    yield started
    _end_every_job(started.address)
    stop_head(started)


def _end_every_job(address: str) -> None:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    live = [job.submission_id for job in client.list_jobs() if not job.status.is_terminal()]
    for job_id in live:
        client.stop_job(job_id)
    wait_until(lambda: all(client.get_job_status(job_id).is_terminal() for job_id in live), 60, "every job to end")


@pytest.fixture
def client(head):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(head.address)


@pytest.fixture
def on_cluster(head, batches_dir, monkeypatch):
    """Launches go to the test cluster, and train on the synthetic batches."""
    monkeypatch.setenv("CIFAR_RAY_ADDRESS", head.address)
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    return head


@pytest.fixture
def fake_trainer(tmp_path, monkeypatch) -> Path:
    """Workers run a program that sleeps in the trainer's place: it never writes, nor stops by itself."""
    program = tmp_path / "sleeping-python"
    program.write_text("#!/bin/sh\nexec sleep 600\n")
    program.chmod(0o755)
    monkeypatch.setattr(ray_backend, "WORKER_PYTHON", str(program))
    return program


def _ray_state(client, run: Run) -> str:
    return client.get_job_status(run.id).value


def _trainer_under_way(run: Run) -> bool:
    return launcher.status(run).state == "running" and run.progress() is not None


@pytest.fixture(scope="module")
def three_runs(head, batches_dir, tmp_path_factory):
    """Three small trainings launched through `launcher.launch`, watched until they end: every
    state and line of the queue seen on the way."""
    runs_dir = tmp_path_factory.mktemp("ray-runs")
    seen_training: set[str] = set()
    lines: list[list[tuple[str, str, int]]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIFAR_RAY_ADDRESS", head.address)
        patch.setenv("CIFAR10_DIR", str(batches_dir))
        patch.setenv("CIFAR_RUNS_DIR", str(runs_dir))
        runs = [launcher.launch(TINY, name=f"ray-{index}", person=ALONE) for index in range(3)]

        def all_ended() -> bool:
            seen_training.update(run.id for run in runs if _trainer_under_way(run))
            lines.append([(job.run.id, job.state, job.queue_position) for job in launcher.live_jobs()])
            return not any(launcher.status(run).live for run in runs)

        wait_until(all_ended, 400, "the three Ray runs to end")
    _wait_for_ray_to_end(head.address, runs)
    return runs, seen_training, lines, runs_dir


def _wait_for_ray_to_end(address: str, runs: list[Run]) -> None:
    """Until Ray has seen the jobs' processes exit (a moment after their trainers wrote their end)."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    wait_until(lambda: all(client.get_job_status(run.id).is_terminal() for run in runs), 60, "Ray to see the jobs end")


@on_a_cluster
def test_three_launches_train_as_ray_jobs_with_live_progress(three_runs, client, head):
    runs, seen_training, _, _ = three_runs
    listed = {job.submission_id: job.status.value for job in client.list_jobs()}
    assert [listed.get(run.id) for run in runs] == ["SUCCEEDED"] * 3
    for run in runs:
        status = launcher.status(run)
        assert status.state == "finished", status
        assert (status.backend, status.cluster, status.job_id) == ("ray", head.address, run.id)
        assert status.host == socket.gethostname() and status.pid is not None
        assert run.history()["epoch"] == [1, 2] and run.has_model() and run.prediction_epochs() == [1, 2]
    assert seen_training == {run.id for run in runs}  # each seen running, with a batch event


@on_a_cluster
def test_the_third_launch_waits_in_rays_queue_behind_the_two_that_train(three_runs):
    _, _, lines, _ = three_runs
    # 2 CPUs, 1 a training: Ray holds the third until one of the first two ends.
    states = [[state for _, state, _ in line] for line in lines]
    assert ["running", "running", "queued"] in states
    for line in lines:
        queued = [(run_id, position) for run_id, state, position in line if state == "queued"]
        assert [state for _, state, _ in line] == sorted((s for _, s, _ in line), key=lambda s: s != "running")
        assert [position for _, position in queued] == list(range(1, len(queued) + 1))


@on_a_cluster
def test_ray_runs_open_in_the_results_and_runs_pages(three_runs, batches_dir, monkeypatch):

    runs, _, _, runs_dir = three_runs
    monkeypatch.setenv("CIFAR_RUNS_DIR", str(runs_dir))
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    results = app_page("results")
    results.query_params["run"] = runs[0].id
    results.run()
    assert not results.exception
    assert results.metric[0].value == f"{runs[0].history()['val_accuracy'][-1]:.1%}"
    listing = app_page("runs").run()
    assert not listing.exception
    table = listing.dataframe[0].value
    assert sorted(table["run"]) == sorted(run.id for run in runs) and set(table["state"]) == {"finished"}


@on_a_cluster
def test_a_stop_ends_a_ray_run_as_stopped_keeping_its_epochs(on_cluster, client):
    run = launcher.launch(LONG, name="stop-me", person=ALONE)
    wait_until(lambda: run.history().get("epoch"), 240, "a finished epoch")
    assert launcher.stop(run, person=ALONE)
    status = wait_for_end(run)
    assert status.state == "stopped" and status.message.startswith("Stopped on request during epoch"), status
    _wait_for_ray_to_end(on_cluster.address, [run])


def _held_still(run: Run) -> int:
    """SIGSTOP the run's trainer once it trains (it can then neither read its stop file nor
    answer SIGTERM), as a hung training would be; return its pid."""
    wait_until(lambda: _trainer_under_way(run), 240, f"{run.id} to train")
    pid = run.written_status().pid
    os.kill(pid, signal.SIGSTOP)
    return pid


@on_a_cluster
def test_a_job_killed_through_ray_shows_as_failed_in_words(on_cluster, client):
    run = launcher.launch(LONG, name="killed", person=ALONE)
    _held_still(run)
    client.stop_job(run.id)  # as `ray job stop` does: SIGTERM, then SIGKILL 3 s later
    status = wait_for_end(run, 60)
    assert status.state == "failed", status
    assert status.error.startswith(f"Ray stopped job {run.id} before its training ended"), status.error
    assert run.written_status().state == "running"  # the trainer never wrote again: Ray's word decides


@on_a_cluster
def test_the_stop_command_has_ray_end_a_training_that_does_not_stop(on_cluster, client, monkeypatch):
    run = launcher.launch(LONG, name="hung", person=ALONE)
    _held_still(run)
    # A shell without CIFAR_RAY_ADDRESS still reaches the cluster: the run's status names it.
    monkeypatch.delenv("CIFAR_RAY_ADDRESS")
    monkeypatch.setenv("CIFAR_RAY_STOP_GRACE", "2")
    stop = run_cli("stop", run.id)
    assert stop.returncode == 0, stop.stderr
    first, second = stop.stdout.splitlines()
    assert first == f"asked {run.id} to stop after its current batch"
    # Asked, then 2 s of grace, then Ray's SIGTERM and SIGKILL: ended 2 s or more after it was asked.
    ended = re.match(
        rf"{run.id} is stopped: Stopped on request: it was still running (\d+) s after it was asked", second
    )
    assert ended and int(ended.group(1)) >= 2, second
    assert _ray_state(client, run) == "STOPPED" and launcher.status(run).state == "stopped"


@on_a_cluster
def test_reading_a_run_past_its_stop_grace_never_ends_it_the_launchers_next_action_does(
    on_cluster, client, fake_trainer, monkeypatch
):
    monkeypatch.setenv("CIFAR_RAY_STOP_GRACE", "1")
    run = launcher.launch(TINY, name="ignores-stop", person=ALONE)
    wait_until(lambda: launcher.status(run).state == "running", 60, "Ray to start the fake trainer")
    assert launcher.stop(run, person=ALONE)  # returns at once, as a page's Stop does
    asked = run.files.stop.stat().st_mtime
    wait_until(lambda: time.time() - asked > 3, 10, "the grace to pass")
    for _ in range(3):  # reads, past the grace: none acts
        assert launcher.status(run).state == "running" and launcher.live_jobs()[0].run == run
    assert _ray_state(client, run) == "RUNNING"
    launcher.stop(run, person=ALONE)  # Stop pressed again: an action, which ends what is overdue first
    status = wait_for_end(run, 60)
    assert status.state == "stopped" and _ray_state(client, run) == "STOPPED", status


@on_a_cluster
def test_live_jobs_list_ray_runs_training_first_then_in_launch_order(on_cluster, client, fake_trainer):
    runs = [launcher.launch(TINY, name=f"line-{index}", person=ALONE) for index in range(4)]
    wait_until(lambda: sum(_ray_state(client, run) == "RUNNING" for run in runs) == 2, 60, "two to start")
    live = launcher.live_jobs()
    training = {run.id for run in runs if _ray_state(client, run) == "RUNNING"}
    assert [job.state for job in live] == ["running", "running", "queued", "queued"]
    assert {job.run.id for job in live[:2]} == training
    waiting = [run.id for run in runs if run.id not in training]  # launch order
    assert [(job.run.id, job.queue_position) for job in live[2:]] == [(waiting[0], 1), (waiting[1], 2)]
    for job in live[2:]:  # a run Ray has not started ends at once
        launcher.stop(job.run, person=ALONE)
        assert wait_for_end(job.run, 60).message == "Stopped before training began."
    _end_every_job(on_cluster.address)


@on_a_cluster
def test_a_worker_whose_python_lacks_the_packages_fails_saying_so(on_cluster, client, tmp_path, monkeypatch):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    monkeypatch.setattr(ray_backend, "WORKER_PYTHON", str(bare / "bin" / "python"))
    run = launcher.launch(TINY, name="no-packages", person=ALONE)
    status = wait_for_end(run, 120)
    expected = f"This machine's Python ({bare / 'bin' / 'python'}) lacks the project's packages (No module named"
    assert status.state == "failed" and status.error.startswith(expected), status
    assert "activate the project's environment" in status.error and "before `ray start`" in status.error
    _wait_for_ray_to_end(on_cluster.address, [run])
    assert expected in client.get_job_logs(run.id)  # Ray shows it too


@on_a_cluster
@pytest.mark.parametrize(
    ("entrypoint", "state", "words"),
    [
        (
            "echo the data is not on this machine >&2; exit 1",
            "failed",
            "Ray reports that job {job} failed with no word from its training: Job entrypoint command failed with "
            "exit code 1; its last line: the data is not on this machine; the run keeps 1 finished epoch.",
        ),
        ("true", "interrupted", "(Ray reports that job {job} ended well); the run keeps 1 finished epoch."),
        (None, "failed", "has no job {job} (the cluster was restarted, or the job deleted); the run keeps 1"),
    ],
    ids=["failed", "ended-well", "unknown-to-ray"],
)
def test_rays_word_decides_a_run_whose_trainer_wrote_no_end(on_cluster, client, entrypoint, state, words):
    job = f"silent-{state}-{os.getpid()}-{entrypoint is None}"
    if entrypoint:
        client.submit_job(entrypoint=entrypoint, submission_id=job)
        wait_until(lambda: client.get_job_status(job).is_terminal(), 60, "the job to end")
    # Its trainer's last word: running, an hour ago, one epoch done.
    written = RunStatus(
        state="running", backend="ray", cluster=on_cluster.address, job_id=job, pid=1, epoch=1, created_unix=1.0
    )
    shown = ray_backend.RayBackend.for_reading().status(written)
    assert shown.state == state and words.format(job=job) in (shown.error or shown.message), shown


def test_without_the_address_trainings_stay_on_this_machine(monkeypatch):
    monkeypatch.delenv("CIFAR_RAY_ADDRESS", raising=False)
    assert backends.for_new_runs() is backends.LOCAL


@needs_ray
def test_a_launch_that_ray_does_not_answer_fails_in_words_and_is_not_left_queued(monkeypatch, runs_dir):
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("CIFAR_RAY_ADDRESS", address)
    with pytest.raises(RunError) as refused:
        launcher.launch(TINY, name="nowhere", person=ALONE)
    message = str(refused.value)
    assert message.startswith(f"Could not submit the run to Ray: Ray does not answer at {address}")
    assert "ray start --head" in message
    (run,) = list_runs(runs_dir)
    assert launcher.status(run).state == "failed" and launcher.status(run).error == message
    assert launcher.live_jobs() == []


@needs_ray
@pytest.mark.parametrize(
    ("variable", "value"),
    [("CIFAR_RAY_CPUS", "0"), ("CIFAR_RAY_CPUS", "two"), ("CIFAR_RAY_GPUS", "-1"), ("CIFAR_RAY_STOP_GRACE", "nan")],
)
def test_a_bad_ray_setting_is_named_before_any_run_is_made(variable, value, monkeypatch, runs_dir):
    monkeypatch.setenv("CIFAR_RAY_ADDRESS", "http://127.0.0.1:8265")
    monkeypatch.setenv(variable, value)
    with pytest.raises(RunError, match=f"^{variable}='{value}' is not valid: it is .*Set it so, or unset it"):
        launcher.launch(TINY, person=ALONE)
    assert list_runs(runs_dir) == []


def test_without_ray_installed_a_launch_says_how_to_install_it(monkeypatch, runs_dir):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as where it is not installed
    monkeypatch.setenv("CIFAR_RAY_ADDRESS", "http://127.0.0.1:8265")
    with pytest.raises(RunError, match=r"^Ray is not installed in this Python .*requirements-cluster\.txt"):
        launcher.launch(TINY, person=ALONE)
    assert list_runs(runs_dir) == []


@needs_ray
def test_a_cluster_that_cannot_be_asked_leaves_a_run_as_its_trainer_wrote(monkeypatch):
    written = RunStatus(
        state="running", backend="ray", cluster=f"http://127.0.0.1:{free_port()}", job_id="a-run", pid=1, host="w2"
    )
    shown = ray_backend.RayBackend.for_reading().status(written)
    assert shown.state == "running" and "Ray cannot be asked now. Ray does not answer at" in shown.message


def test_a_submission_runs_the_trainer_with_the_project_and_asks_for_gpus_only_when_set(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIFAR10_DIR", "data/cifar")  # relative: a job starts in Ray's own folder
    run_dir = tmp_path / "runs" / "a-run"
    asked = ray_backend.RayBackend("http://head:8265/", cpus=2).submission(run_dir)
    assert asked["entrypoint"] == f"python -m cifar.training {run_dir}" and asked["submission_id"] == "a-run"
    assert asked["entrypoint_num_cpus"] == 2 and "entrypoint_num_gpus" not in asked
    env = asked["runtime_env"]["env_vars"]
    assert env["PYTHONPATH"] == str(ROOT) and env["CIFAR10_DIR"] == str(tmp_path / "data" / "cifar")
    assert ray_backend.RayBackend("http://head:8265", gpus=0.5).submission(run_dir)["entrypoint_num_gpus"] == 0.5


def test_a_pid_of_another_machine_is_not_judged_here():
    elsewhere = RunStatus(state="running", pid=2**22 + 1, host=socket.gethostname() + "-elsewhere")
    assert backends.LOCAL.status(elsewhere).state == "running"
    assert backends.LOCAL.status(elsewhere.replace(host=socket.gethostname())).state == "interrupted"


@on_a_cluster
def test_the_launch_command_sends_a_training_to_ray_and_returns(on_cluster, client, runs_dir):
    from helpers import TINY_FLAGS

    launched = run_cli("launch", *TINY_FLAGS, "--epochs", "1", "--who", "ann", "--runs-dir", str(runs_dir))
    assert launched.returncode == 0, launched.stderr
    run_id, where = launched.stdout.splitlines()[:2]
    assert where.startswith(f"launched on the cluster at {on_cluster.address}") or where.startswith(
        f"queued on the cluster at {on_cluster.address}"
    )
    run = Run(runs_dir / run_id)
    assert run.written_status().who == "ann" and run.written_status().job_id == run_id
    assert wait_for_end(run, 300).state == "finished"
    wait_until(lambda: client.get_job_status(run_id).value == "SUCCEEDED", 60, "Ray to see the job end")
