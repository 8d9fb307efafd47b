"""How scripts/test.sh's two workers share the suite (pytest-xdist, `--dist loadfile`).

A worker takes a whole file at a time, so a file's shared fixtures are made once. The files
that drive Chromium with many pages at once (a class signing in, ten sessions, six people on a
link) each keep both cores busy: two of them side by side took 741 s and 718 s where each
takes under 300 s alone, and left the suite slower than one worker. They are one unit here,
run one after the other on one worker, beside the other worker's one-core tests; and they go
first, with the other slow files after them, so that nothing long is left to the end.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadFileScheduling

# Files whose tests open many browser pages at once; one unit, on one worker.
CLASS_SIZED = ("tests/test_browser_signin.py", "tests/test_classroom.py", "tests/test_browser_experiment.py")
CLASS_SIZED_UNIT = "the class-sized browser tests"


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class ClassSizedApart(LoadFileScheduling):
    """Whole files to a worker, the class-sized browser files as one unit, in the order the
    tests were collected (scripts/test.sh passes `--no-loadscope-reorder`)."""

    def _split_scope(self, nodeid: str) -> str:
        file = _file(nodeid)
        return CLASS_SIZED_UNIT if file in CLASS_SIZED else file


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` as above; any other choice as pytest-xdist makes it."""
    if config.getoption("dist") == "loadfile":
        return ClassSizedApart(config, log)
    return None


def pytest_collection_modifyitems(config, items):
    """The class-sized browser files first, then the other files with slow tests, then the
    rest; each file's tests keep their order."""
    slow = {_file(item.nodeid) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (_file(item.nodeid) not in CLASS_SIZED, _file(item.nodeid) not in slow))


@pytest.fixture(scope="session", autouse=True)
def _lanes_name_real_files(request):
    """A file named in CLASS_SIZED that is renamed or removed would silently leave its lane."""
    missing = [name for name in CLASS_SIZED if not (request.config.rootpath / name).exists()]
    assert not missing, f"tests/xdist_lanes.py names test files that are not there: {missing}"
