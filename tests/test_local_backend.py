"""This machine's backend: the training processes it starts are kept track of, from many
threads at once, until they end and are reaped."""

from __future__ import annotations

import sys
import threading

from cifar.launch.local_backend import LocalBackend

THREADS, ROUNDS, CHILDREN = 8, 60, 150


class Child:
    """A started process as the backend sees one: running until told it has ended."""

    def __init__(self, ended: bool = False) -> None:
        self.ended = ended

    def poll(self) -> int | None:
        return 0 if self.ended else None


def test_children_started_while_others_are_reaped_are_all_kept_track_of():
    """Streamlit serves each session on a thread of its own: a class pressing Launch at once
    starts children and reaps finished ones together. Switching threads as often as Python
    allows makes the interleavings likely in every round: a child appended while another
    thread rebuilds the list would be lost, never to be reaped."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    lost = []
    try:
        for _ in range(ROUNDS):
            backend = LocalBackend()
            backend._children.extend(Child(ended=True) for _ in range(CHILDREN))  # to be reaped meanwhile
            started = [[Child() for _ in range(CHILDREN // THREADS)] for _ in range(THREADS)]
            barrier = threading.Barrier(2 * THREADS)

            def start(children=None, backend=backend, barrier=barrier) -> None:
                barrier.wait()
                for child in children:
                    backend._track(child)

            def reap(backend=backend, barrier=barrier) -> None:
                barrier.wait()
                for _ in range(CHILDREN // THREADS):
                    backend.reap()

            threads = [threading.Thread(target=start, kwargs={"children": mine}) for mine in started]
            threads += [threading.Thread(target=reap) for _ in range(THREADS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            backend.reap()
            kept = {id(child) for child in backend._children}
            lost += [child for mine in started for child in mine if id(child) not in kept]
            assert all(not child.ended for child in backend._children)  # every ended one was reaped
    finally:
        sys.setswitchinterval(previous)
    assert not lost, f"{len(lost)} of {ROUNDS * CHILDREN} running children were lost track of"
