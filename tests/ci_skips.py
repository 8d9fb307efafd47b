"""With CI=true, a skip is a failure unless tests/allowed_skips.txt names it with a reason.

A test skips when what it needs is missing: a browser, the real data, a Ray cluster. On a
developer's machine that is a skip with its reason; in CI it would let a broken install step
turn a third of the suite into skips while the run stays green, so there it fails, saying what
is missing. conftest.py imports the two hooks; `pytest -p ci_skips` loads them on their own
(tests/test_ci_skips.py does, on test files of its own).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ALLOWED_SKIPS = Path(__file__).resolve().parent / "allowed_skips.txt"
CI_VALUES = {"1", "true", "yes"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def allowed_skips(path: Path | None = None) -> dict[str, str]:
    """What a skip's reason may contain to be allowed in CI → why: the file's `text | why` lines."""
    path = path or Path(os.environ.get("CIFAR_ALLOWED_SKIPS") or ALLOWED_SKIPS)  # the variable: for its own test
    allowed = {}
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        if line.strip() and not line.lstrip().startswith("#"):
            text, _, why = line.partition("|")
            if text.strip() and why.strip():
                allowed[text.strip()] = why.strip()
    return allowed


def skip_reason(report) -> str:
    """The reason a skipped report gives (pytest keeps it as (path, line, "Skipped: reason"))."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _fail_unless_allowed(report) -> None:
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = skip_reason(report)
    if any(text in reason for text in allowed_skips()):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"CI=true: this would have been skipped ({reason}). In CI every suite runs: provide what is "
        f"missing, or, where a skip is right on CI's machine, name it in {ALLOWED_SKIPS.name} with the reason."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_unless_allowed(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # A module that skips as it is imported (browser_fixtures without a browser) skips here.
    outcome = yield
    _fail_unless_allowed(outcome.get_result())
