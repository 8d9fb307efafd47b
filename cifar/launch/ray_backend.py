"""Trainings on a Ray cluster (CIFAR_RAY_ADDRESS, its dashboard: http://HEAD:8265): `RayBackend`
submits each launch as a job named by the run id, running the trainer (`python -m
cifar.training RUN_DIR`) where Ray has the CPUs (and GPUs) asked for. The runs are on storage
every machine sees; the trainer's status says how a run stands, and Ray the rest
(`RayBackend.status`). Ray is imported only when a cluster is asked, so the app runs without it."""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import re
import shlex
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cifar.errors import RunError
from cifar.launch.backend import Job, jobs_in_order
from cifar.runs.layout import RunFiles
from cifar.runs.liveness import START_GRACE_SECONDS
from cifar.runs.progress import epochs_kept
from cifar.runs.run import Run
from cifar.runs.status import RunStatus, read_status
from cifar.training.process import PROJECT_ROOT, trainer_command

WORKER_PYTHON = "python"  # each worker's own, from its PATH: the project's environment, active before `ray start`
PASSED_VARIABLES = ("CIFAR10_DIR", "CIFAR_CACHE_DIR", "CIFAR_RUNS_DIR")  # made absolute: a job starts in Ray's folder
ASK_SECONDS = 5.0  # the longest a reader waits for Ray: a cluster that went away never hangs a page
ACT_SECONDS = 60.0  # the longest a submission or stop waits: a new head's first submission takes seconds
ANSWER_SECONDS = 2.0  # a live job's answer is reused this long: pages ask every second or two, in many tabs
RETRY_SECONDS = 10.0  # a cluster that did not answer is not asked again for this long
RAY_LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d |Running entrypoint for job ")  # Ray's own, amid the trainer's output
NO_RAY = "Ray is not installed in this Python ({python}): install it (`scripts/setup.sh requirements-cluster.txt`,"
NO_RAY += " or pip install -r requirements-cluster.txt), or unset CIFAR_RAY_ADDRESS to train on this machine."


@dataclass(frozen=True)
class Setting:
    """A number that an environment variable sets, with its default and what it means."""

    variable: str
    default: float
    allows_zero: bool
    meaning: str  # what it is and what it allows, in words

    def value(self) -> float:
        """The variable's number, else the default.

        Raises:
            RunError: the variable is set to something that is not allowed; the message says what is.
        """
        text = os.environ.get(self.variable, "").strip()
        try:
            value = float(text) if text else self.default
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not self.allows_zero):
            raise RunError(
                f"{self.variable}={text!r} is not valid: it is {self.meaning}. Set it so, or unset it for "
                f"{self.default:g}."
            )
        return value

    def value_or_default(self) -> float:
        """The value for a reader, which must not fail: a bad value was named at launch."""
        with contextlib.suppress(RunError):
            return self.value()
        return self.default


CPUS = Setting("CIFAR_RAY_CPUS", 1.0, False, "the CPUs Ray reserves for each training, a number above 0 such as 1 or 2")
GPUS = Setting("CIFAR_RAY_GPUS", 0.0, True, "the GPUs Ray reserves for each training, 0 or more (0.5 shares one)")
STOP_GRACE = Setting(
    "CIFAR_RAY_STOP_GRACE", 30.0, True, "the seconds a stopped training has before Ray ends it, 0 or more"
)


@dataclass(frozen=True)
class JobAnswer:
    """What Ray says of one job."""

    state: str  # Ray's: PENDING, RUNNING, STOPPED, SUCCEEDED or FAILED; MISSING when Ray has no such job
    message: str  # Ray's message, in words
    run_dir: str | None = None  # the run folder it trains, as submitted
    ended_unix: float | None = None  # when the job ended, in seconds since the epoch; None while it runs


