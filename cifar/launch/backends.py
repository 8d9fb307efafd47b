"""Which backend new runs go to, and which one started a run: the one place that maps a
backend's name, as a run's status records it, to the backend."""

from __future__ import annotations

from collections.abc import Callable

from cifar.launch.backend import Backend
from cifar.launch.local_backend import LocalBackend
from cifar.launch.ray_backend import RayBackend
from cifar.runs.status import RunStatus

LOCAL = LocalBackend()  # one per process: it reaps the training processes it started
# Each backend by the name a run's status records: a new backend is one entry here.
BY_NAME: dict[str, Callable[[], Backend]] = {
    LocalBackend.name: lambda: LOCAL,
    RayBackend.name: RayBackend.for_reading,
}


def for_new_runs() -> Backend:
    """The backend new trainings go to: a Ray cluster where one is configured, else this machine.

    Raises:
        RunError: a cluster is configured, and Ray is not installed or one of its settings is bad.
    """
    return RayBackend.configured() or LOCAL


def backend_of(status: RunStatus) -> Backend | None:
    """The backend that started the run whose status this is, wherever new runs go now.

    Returns:
        The backend its status names, or None for a name this version does not know.
    """
    make = BY_NAME.get(status.backend)
    return make() if make else None
