"""The Fool it page's parts: the image to attack, the attack's result with where the network
looked before and after, the change tried on another run, and the robustness curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from cifar.errors import CifarError
from cifar.runs.run import Run, list_runs
from cifar.study.attack import Attack, Attacker, change_picture, kept_robustness, robustness_of, transfer
from cifar.study.charts import robustness_figure
from cifar.study.compare import held_out
from cifar.study.explain import Inspector, kept_epoch, open_epoch, overlay, stamp
from cifar.study.gallery import class_member, enlarge, with_article
from cifar.study.infer import MAX_BYTES, UPLOAD_TYPES, ImageError, prepare_image, top_classes

SOURCES = ("a test image", "your own image")
SCALE = 6


@st.cache_resource(max_entries=4, show_spinner="Opening the network…")
def _attacker(run_path: str, epoch: int, written_ns: int) -> Attacker:
    run = Run(Path(run_path))
    return Attacker(open_epoch(run, epoch), f"Run {run.id}'s network")


def attacker_of(run: Run, epoch: int | None = None) -> Attacker | None:
    """The run's network ready to attack, after `epoch` (default: its last); None after saying why not."""
    try:
        epoch = kept_epoch(run, epoch)
        return _attacker(str(run.path), epoch, stamp(run, epoch))
    except CifarError as error:
        st.error(f"**Cannot attack run {run.id}.** {error}")
        return None


def choose_image(images: np.ndarray | None, labels: np.ndarray, names: tuple[str, ...]):
    """(pixels, true class or None, words) of the image to attack, or None while there is none."""
    offered = SOURCES if images is not None else SOURCES[1:]
    source = st.radio("Image", offered, horizontal=True, key="attack_source")
    if source == SOURCES[0] and images is not None:
        class_column, number_column = st.columns(2)
        class_index = class_column.selectbox(
            "Class", range(len(names)), format_func=names.__getitem__, key="attack_class"
        )
        count = int(np.count_nonzero(labels == class_index))
        number = number_column.number_input(
            f"Which {names[class_index]} (of {count:,})", 0, count - 1, key="attack_number"
        )
        index = class_member(labels, class_index, number)
        return images[index], class_index, f"test image #{index}, {with_article(names[class_index])}"
    upload = st.file_uploader(
        "Drop an image (PNG, JPEG, WebP, BMP or GIF)", type=list(UPLOAD_TYPES), key="attack_file",
        help=f"Up to {MAX_BYTES // 2**20} MB; cropped to its centre square and shrunk to 32×32.",
    )  # fmt: skip
    if upload is None:
        return None
    try:
        return prepare_image(upload.getvalue(), upload.name).pixels, None, upload.name
    except ImageError as error:
        st.error(str(error))
        return None


def _answers(probabilities: np.ndarray, names: tuple[str, ...]) -> str:
    return "  \n".join(f"{name} {share:.1%}" for name, share in top_classes(probabilities, names))


def show_attack(made: Attack, names: tuple[str, ...], what: str, true_class: int | None) -> None:
    """Before, the change (amplified, with its scale) and after, with the network's answers."""
    before, after = int(made.before.argmax()), int(made.after.argmax())
    change, amplification = change_picture(made.change, made.budget)
    original, difference, attacked = st.columns(3)
    original.image(enlarge(made.original, SCALE), caption=what, width=192)
    original.markdown(f"**It says {names[before]}**  \n{_answers(made.before, names)}")
    difference.image(enlarge(change, SCALE), caption=f"the change, ×{amplification:.0f} (grey: none)", width=192)
    difference.caption(
        f"Every colour of every pixel moved by at most {made.largest_change()} of 255 (the budget: {made.budget}); "
        f"{np.count_nonzero(made.change):,} of {made.change.size:,} values changed."
    )
    attacked.image(enlarge(made.attacked, SCALE), caption="the attacked image", width=192)
    attacked.markdown(f"**It says {names[after]}**  \n{_answers(made.after, names)}")
    kind, words = made.verdict(names, true_class)
    {"fooled": st.success, "already": st.info, "held": st.warning}[kind](words)


def show_looked(inspector: Inspector, made: Attack, names: tuple[str, ...]) -> None:
    """Grad-CAM before and after, each for the class the network answered."""
    columns = st.columns(2)
    for column, pixels, probabilities, when in (
        (columns[0], made.original, made.before, "before"),
        (columns[1], made.attacked, made.after, "after"),
    ):
        answer = int(probabilities.argmax())
        cam = inspector.grad_cam(pixels, answer)
        if cam.flat:
            column.info(f"{when.capitalize()}: the map for {names[answer]} is flat: nowhere raised its score.")
            continue
        column.image(
            overlay(enlarge(pixels, SCALE), cam.heatmap), caption=f"{when}: where it found {names[answer]}", width=192
        )


def show_transfer(run: Run, made: Attack, names: tuple[str, ...]) -> None:
    """The same changed image shown to another run's network."""
    others = [other for other in list_runs() if other.id != run.id and other.inside_epochs()]
    if not others:
        st.caption("No other run with a network yet: train a second one (or a classmate will) to try this.")
        return
    chosen = st.selectbox("Another run", [other.id for other in others], index=None, key="attack_other",
                          placeholder="choose a run")  # fmt: skip
    if chosen is None:
        return
    other = next(other for other in others if other.id == chosen)
    attacker = attacker_of(other)
    if attacker is None:
        return
    before, after, fooled = transfer(attacker, made)
    theirs = other.class_names()
    st.markdown(
        f"Run **{other.id}** says **{theirs[int(before.argmax())]}** ({before.max():.0%}) before and "
        f"**{theirs[int(after.argmax())]}** ({after.max():.0%}) after: {'fooled too' if fooled else 'not fooled'}."
    )


def show_robustness(run: Run, images, labels) -> None:
    """The accuracy-under-attack curve if it was measured, and a button that measures it."""
    found = kept_robustness(run)
    if found is None and images is None:
        st.caption("Not measured yet, and it cannot be here: the data in use is not the data this run was tested on.")
        return
    if found is None:
        st.caption("Not measured yet for this run: about 15 s for a `quick` run.")
        if st.button("Measure robustness", key="attack_measure"):
            try:
                with st.spinner("Attacking the sample at five budgets, with FGSM and with PGD…"):
                    robustness_of(run, images, labels)
            except CifarError as error:
                st.error(f"**Cannot measure run {run.id}.** {error}")
                return
            st.rerun()  # the kept curve, and the Runs page's column, from the cache
        return
    st.plotly_chart(robustness_figure(found.budgets, found.accuracy), key="attack_curve")
    scored = "held-out" if held_out(run) else "test"
    st.caption(
        f"{scored.capitalize()} accuracy on {found.images} {scored} images (the same each time, as many of each "
        f"class) after epoch "
        f"{found.epoch}: "
        f"{found.at(0):.0%} untouched; at ε = 8, {found.at(8, 'fgsm'):.0%} under FGSM and {found.at(8, 'pgd'):.0%} "
        "under PGD."
    )
