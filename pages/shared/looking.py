"""What the pages share for looking inside a network: the opened network, cached and bounded,
the "where it looked" toggle, and links that open an image on the Inside page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import streamlit as st

from cifar.errors import CifarError
from cifar.runs.run import Run
from cifar.study.explain import Inspector, looked, open_epoch, stamp
from pages.shared.common import no_run_yet, selected_run

INSIDE_PAGE = "pages/inside.py"
IMAGE_PARAM = "image"  # a test image's index, in the Inside page's address
HANDED_IMAGE = "inside_upload"  # (name, bytes) of an upload another page hands to Inside


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
    except CifarError as error:  # damaged, or removed from another tab meanwhile
        st.error(f"**Cannot look inside run {run.id}.** {error}")
        return None


def run_to_look_at(until: str) -> tuple[Run, list[int]]:
    """The selected run and the epochs it kept a network of, for a page that looks inside one;
    with no run, or no finished epoch yet, the page says so and stops there. `until`: what the
    page shows once the first epoch ends, ending "…has no finished epoch yet: {until}"."""
    run = selected_run()
    if run is None:
        no_run_yet()
        st.stop()
    epochs = run.inside_epochs()
    if not epochs:
        st.info(f"Run **{run.id}** has no finished epoch yet: {until}")
        st.stop()
    return run, epochs


def epoch_slider(where, label: str, epochs: list[int], key: str, help: str) -> int:
    """The epoch to look at, on a slider in `where` (a column, or `st`): the last by default, and
    no slider when there is only one."""
    if len(epochs) < 2:
        return epochs[-1]
    return where.select_slider(label, epochs, value=epochs[-1], key=key, help=help)


def where_it_looked(key: str) -> bool:
    return st.toggle(
        "Where it looked",
        key=key,
        help="Grad-CAM: red where the network's last convolution block found most evidence for the class "
        "it chose, blue where it found none.",
    )


def looked_images(run: Run, images: np.ndarray, classes, scale: int, epoch: int | None = None):
    """`images` enlarged with where the network looked for `classes` (one, or one each), after
    `epoch` (default: the last); None after saying why it cannot be shown."""
    epochs = run.inside_epochs()
    if epoch is not None and epochs and epoch not in epochs:
        st.info(f"Run **{run.id}** did not keep its network of epoch {epoch}: move the epoch slider to one it kept.")
        return None
    inspector = inspector_of(run, epoch)
    if inspector is None:
        return None
    shown, _ = looked(inspector, images, classes, scale)
    return shown


def pick_and_look_inside(run: Run, indices, key: str) -> None:
    """A choice among test images `indices`, and a link that opens the chosen one on Inside."""
    column, link = st.columns([1, 2], vertical_alignment="bottom")
    chosen = column.selectbox("Test image", list(indices), format_func=lambda i: f"#{i}", key=key)
    with link:
        inside_link(run, int(chosen))


def inside_link(run: Run, image_index: int, label: str = "Look inside the network at this image") -> None:
    """A link that opens test image `image_index` of `run` on the Inside page.

    A plain link rather than `st.page_link`, which needs the entry script's navigation: every
    page also runs alone (tests, a deep link before the navigation exists).
    """
    query = urlencode({"run": run.id, IMAGE_PARAM: image_index})
    st.markdown(f":material/layers: [{label}](inside?{query})")
