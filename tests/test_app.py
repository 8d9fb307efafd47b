"""The dashboard's pages, each run alone with Streamlit's AppTest."""

from __future__ import annotations

import shutil

from helpers import ROOT
from streamlit.testing.v1 import AppTest


def test_runs_page_with_no_runs_says_what_to_do():
    at = AppTest.from_file(str(ROOT / "pages" / "runs.py"), default_timeout=60).run()
    assert not at.exception
    assert any("No runs yet" in info.value for info in at.info)
    assert "python -m cifar train" in at.code[0].value


def test_runs_page_lists_a_finished_run(finished_run, runs_dir):
    _, run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    at = AppTest.from_file(str(ROOT / "pages" / "runs.py"), default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["id"].tolist() == [run.id] and table["state"].tolist() == ["finished"]


def test_entry_script_routes_without_error():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
