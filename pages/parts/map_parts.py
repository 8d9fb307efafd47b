"""The Map page's parts: the map, kept per run, epoch and layer, and the chosen image with its
nearest neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from cifar.errors import CifarError
from cifar.runs.run import Run
from cifar.study.charts import chosen_point, feature_map_figure
from cifar.study.embedding import NEIGHBOURS, FeatureMap, map_of
from cifar.study.explain import stamp
from cifar.study.gallery import enlarge, with_article
from pages.shared.looking import inside_link

CHOSEN = "map_chosen"  # the chosen point's test-image number, kept across reruns


@st.cache_resource(max_entries=8, show_spinner=False)
def _map(run_path: str, epoch: int, layer: str, everything: bool, written_ns: tuple[int, int], _images, _labels):
    # One map per run, epoch and layer for every session together, keyed on when that epoch's
    # network and the last one's were written (an earlier epoch is turned onto the last); the
    # file it was read from, or made and kept in, is in the cache folder (cifar/study/kept.py).
    return map_of(Run(Path(run_path)), _images, _labels, epoch, layer, everything)


def feature_map(run: Run, epoch: int, layer: str, everything: bool, images, labels) -> FeatureMap | None:
    """The map, made with a spinner that says what it does; None after saying why it cannot be."""
    try:
        with st.spinner(f"Placing the test images by their features in {layer} (about 10 s the first time)…"):
            written = (stamp(run, epoch), stamp(run, run.inside_epochs()[-1]))
            return _map(str(run.path), epoch, layer, everything, written, images, labels)
    except CifarError as error:
        st.error(f"**Cannot map run {run.id}.** {error}")
        return None


def draw_map(found: FeatureMap, names: tuple[str, ...]) -> int | None:
    """The map; returns the chosen point's position (a click, or a number typed below it)."""
    positions = {int(index): position for position, index in enumerate(found.indices)}
    chosen = positions.get(st.session_state.get(CHOSEN, -1))
    figure = feature_map_figure(found.points, found.labels, found.predicted, found.indices, names, chosen)
    event = st.plotly_chart(figure, on_select="rerun", selection_mode="points", key="map_chart")
    clicked = chosen_point((event or {}).get("selection", {}).get("points", []))
    if (
        clicked is not None
        and clicked < len(found.indices)
        and int(found.indices[clicked]) != st.session_state.get(CHOSEN)
    ):
        st.session_state[CHOSEN] = int(found.indices[clicked])
        st.rerun()  # draw the ring where the click was
    typed = st.number_input(
        "Or choose a test image by its number", 0, int(found.indices.max()), value=None, key="map_typed",
        placeholder="a number from the map's hover", help="Only the images on the map can be chosen.",
    )  # fmt: skip
    if typed is not None and typed != st.session_state.get("map_typed_seen"):
        st.session_state["map_typed_seen"] = typed
        if typed in positions:
            st.session_state[CHOSEN] = int(typed)
            st.rerun()
        st.warning(f"Test image #{typed} is not on this map: the map shows {len(found.indices):,} of them.")
    return positions.get(st.session_state.get(CHOSEN, -1))


def show_chosen(run: Run, found: FeatureMap, position: int, images: np.ndarray, names: tuple[str, ...]) -> None:
    """The chosen image, its true and predicted class, and its nearest neighbours in feature space."""
    index, true, predicted = int(found.indices[position]), int(found.labels[position]), int(found.predicted[position])
    verdict = "right" if true == predicted else f"wrong: it took it for {with_article(names[predicted])}"
    st.image(enlarge(images[index], 6), caption=f"Test image #{index}, {with_article(names[true])}", width=192)
    st.markdown(f"After epoch {found.epoch} the network says **{names[predicted]}**: {verdict}.")
    near = found.neighbours[position]
    st.markdown(f"**Its {len(near)} nearest in {found.layer}** ({found.alike(position)} of them {names[true]}s):")
    st.image(
        [enlarge(images[int(found.indices[n])], 3) for n in near],
        caption=[names[int(found.labels[n])] for n in near],
        width=84,
    )
    inside_link(run, index)


def agreement_line(found: FeatureMap, names: tuple[str, ...], scored: str = "test") -> str:
    """The map's headline; `scored` names the images ("test", or "held-out" for a run that held some out)."""
    return (
        f"{len(found.indices):,} {scored} images after epoch {found.epoch}, placed by {found.layer}: "
        f"**{found.agreement():.0%}** of each image's {NEIGHBOURS} nearest share its class "
        f"({found.chance():.0%} by chance). A cross is an image the network got wrong."
    )
