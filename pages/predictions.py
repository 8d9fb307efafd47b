"""Predictions: the test set (or the images a run held out) as the selected run sees it, mistakes first."""

from __future__ import annotations

import streamlit as st

from cifar.network.build import tested_on_words
from cifar.study.charts import probability_figure
from cifar.study.gallery import SORTS, enlarge, filter_predictions, page_of, with_article
from pages.shared.common import config_of, dataset, no_run_yet, selected_run, test_images, use_app_navigation
from pages.shared.looking import inside_link, looked_images, where_it_looked
from pages.shared.signin import current_person

use_app_navigation()
person = current_person()  # in a class, the sign-in until someone has signed in
run = selected_run()
run_config = None if run is None else config_of(run)
held_out = run_config is not None and run_config.holdout > 0
st.title("Predictions on the held-out images" if held_out else "Predictions on the test set")
data = dataset()
if run is None or not run.prediction_epochs():
    no_run_yet()
    st.stop()
images = test_images(run, data)
if images is None:
    st.stop()
if held_out:
    st.caption(
        f"Run **{run.id}** was tested on {tested_on_words(run_config)}, not on the test set: they are the images below."
    )
names = run.class_names()
labels, probabilities = run.labels(), run.predictions().astype("float32")
any_class = "any"
true_column, predicted_column, right_column = st.columns(3)
true_class = true_column.selectbox("True class", [any_class, *names], key="filter_true")
predicted_class = predicted_column.selectbox("Predicted class", [any_class, *names], key="filter_predicted")
correctness = right_column.radio("Answers", ["all", "right", "wrong"], horizontal=True, key="filter_correct")
low, high = st.slider("Confidence", 0.0, 1.0, (0.0, 1.0), step=0.05, key="filter_confidence")
sort = st.selectbox("Order", SORTS, key="sort")
indices = filter_predictions(
    labels,
    probabilities,
    true_class=None if true_class == any_class else names.index(true_class),
    predicted_class=None if predicted_class == any_class else names.index(predicted_class),
    correctness=correctness,
    confidence=(low, high),
    sort=sort,
)
per_page = 30
count = page_of(indices, 1, per_page).count
number = st.number_input(f"Page (of {count}; {len(indices):,} images)", 1, count, 1, key="page")
page = page_of(indices, number, per_page)
if not len(page.indices):
    st.info("No test image matches these filters.")
    st.stop()
predicted = probabilities.argmax(axis=1)
captions = [
    f"{'✓' if predicted[i] == labels[i] else '✗'} {names[predicted[i]]} {probabilities[i].max():.0%}"
    f" (is {names[labels[i]]})"
    for i in page.indices
]
st.image([enlarge(images[i], 3) for i in page.indices], caption=captions, width=96)
chosen = st.selectbox(
    "Look closer at",
    page.indices.tolist(),
    format_func=lambda i: f"#{i}: {captions[list(page.indices).index(i)]}",
    key="chosen",
)
picture, bars = st.columns([1, 2])
shown = enlarge(images[chosen], 6)
if where_it_looked("closer_looked"):
    shown = (looked_images(run, images[chosen], predicted[chosen], 6) or [shown])[0]
caption = f"Test image #{chosen}, {with_article(names[labels[chosen]])}"
picture.image(shown, caption=caption, width=192)
bars.plotly_chart(probability_figure(probabilities[chosen], names, true_class=int(labels[chosen])), key="chosen_bars")
inside_link(run, int(chosen))
