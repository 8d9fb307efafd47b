"""The local backend under a class's burst: many sessions' threads start and reap at once."""

from __future__ import annotations

import subprocess
import sys
import threading

from cifar.launch.local_backend import LocalBackend

THREADS, ROUNDS, CHILDREN = 8, 200, 200


def test_reaping_from_many_threads_at_once_loses_nothing_and_raises_nothing():
    """Streamlit serves each session on its own thread; thirty people pressing Launch reap the
    same finished children together. Switching threads as often as Python allows makes the
    interleaving that once raised `list.remove(x): x not in list` likely in every round."""
    finished = [subprocess.Popen([sys.executable, "-c", "pass"]) for _ in range(CHILDREN)]
    for child in finished:
        child.wait()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    errors: list[BaseException] = []
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(ROUNDS):
            backend = LocalBackend()
            backend._children.extend([*finished, running])
            barrier = threading.Barrier(THREADS)

            def reap(backend=backend, barrier=barrier) -> None:
                barrier.wait()
                try:
                    backend.reap()
                except BaseException as error:
                    errors.append(error)

            threads = [threading.Thread(target=reap) for _ in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert backend._children == [running]  # the finished ones gone, the live one kept
    finally:
        sys.setswitchinterval(previous)
        running.kill()
        running.wait()
    assert not errors, f"{len(errors)} of {THREADS * ROUNDS} reaps raised, first: {errors[0]!r}"
