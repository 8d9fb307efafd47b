"""Fool it: change a test image (or your own) by a few pixel levels so that the selected run's
network answers something else; see the change, where it looked before and after, whether the
change fools another run, and how the run's accuracy falls as the budget grows."""

from __future__ import annotations

import streamlit as st

from cifar.errors import CifarError
from cifar.study.attack import BUDGETS, MAX_BUDGET, METHODS, attack_image
from pages.parts.attack_parts import attacker_of, choose_image, show_attack, show_looked, show_robustness, show_transfer
from pages.shared.common import dataset, test_images, use_app_navigation
from pages.shared.looking import inspector_of, run_to_look_at
from pages.shared.signin import current_person

ANYTHING = "anything but the right answer"

use_app_navigation()
person = current_person()  # in a class, the sign-in until someone has signed in
st.title("Fool the network")
st.caption(
    "An adversarial example: each colour of each pixel moved by at most ε levels of 255, in the direction that "
    "raises the network's loss most (FGSM: one step, Goodfellow et al. 2015; PGD: ten small ones, Madry et al. "
    "2018). Up to ε = 8 the change is too small to see, and often enough to flip the answer."
)
run, epochs = run_to_look_at("there is no network to fool until the first one ends.")
attacker = attacker_of(run)
if attacker is None:
    st.stop()
names = run.class_names()
images = test_images(run, dataset())
chosen = choose_image(images, run.labels(), names)
method_column, budget_column, target_column = st.columns(3)
method = method_column.radio("Method", METHODS, format_func=str.upper, horizontal=True, key="attack_method")
budget = budget_column.select_slider(
    "ε, the budget (pixel levels of 255)", [*BUDGETS, 16, 32, MAX_BUDGET], value=2, key="attack_budget",
    help="8 of 255 is the usual budget in research on CIFAR-10; 1 or 2 is invisible to anyone.",
)  # fmt: skip
target = target_column.selectbox("Make it say", [ANYTHING, *names], key="attack_target")
if chosen is None:
    st.info("Drop an image above, or choose a test image.")
else:
    pixels, true_class, what = chosen
    target_index = None if target == ANYTHING else names.index(target)
    try:
        made = attack_image(attacker, pixels, budget, method, target_index, true_class)
    except CifarError as error:
        st.error(str(error))
        st.stop()
    show_attack(made, names, what, true_class)
    st.subheader("Where it looked, before and after")
    inspector = inspector_of(run, epochs[-1])
    if inspector is not None:
        show_looked(inspector, made, names)
    st.subheader("Does the change fool another run?")
    show_transfer(run, made, names)
st.subheader("How hard is this run to fool?")
show_robustness(run, images, run.labels())
