"""The Inside page's parts: choosing the image, and drawing what the network made of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from cifar.study.explain import Inspector, feature_grid, filter_tiles, overlay
from cifar.study.gallery import class_member, enlarge, place_in_class, with_article
from cifar.study.infer import MAX_BYTES, UPLOAD_TYPES, ImageError, centre_square, prepare_image
from pages.shared.looking import HANDED_IMAGE, IMAGE_PARAM

SOURCES = ("a test image", "your own image", "the camera")


@dataclass(frozen=True)
class Chosen:
    pixels: np.ndarray  # (32, 32, 3) uint8: what the network sees
    picture: np.ndarray | None  # an upload's or photo's centre square, the part the network sees
    caption: str
    true_class: int | None  # a test image's label


def _from_address(labels: np.ndarray) -> None:
    """A test image named in the address (`?image=N`, from another page's link) becomes the choice."""
    wanted = st.query_params.get(IMAGE_PARAM)
    if wanted is None or wanted == st.session_state.get("inside_image_from_url"):
        return
    st.session_state["inside_image_from_url"] = wanted
    try:
        index = int(wanted)
        class_index, number = place_in_class(labels, index)
    except (ValueError, IndexError):
        st.warning(f"{wanted[:40]!r} is not a test image number (0 to {len(labels) - 1}); choose one below.")
        return
    st.session_state["inside_source"] = SOURCES[0]
    st.session_state["inside_class"], st.session_state["inside_number"] = class_index, number


def _test_image(images: np.ndarray, labels: np.ndarray, names: tuple[str, ...]) -> Chosen:
    class_column, number_column = st.columns(2)
    class_index = class_column.selectbox("Class", range(len(names)), format_func=names.__getitem__, key="inside_class")
    count = int(np.count_nonzero(labels == class_index))
    number = number_column.number_input(f"Which {names[class_index]} (of {count:,})", 0, count - 1, key="inside_number")
    index = class_member(labels, class_index, number)
    st.query_params[IMAGE_PARAM] = str(index)
    st.session_state["inside_image_from_url"] = str(index)
    return Chosen(images[index], None, f"test image #{index}, {with_article(names[class_index])}", class_index)


def _own_image(source: str) -> Chosen | None:
    if source == SOURCES[2]:
        shot = st.camera_input("Take a photo", key="inside_camera")
        name, data = ("camera photo", shot.getvalue()) if shot else (None, None)
    else:
        handed = st.session_state.get(HANDED_IMAGE)
        upload = st.file_uploader(
            "Drop an image (PNG, JPEG, WebP, BMP or GIF)", type=list(UPLOAD_TYPES), key="inside_file",
            help=f"Up to {MAX_BYTES // 2**20} MB; cropped to its centre square and shrunk to 32×32.",
        )  # fmt: skip
        name, data = (upload.name, upload.getvalue()) if upload else (handed or (None, None))
    if data is None:
        return None
    try:
        prepared = prepare_image(data, name)
    except ImageError as error:
        st.error(str(error))
        return None
    return Chosen(prepared.pixels, np.asarray(centre_square(prepared.original, largest=384)), name, None)


def choose_image(images: np.ndarray | None, labels: np.ndarray, names: tuple[str, ...]) -> Chosen | None:
    """The image to look inside with, from the test set, an upload or the camera; None if none yet."""
    if images is not None:
        _from_address(labels)
    offered = SOURCES if images is not None else SOURCES[1:]
    handed = st.session_state.get(HANDED_IMAGE)
    if handed and handed is not st.session_state.get("inside_handed_seen"):
        st.session_state["inside_handed_seen"] = handed  # a new image from Classify: show it
        st.session_state["inside_source"] = SOURCES[1]
    source = st.radio("Look inside with", offered, horizontal=True, key="inside_source")
    if source == SOURCES[0] and images is not None:
        return _test_image(images, labels, names)
    return _own_image(source)


def show_filters(inspector: Inspector, first_maps) -> None:
    first = inspector.first_layer(first_maps)
    tiles, order = filter_tiles(first, size=54)
    st.image(tiles, caption=[f"{first.responses[i]:.1f}" for i in order], width=54)


def show_feature_maps(maps) -> None:
    for layer in maps:
        height, width, channels = layer.values.shape
        st.markdown(f"**{layer.name}** · {height}×{width}, {channels} channels")
        st.image(feature_grid(layer, columns=8, tile=48), width="content")


def show_grad_cam(inspector: Inspector, chosen: Chosen, names: tuple[str, ...], predicted: int) -> None:
    picture, controls = st.columns([1, 2], gap="medium")
    class_index = controls.selectbox(
        "For the class", range(len(names)), index=predicted, format_func=names.__getitem__, key="inside_cam_class",
        help="The class the network chose, or any other: why a cat, not a dog?",
    )  # fmt: skip
    layer = controls.selectbox(
        "On the layer", inspector.cam_layers, index=len(inspector.cam_layers) - 1, key="inside_cam_layer",
        help="The last convolution block sees the largest parts of the image; earlier layers see edges.",
    )  # fmt: skip
    opacity = controls.slider("Opacity of the map", 0.0, 1.0, 0.5, step=0.05, key="inside_opacity")
    cam = inspector.grad_cam(chosen.pixels, class_index, layer)
    if cam.flat:
        picture.info(
            f"The map for **{names[class_index]}** on {layer} is flat: no part of this layer raised the score "
            "of that class, so there is nowhere to point at."
        )
        return
    picture.image(
        overlay(enlarge(chosen.pixels, 6), cam.heatmap, opacity),
        caption=f"red: where it found most evidence for {names[class_index]}",
        width=192,
    )
    if chosen.picture is not None:
        picture.image(
            overlay(chosen.picture, cam.heatmap, opacity),
            caption="the same map over your image's centre, the part it saw",
            width=192,
        )