# Shared by the threads of a Streamlit server; each is read and written whole, under the GIL.
_clients: dict[str, Any] = {}
_answers: dict[tuple[str, str], tuple[float, JobAnswer]] = {}
_silent: dict[str, tuple[float, str]] = {}  # address: when it last failed to answer, and why
_ended_by_us: set[tuple[str, str]] = set()


def _within(call: Callable[[], Any], seconds: float) -> Any:
    """`call()` in a daemon thread: a host that never answers costs `seconds`, not TCP's minutes."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as error:  # handed to the caller, which says it in words
            box["error"] = error

    (thread := threading.Thread(target=target, daemon=True)).start()
    thread.join(seconds)
    if thread.is_alive() or "error" in box:
        raise box.get("error") or TimeoutError(f"no answer within {seconds:g} s")
    return box["value"]


def _client(address: str):
    if address not in _clients:
        try:
            from ray.job_submission import JobSubmissionClient
        except ImportError as error:
            raise RunError(NO_RAY.format(python=sys.executable)) from error
        _clients[address] = JobSubmissionClient(address)  # asks for the dashboard's version: fails if none answers
    return _clients[address]


def _last_line(error: BaseException) -> str:  # Ray's refusals carry the server's traceback: its last line says why
    return ([line.strip() for line in str(error).splitlines() if line.strip(" .")] or [type(error).__name__])[-1]


def _call_ray(address: str, act: Callable[[Any], Any], seconds: float = ASK_SECONDS) -> Any:
    """`act(client)` for the cluster at `address`, within `seconds`; RunError in words when it cannot answer."""
    silent = _silent.get(address)
    if silent and time.monotonic() - silent[0] < RETRY_SECONDS:
        raise RunError(silent[1])
    try:
        return _within(lambda: act(_client(address)), seconds)
    except RunError:
        raise
    except (OSError, TimeoutError) as error:  # requests' connection errors are OSErrors too
        message = f"Ray does not answer at {address} ({_last_line(error)}): check that CIFAR_RAY_ADDRESS is the head's"
        message += " dashboard (http://HEAD:8265, not the :6379 workers join) and that `ray start --head` runs there."
        _silent[address] = (time.monotonic(), message)
        raise RunError(message) from error
    except Exception as error:  # Ray answered, and refused
        raise RunError(f"Ray at {address} refused: {_last_line(error)}") from error


def _job_info(client, job_id: str) -> JobAnswer:
    try:
        info = client.get_job_info(job_id)
    except RuntimeError as error:
        if "status code 404" in str(error):
            return JobAnswer("MISSING", f"Ray has no job {job_id}")
        raise
    ended = info.end_time / 1000 if info.end_time else None  # Ray keeps milliseconds
    return JobAnswer(str(info.status.value), info.message or "", (info.metadata or {}).get("run_dir"), ended)


def _job_answer(address: str, job_id: str) -> JobAnswer:
    """What Ray says of a job: an ended job's answer is kept, a live one's for ANSWER_SECONDS; RunError if none."""
    hit = _answers.get((address, job_id))  # an ended job's answer is final
    if hit and (hit[1].state in ("STOPPED", "SUCCEEDED", "FAILED") or time.monotonic() - hit[0] < ANSWER_SECONDS):
        return hit[1]
    answer = _call_ray(address, lambda client: _job_info(client, job_id))
    _answers[address, job_id] = (time.monotonic(), answer)
    return answer


def _end_job(address: str, job_id: str) -> None:
    """Have Ray end a job, once (SIGTERM, SIGKILL 3 s later); RunError when Ray cannot be asked."""
    if (address, job_id) not in _ended_by_us:
        _call_ray(address, lambda client: client.stop_job(job_id), ACT_SECONDS)
        _ended_by_us.add((address, job_id))
        _answers.pop((address, job_id), None)


def _stop_asked(answer: JobAnswer) -> float | None:  # when the run's stop file was written, if it was
    try:
        return RunFiles(Path(answer.run_dir)).stop.stat().st_mtime if answer.run_dir else None
    except OSError:
        return None


def _ray_words(answer: JobAnswer) -> str:
    """Ray's failure message without the logs it appends, but with their last line (not one of Ray's own)."""
    summary, _, logs = answer.message.partition(", last available logs")
    lines = [line.strip() for line in logs.splitlines()[1:] if line.strip() and not RAY_LOG_LINE.match(line)]
    return summary.strip().rstrip(".") + (f"; its last line: {lines[-1]}" if lines else "")


def _ended_by_ray(status: RunStatus, answer: JobAnswer) -> RunStatus:
    """A run whose trainer still says it is live, in a job that Ray says has ended."""
    job, kept = status.job_id, epochs_kept(status.epoch)
    asked = _stop_asked(answer)
    if answer.state == "STOPPED" and asked is not None:
        if status.pid is None:
            return status.replace(state="stopped", message="Stopped before training began.")
        waited = (answer.ended_unix or time.time()) - asked
        message = f"Stopped on request: it was still running {waited:.0f} s after it was asked, so Ray ended its job"
        return status.replace(state="stopped", message=f"{message}; {kept}.")
    if answer.state == "STOPPED":
        error = f"Ray stopped job {job} before its training ended (`ray job stop`, or the cluster ended it); {kept}."
    elif answer.state == "FAILED":
        error = f"Ray reports that job {job} failed with no word from its training: {_ray_words(answer)}; {kept}."
    elif answer.state == "MISSING":
        if time.time() - status.created_unix < START_GRACE_SECONDS:
            return status  # being submitted now
        error = f"Ray at {status.cluster} has no job {job} (the cluster was restarted, or the job deleted); {kept}."
    else:  # SUCCEEDED, yet the trainer never wrote its end
        message = f"The training process ended without saying how (Ray reports that job {job} ended well); {kept}."
        return status.replace(state="interrupted", message=message)
    return status.replace(state="failed", error=error)


def cluster_status(status: RunStatus) -> RunStatus:
    """How a live run on a Ray cluster stands: its trainer's status, and Ray's word where the trainer has none.

    Not started by Ray: queued (stopped, once asked to). Running: running, as its trainer wrote.
    Ended by Ray while its trainer says live: stopped (if asked), failed in Ray's words, or
    interrupted. Ray not answering: as written, its message saying why. Reading never acts:
    a job past its stop grace is ended by `RayBackend.end_overdue`, the launcher's action."""
    if not status.cluster or not status.job_id:  # being submitted, unless its launcher died first
        if time.time() - status.created_unix < START_GRACE_SECONDS:
            return status
        return status.replace(state="interrupted", message="The launcher ended before it submitted the run to Ray.")
    try:
        answer = _job_answer(status.cluster, status.job_id)
    except RunError as error:
        return status.replace(message=f"Shown as its training last wrote: Ray cannot be asked now. {error}")
    if answer.state == "PENDING":  # Ray ends a job it has not started once it has room for it
        if _stop_asked(answer) is not None:
            return status.replace(state="stopped", message="Stopped before training began.")
        return status.replace(state="queued")
    if answer.state == "RUNNING":
        return status.replace(state="running")
    latest = read_status(RunFiles(Path(answer.run_dir)).status) if answer.run_dir else None
    if latest is not None and latest.job_id == status.job_id and not latest.live:
        return latest  # the trainer wrote its end after this status was read
    return _ended_by_ray(status, answer)


