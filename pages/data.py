"""Data: what CIFAR-10 holds, class by class, at the size the network sees it."""

from __future__ import annotations

import streamlit as st

from cifar.study.charts import class_counts_figure
from cifar.study.gallery import class_counts, enlarge, page_of, samples_per_class, strip
from pages.shared.common import dataset, use_app_navigation
from pages.shared.signin import current_person

use_app_navigation()
person = current_person()  # in a class, the sign-in until someone has signed in
st.title("The data")
data = dataset()
if data is None:
    st.stop()

names = data.class_names
st.write(
    f"{len(data.y_train):,} training and {len(data.y_test):,} test images, each 32×32 pixels in colour, "
    f"in {len(names)} classes. The network learns from the training images and is scored on the test images, "
    "which it never trains on."
)

st.subheader("Images per class")
figure = class_counts_figure(class_counts(data.y_train, len(names)), class_counts(data.y_test, len(names)), names)
st.plotly_chart(figure, key="class_counts")

st.subheader("Samples of every class")
st.caption("Enlarged 3× with nearest neighbour, so each of the 32×32 pixels stays a crisp square.")
samples = samples_per_class(data.y_train, len(names), per_class=10, seed=0)
for name, indices in zip(names, samples, strict=True):
    st.markdown(f"**{name}**")
    st.image(strip(data.x_train[indices], scale=3), width="stretch")

st.subheader("The first test image")
first, text = st.columns([1, 3], vertical_alignment="center")
first.image(enlarge(data.x_test[0], 6), width=192)
text.write(f"Label {int(data.y_test[0])}: **{names[int(data.y_test[0])]}**, as the tutorial shows it.")

st.subheader("Browse a class")
choice, split = st.columns(2)
class_name = choice.selectbox("Class", names, key="browse_class")
split_name = split.radio("Split", ["train", "test"], horizontal=True, key="browse_split")
x, y = (data.x_train, data.y_train) if split_name == "train" else (data.x_test, data.y_test)
indices = (y == names.index(class_name)).nonzero()[0]
count = page_of(indices, 1, 48).count
number = st.number_input(f"Page (of {count})", 1, count, 1, key="browse_page")
page = page_of(indices, number, 48)
st.image([enlarge(x[i], 2) for i in page.indices], caption=[f"#{i}" for i in page.indices], width=64)
