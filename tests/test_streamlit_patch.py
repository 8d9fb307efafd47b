"""streamlit_app.py turns off a private Streamlit function: these tests fail when an upgrade
renames it, stops calling it, or the app's patch stops reaching it."""

from __future__ import annotations

import importlib.util
import runpy

from helpers import ROOT
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest


def _script_importing_keras() -> None:
    import keras  # noqa: F401 (Streamlit clears Keras' session only once Keras is imported)
    import streamlit as st

    st.write("ran")


def _pristine_clean_problem_modules():
    """Streamlit's own function, from a fresh copy of its module (the app may have patched it)."""
    spec = importlib.util.spec_from_file_location("pristine_script_runner", script_runner.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._clean_problem_modules


def test_streamlit_clears_keras_after_every_run_and_the_app_stops_it(monkeypatch):
    import keras

    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: cleared.append(1))
    monkeypatch.setattr(script_runner, "_clean_problem_modules", _pristine_clean_problem_modules())
    app = AppTest.from_function(_script_importing_keras, default_timeout=60).run()
    assert not app.exception and cleared, (
        "Streamlit no longer clears Keras' session after a run: the patch in streamlit_app.py can go"
    )

    cleared.clear()
    runpy.run_path(str(ROOT / "streamlit_app.py"), run_name="patch_only")  # the module's top level, not run()
    app.run()
    app.run()
    assert not app.exception
    assert not cleared, "streamlit_app.py's patch no longer reaches what Streamlit calls after each run"
