"""Classify: drop your own images and see what the model thinks, and the 32×32 it saw."""

from __future__ import annotations

import streamlit as st

from cifar.network.build import how_tested
from cifar.study.charts import probability_figure
from cifar.study.gallery import enlarge, with_article
from cifar.study.infer import MAX_BYTES, UPLOAD_TYPES, ImageError, predict, prepare_image
from pages.shared.common import (
    config_of,
    dataset,
    model_of,
    no_run_yet,
    selected_run,
    test_images,
    use_app_navigation,
)
from pages.shared.looking import HANDED_IMAGE, INSIDE_PAGE, inside_link, looked_images, where_it_looked
from pages.shared.signin import current_person

use_app_navigation()
person = current_person()  # in a class, the sign-in until someone has signed in
st.title("Classify your own images")
run = selected_run()
if run is None:
    no_run_yet()
    st.stop()
model = model_of(run)
if model is None:
    st.stop()
names = run.class_names()
config = config_of(run)  # answered as the run was tested
tested = how_tested(config) if config else ""
st.caption(f"Answering: run **{run.id}** (change it in the sidebar). It knows only: {', '.join(names)}. {tested}")

uploads = st.file_uploader(
    "Drop images here (PNG, JPEG, WebP, BMP or GIF)",
    type=list(UPLOAD_TYPES),
    accept_multiple_files=True,
    key="uploads",
    help=f"Up to {MAX_BYTES // 2**20} MB each. Each is cropped to its centre square and shrunk to 32×32.",
)
data = dataset()
if data is not None and st.toggle("Or try a test image", key="use_test_image"):
    # The images the run was tested on (its held-out ones, if it held some out): Inside opens the same.
    images = test_images(run, data)
    if images is not None:
        labels = run.labels()
        index = st.number_input("Test image number", 0, len(labels) - 1, 0, key="test_index")
        label = names[int(labels[index])]
        st.image(enlarge(images[index], 6), caption=f"Test image #{index}: {label}", width=192)
        st.plotly_chart(probability_figure(predict(model, images[index], config), names), key="test_bars")
        inside_link(run, int(index))


def show(upload) -> None:
    try:
        prepared = prepare_image(upload.getvalue(), upload.name)
    except ImageError as error:
        st.error(str(error))
        return
    probabilities = predict(model, prepared.pixels, config)
    best = int(probabilities.argmax())
    article = with_article(names[best]).split()[0]
    st.markdown(f"**{upload.name}**: looks like {article} **{names[best]}** ({probabilities[best]:.0%})")
    original, seen, bars = st.columns([2, 1, 3])
    original.image(prepared.original, caption="your image", width="stretch")
    pixels = enlarge(prepared.pixels, 4)
    if looked:
        pixels = (looked_images(run, prepared.pixels, best, 4) or [pixels])[0]
    seen.image(pixels, caption="what the model sees (32×32)", width=128)
    bars.plotly_chart(probability_figure(probabilities, names), key=f"bars_{upload.file_id}")
    if seen.button("Look inside", key=f"inside_{upload.file_id}", help="Its feature maps, filters and Grad-CAM"):
        st.session_state[HANDED_IMAGE] = (upload.name, upload.getvalue())
        st.switch_page(INSIDE_PAGE, query_params={"run": run.id})


looked = bool(uploads) and where_it_looked("classify_looked")
for upload in uploads or []:
    show(upload)