class RayBackend:
    """Trainings as jobs of the Ray cluster whose dashboard is at `address` (http://HEAD:8265)."""

    name = "ray"
    waits_in_local_queue = False  # Ray queues and places its jobs

    def __init__(self, address: str, cpus: float = CPUS.default, gpus: float = GPUS.default) -> None:
        self.address, self.cpus, self.gpus = address.strip().rstrip("/"), cpus, gpus

    @classmethod
    def configured(cls) -> RayBackend | None:
        """The backend CIFAR_RAY_ADDRESS, CIFAR_RAY_CPUS and CIFAR_RAY_GPUS describe; None when
        CIFAR_RAY_ADDRESS is not set (trainings stay on this machine).

        Raises:
            RunError: Ray is not installed, or a setting is bad (the message says which and why).
        """
        address = os.environ.get("CIFAR_RAY_ADDRESS", "").strip()
        if not address:
            return None
        if importlib.util.find_spec("ray") is None:
            raise RunError(NO_RAY.format(python=sys.executable))
        STOP_GRACE.value()  # a bad value is named at launch, not when a stop needs it
        return cls(address, CPUS.value(), GPUS.value())

    @classmethod
    def for_reading(cls) -> RayBackend:
        """The backend that reads, stops and lists runs already on a cluster: each run's status
        names its cluster, so no setting is needed and none can be wrong."""
        return cls("")

    def placement(self, run_id: str) -> dict[str, str]:
        """The cluster and the job's id, in the status before the job exists: its trainer writes next."""
        return {"cluster": self.address, "job_id": run_id}

    def submission(self, run_dir: Path) -> dict[str, Any]:
        """The arguments of `submit_job` for the prepared run in `run_dir`."""
        env = {"PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        env |= {name: str(Path(os.environ[name]).absolute()) for name in PASSED_VARIABLES if os.environ.get(name)}
        command = trainer_command(run_dir, self.waits_in_local_queue, python=WORKER_PYTHON)
        return {
            "entrypoint": shlex.join(command),
            "submission_id": run_dir.name,
            "entrypoint_num_cpus": self.cpus,
            **({"entrypoint_num_gpus": self.gpus} if self.gpus > 0 else {}),  # passed only when asked
            "runtime_env": {"env_vars": env},
            "metadata": {"run_dir": str(run_dir)},
        }

    def start(self, run_dir: Path) -> None:
        """Submit the prepared run as a Ray job named by its id; Ray starts it when it has room.

        Raises:
            RunError: Ray cannot be reached or refused the job.
        """
        try:
            _call_ray(self.address, lambda client: client.submit_job(**self.submission(run_dir)), ACT_SECONDS)
        except RunError as error:
            raise RunError(f"Could not submit the run to Ray: {error}") from error

    def stop(self, run: Run) -> None:
        """Ask the run to stop after its current batch (its stop file); past the grace, `end_overdue` ends its job."""
        run.files.stop.touch()

    def stop_grace(self) -> float:
        """CIFAR_RAY_STOP_GRACE.

        Raises:
            RunError: CIFAR_RAY_STOP_GRACE is not a number of seconds.
        """
        return STOP_GRACE.value()

    def end_overdue(self, run: Run) -> str | None:
        """Have Ray end the run's job when its stop was asked CIFAR_RAY_STOP_GRACE seconds ago
        and the job still runs; RunError when Ray cannot be asked."""
        status = run.written_status()
        try:
            asked = run.files.stop.stat().st_mtime
        except OSError:
            return None  # no stop asked
        if not status.cluster or not status.job_id or time.time() - asked < STOP_GRACE.value_or_default():
            return None
        if _job_answer(status.cluster, status.job_id).state != "RUNNING":
            return None
        _end_job(status.cluster, status.job_id)
        waited = time.time() - asked
        return f"{run.id} was still running {waited:.0f} s after it was asked to stop, so Ray was asked to end it."

    def status(self, written: RunStatus) -> RunStatus:
        return cluster_status(written)

    def live_jobs(self, live: Sequence[tuple[Run, RunStatus]]) -> list[Job]:
        """Training first, then those Ray has not started, in launch order."""
        waiting = sorted((pair for pair in live if pair[1].state == "queued"), key=lambda pair: pair[1].queue_key)
        return jobs_in_order(live, [run for run, _ in waiting])
