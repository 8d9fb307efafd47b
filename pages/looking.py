"""What the pages share for looking inside a network: the opened network, cached and bounded,
the "where it looked" toggle, and links that open an image on the Inside page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from cifar.errors import CifarError
from cifar.explain import Inspector, looked, open_epoch, stamp
from cifar.runs import Run

INSIDE_PAGE = "pages/inside.py"
IMAGE_PARAM = "image"  # a test image's index, in the Inside page's address


@st.cache_resource(max_entries=4, show_spinner="Opening the network…")
def _inspector(run_path: str, epoch: int, written_ns: int) -> Inspector:
    # At most four networks in memory for every session together; keyed on when the epoch's
    # file was written, so a file written again is opened again.
    return Inspector(open_epoch(Run(Path(run_path)), epoch))


def inspector_of(run: Run, epoch: int | None = None) -> Inspector | None:
    """The run's network after `epoch` (default: its last), ready to look inside; None after
    saying in words why it cannot be opened."""
    try:
        epochs = run.inside_epochs()
        if not epochs:
            st.info(f"Run **{run.id}** has no finished epoch yet: its network appears after the first one.")
            return None
        epoch = epochs[-1] if epoch is None else epoch
        if epoch not in epochs:  # let open_epoch say which epochs there are
            open_epoch(run, epoch)
        return _inspector(str(run.path), epoch, stamp(run, epoch))
    except (CifarError, OSError) as error:  # OSError: a file removed meanwhile
        st.error(f"**Cannot look inside run {run.id}.** {error}")
        return None


def where_it_looked(key: str) -> bool:
    return st.toggle(
        "Where it looked",
        key=key,
        help="Grad-CAM: red where the network's last convolution block found most evidence for the class "
        "it chose, blue where it found none.",
    )


def looked_images(run: Run, images: np.ndarray, classes: np.ndarray, scale: int) -> list[np.ndarray] | None:
    """`images` enlarged with where the network looked for `classes`, or None (said why)."""
    inspector = inspector_of(run)
    if inspector is None:
        return None
    shown, _ = looked(inspector, images, classes, scale)
    return shown


def inside_link(run: Run, image_index: int, label: str = "Look inside the network at this image") -> None:
    st.page_link(
        INSIDE_PAGE,
        label=label,
        icon=":material/layers:",
        query_params={"run": run.id, IMAGE_PARAM: str(image_index)},
    )
