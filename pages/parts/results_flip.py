"""Results' trial of a test-time flip on a run trained without one: what it would have scored."""

from __future__ import annotations

import time

import streamlit as st

from cifar.network.build import flip_accuracies
from cifar.runs.run import Run
from pages.shared.common import dataset, model_of, test_images


def try_flip(run: Run) -> None:
    """A button that tests the run's last model on the test set with and without the flip."""
    key = f"flip:{run.id}:{run.files.model.stat().st_mtime_ns if run.has_model() else 0}"
    with st.expander("Would a test-time flip help this run?"):
        st.caption(
            "Tests each test image as it is and mirrored left to right, and averages the two answers. "
            "A run trained with *Test-time flip* on does this at every epoch."
        )
        if key not in st.session_state and st.button("Test with the flip", key="try_flip"):
            model = model_of(run)
            images = test_images(run, dataset())
            if model is None or images is None:
                return
            with st.spinner(f"Testing {len(images):,} images twice…"):
                start = time.monotonic()
                plain, flipped = flip_accuracies(model, images, run.labels())
            st.session_state[key] = (plain, flipped, time.monotonic() - start)
        if key in st.session_state:
            plain, flipped, seconds = st.session_state[key]
            st.markdown(
                f"As tested: **{plain:.1%}**; with the flip: **{flipped:.1%}** "
                f"({(flipped - plain) * 100:+.1f} points), for {seconds:.1f} s of testing."
            )
