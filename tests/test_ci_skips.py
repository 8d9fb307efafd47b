"""CI cannot go green by skipping (tests/ci_skips.py): with CI=true a skip for something missing
fails, saying what, unless tests/allowed_skips.txt names it; a missing browser or real data set
fails CI's run. Each case runs pytest in a process of its own, on test files of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ci_skips
import pytest
from helpers import ROOT

TESTS = ROOT / "tests"
SKIPPING = """
import pytest

def test_needs_a_widget():
    pytest.skip("no widget on this machine")

@pytest.mark.skipif(True, reason="no gadget either")
def test_needs_a_gadget():
    pass

@pytest.mark.xfail(reason="a known fault", strict=True)
def test_known_fault():
    assert False

def test_runs():
    pass
"""
SKIPPED_MODULE = """
import pytest
pytest.skip("no doohickey at all", allow_module_level=True)

def test_never_collected():
    pass
"""


def _pytest(folder: Path, ci: str | None, *args: str, allowed: Path | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "CIFAR_ALLOWED_SKIPS")}
    if allowed is not None:
        env["CIFAR_ALLOWED_SKIPS"] = str(allowed)
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT)])
    command = [sys.executable, "-m", "pytest", "-p", "ci_skips", "-q", "-rA", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        [*command, "--rootdir", str(folder), "-c", os.devnull, str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(name="suite")
def suite_fixture(tmp_path) -> Path:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    return tmp_path


def test_outside_ci_a_skip_is_a_skip(suite):
    for ci in (None, "false", ""):
        done = _pytest(suite, ci)
        assert done.returncode == 0, done.stdout
        assert "2 skipped" in done.stdout and "1 passed" in done.stdout and "1 xfailed" in done.stdout


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_in_ci_a_skip_fails_and_says_what_was_missing(suite, ci):
    done = _pytest(suite, ci)
    assert done.returncode == 1, done.stdout
    # A skip in the test fails its call; a skipif mark, its setup (pytest counts that an error).
    assert "1 failed" in done.stdout and "1 error" in done.stdout and "1 passed" in done.stdout
    assert "1 xfailed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1]
    assert "CI=true: this would have been skipped (no widget on this machine)" in done.stdout
    assert "CI=true: this would have been skipped (no gadget either)" in done.stdout


def test_in_ci_a_module_that_skips_as_it_is_imported_fails(tmp_path):
    (tmp_path / "test_module.py").write_text(SKIPPED_MODULE)
    assert "1 skipped" in _pytest(tmp_path, None).stdout
    done = _pytest(tmp_path, "true")
    assert done.returncode != 0 and "no doohickey at all" in done.stdout, done.stdout


def test_a_skip_the_list_names_with_a_reason_passes_in_ci(suite, monkeypatch, tmp_path):
    allowed = tmp_path / "allowed.txt"
    allowed.write_text("# comment\nno widget | this machine has no widget, by design\nno gadget |\n")
    assert ci_skips.allowed_skips(allowed) == {"no widget": "this machine has no widget, by design"}
    monkeypatch.setattr(ci_skips, "ALLOWED_SKIPS", allowed)
    assert ci_skips.allowed_skips() == {"no widget": "this machine has no widget, by design"}
    assert ci_skips.allowed_skips(tmp_path / "none.txt") == {}
    done = _pytest(suite, "true", allowed=allowed)
    assert done.returncode == 1 and "1 skipped" in done.stdout and "1 error" in done.stdout, done.stdout
    assert "no gadget either" in done.stdout  # the line without a reason allows nothing
    # The repo's own list: every line names a reason.
    for text, why in ci_skips.allowed_skips(ci_skips.ALLOWED_SKIPS).items():
        assert text and why


def test_the_suite_itself_fails_in_ci_without_the_browser_or_with_empty_real_data(tmp_path):
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(ROOT), "CIFAR_TEST_BROWSER": str(tmp_path / "nowhere")}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="]
    browser = subprocess.run(
        [*command, "tests/test_browser.py::test_walk_through_the_product"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert browser.returncode == 1, browser.stdout[-2000:]
    assert f"no Chromium at {tmp_path / 'nowhere'}" in browser.stdout and "CI=true" in browser.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    data = subprocess.run(
        [*command, "tests/test_data.py::test_real_data_counts_and_cache_speed"],
        cwd=ROOT,
        env={**env, "CIFAR10_DIR": str(empty)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert data.returncode == 1 and f"CIFAR10_DIR={empty} holds no CIFAR-10" in data.stdout, data.stdout[-2000:]


def test_ci_s_script_fails_saying_why_when_the_browser_is_nowhere(tmp_path):
    nowhere = tmp_path / "nowhere"
    done = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run")],
        env={**os.environ, "CIFAR_TEST_BROWSER": str(nowhere)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and f"no browser at {nowhere}" in done.stderr, done.stderr
