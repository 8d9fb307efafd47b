"""Map: the selected run's test images placed by what its network learned, islands of classes
with the confusions on their shores; click a point for the image and its nearest neighbours."""

from __future__ import annotations

import streamlit as st

from cifar.launch import launcher
from cifar.study.compare import held_out
from cifar.study.embedding import MAP_IMAGES, default_layer, embed_layers
from pages.parts.map_parts import agreement_line, draw_map, feature_map, show_chosen
from pages.shared.common import dataset, test_images, use_app_navigation
from pages.shared.looking import epoch_slider, inspector_of, run_to_look_at
from pages.shared.signin import current_person

use_app_navigation()
person = current_person()  # in a class, the sign-in until someone has signed in
st.title("The map of what it learned")
st.caption(
    "Each dot is a test image, placed by the features the network computes for it (t-SNE of their 50 "
    "principal components): images it finds alike land together. Classes it tells apart form islands; "
    "the ones it confuses meet on the shores."
)
run, epochs = run_to_look_at("its map appears after the first one.")
if launcher.status(run).live:
    st.info(f"Run **{run.id}** is still training: the map shows epoch {epochs[-1]}, the last it kept so far.")
images = test_images(run, dataset())
if images is None:
    st.stop()
names = run.class_names()
epoch_column, layer_column, size_column = st.columns([2, 1, 1], vertical_alignment="bottom")
epoch = epoch_slider(
    epoch_column, "Epoch (replay how the islands formed)", epochs, key="map_epoch",
    help="Each epoch's map starts from the last epoch's and is turned onto it, so points stay in place.",
)  # fmt: skip
inspector = inspector_of(run, epoch)
if inspector is None:
    st.stop()
layers = embed_layers(inspector.model)
layer = layer_column.selectbox(
    "Layer", layers, index=layers.index(default_layer(inspector.model)), key="map_layer",
    help="The last is what the classifier weighs; earlier layers group images by colour and texture.",
)  # fmt: skip
everything = size_column.toggle(
    f"All {len(images):,} images", key="map_all", help=f"Slower: about five times as long as the {MAP_IMAGES:,}."
)
found = feature_map(run, epoch, layer, everything, images, run.labels())
if found is None:
    st.stop()
st.markdown(agreement_line(found, names, "held-out" if held_out(run) else "test"))
map_column, chosen_column = st.columns([3, 2], gap="medium")
with map_column:
    position = draw_map(found, names)
with chosen_column:
    if position is None:
        st.info(
            "Click a point (a cross inside another class's island is a good start) to see its image and neighbours."
        )
    else:
        show_chosen(run, found, position, images, names)
