"""How scripts/test.sh's two workers share the suite (pytest-xdist, `--dist loadfile`).

A worker takes a whole file at a time, so a file's shared fixtures are made once. The files
that drive Chromium with many pages at once (a class signing in, ten sessions, six people on a
link) each keep both cores busy: two of them side by side took 741 s and 718 s where each
takes under 300 s alone. So they are one unit, run one after the other on one worker, and they
go first, beside the other worker's files without slow tests (one core each: AppTest, small
networks). The other slow files come last, when the unit is done.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadFileScheduling

# Files whose tests open many browser pages at once; one unit, on one worker.
CLASS_SIZED = ("tests/test_browser_signin.py", "tests/test_classroom.py", "tests/test_browser_experiment.py")
CLASS_SIZED_UNIT = "the class-sized browser tests"


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def unit_of(nodeid: str) -> str:
    """The unit a worker takes whole: the test's file, or the class-sized unit."""
    file = file_of(nodeid)
    return CLASS_SIZED_UNIT if file in CLASS_SIZED else file


class ClassSizedApart(LoadFileScheduling):
    """Whole files to a worker, the class-sized browser files as one unit, in the order the
    tests were collected (scripts/test.sh passes `--no-loadscope-reorder`)."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's, unknown when it is left out (-p no:xdist)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` as above; any other choice as pytest-xdist makes it."""
    if config.getoption("dist") == "loadfile":
        return ClassSizedApart(config, log)
    return None


def run_order(items: list, slow: set[str]) -> list:
    """`items` in the order the workers take them: the class-sized unit, then the files with no
    slow test, then the other files with slow tests (`slow`); each file's tests in their order."""

    def lane(item) -> int:
        file = file_of(item.nodeid)
        return 0 if file in CLASS_SIZED else 2 if file in slow else 1

    return sorted(items, key=lane)  # stable


def pytest_collection_modifyitems(config, items):
    slow = {file_of(item.nodeid) for item in items if item.get_closest_marker("slow")}
    items[:] = run_order(items, slow)
