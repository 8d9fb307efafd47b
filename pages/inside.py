"""Inside: what the selected run's network does with one image, epoch by epoch: its top classes,
where it looked (Grad-CAM), its first layer's filters and every layer's feature maps."""

from __future__ import annotations

import streamlit as st

from cifar.study.gallery import enlarge, with_article
from cifar.study.infer import top_classes
from pages.parts.inside_parts import choose_image, show_feature_maps, show_filters, show_grad_cam
from pages.shared.common import dataset, test_images, use_app_navigation
from pages.shared.looking import epoch_slider, inspector_of, run_to_look_at
from pages.shared.signin import current_person

use_app_navigation()
person = current_person()  # in a class, the sign-in until someone has signed in
st.title("Inside the network")
run, epochs = run_to_look_at("its network appears here after the first one.")
if not run.weight_epochs():
    st.caption(f"Run **{run.id}** was made before every epoch's weights were kept: it shows its last epoch only.")
epoch = epoch_slider(
    st, "Epoch (replay how the network formed)", epochs, key="inside_epoch",
    help="Long runs keep every epoch up to 50, then every tenth, and always the last.",
)  # fmt: skip
inspector = inspector_of(run, epoch)
if inspector is None:
    st.stop()
names = run.class_names()
data = dataset()
images = test_images(run, data)
chosen = choose_image(images, run.labels(), names)
if chosen is None:
    st.info("Choose an image above: drop one of your own, or take a photo.")
    st.stop()

maps, probabilities = inspector.feature_maps(chosen.pixels)
predicted = int(probabilities.argmax())
picture, answer = st.columns([1, 2])
if chosen.picture is not None:
    picture.image(chosen.picture, caption=f"{chosen.caption}: the centre it keeps", width=192)
picture.image(enlarge(chosen.pixels, 6), caption=f"{chosen.caption}: the 32×32 it sees", width=192)
top = "\n".join(f"{rank}. **{name}** {p:.1%}" for rank, (name, p) in enumerate(top_classes(probabilities, names), 1))
answer.markdown(f"After epoch {epoch} it thinks:\n\n{top}")
if chosen.true_class is not None:
    verdict = "right" if predicted == chosen.true_class else f"wrong: it is {with_article(names[chosen.true_class])}"
    answer.caption(f"That is {verdict}.")

st.subheader("Where it looked")
show_grad_cam(inspector, chosen, names, predicted)

st.subheader("The first layer's filters")
st.caption(
    "Each 3-colour filter of the first convolution, scaled so its pattern shows, under it its strongest "
    "response to this image; the filters that answer most come first: they are the patterns this image has."
)
show_filters(inspector, maps[0])

st.subheader("Feature maps")
st.caption(
    "Every channel of every convolution (after its ReLU) and pooling, white where it fired most; one grey "
    "scale per layer, so a dark tile is a channel that stayed quiet."
)
show_feature_maps(maps)
