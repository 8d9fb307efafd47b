"""The Train page's controls: a preset picker and one widget per config field, grouped."""

from __future__ import annotations

import streamlit as st

from cifar import jobs
from cifar.estimate import describe_duration, estimate_seconds
from cifar.model import LR_SCHEDULES, MAX_EPOCHS, OPTIMIZERS, PRESETS, ModelConfig, preset
from cifar.runs import RunError
from pages.common import RUN_PARAM, selected_run

FILTER_CHOICES = [4, 8, 16, 32, 64, 128, 256]
DENSE_CHOICES = [0, 16, 32, 64, 128, 256, 512, 1024]
RATE_CHOICES = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 1.0, 10.0]
BATCH_CHOICES = [8, 10, 16, 32, 64, 128, 256]
SIZE_CHOICES = [500, 1000, 2000, 6000, 10000, 20000, "all"]
MAX_BLOCKS = 4


def _apply_preset() -> None:
    config = preset(st.session_state["preset"])
    values = config.to_dict()
    values["train_size"] = config.train_size or "all"
    filters = config.block_filters()
    for block in range(MAX_BLOCKS):
        st.session_state[f"cfg_filters_{block}"] = filters[min(block, len(filters) - 1)]
    for field, value in values.items():
        if field != "filters":
            st.session_state[f"cfg_{field}"] = value


def preset_picker() -> None:
    if "cfg_epochs" not in st.session_state:
        st.session_state.setdefault("preset", "tutorial")
        _apply_preset()
    st.selectbox(
        "Start from a preset",
        list(PRESETS),
        key="preset",
        on_change=_apply_preset,
        help="tutorial: the TensorFlow tutorial's model. quick: about a minute. "
        "fast: the tutorial's accuracy in about 2½ minutes. better: BatchNorm and augmentation.",
    )


def config_from_widgets() -> ModelConfig | None:
    """The config the widgets describe, or None after showing why it is not valid."""
    architecture, regularisation, optimisation, data = st.tabs(
        ["Architecture", "Regularisation", "Optimisation", "Data"]
    )
    with architecture:
        blocks = st.slider("Conv blocks", 1, MAX_BLOCKS, key="cfg_conv_blocks", help="Each ends in a 2×2 max-pool.")
        columns = st.columns(MAX_BLOCKS)
        filters = tuple(
            columns[b].select_slider(f"Filters, block {b + 1}", FILTER_CHOICES, key=f"cfg_filters_{b}")
            for b in range(blocks)
        )
        st.slider("Convolutions per block", 1, 4, key="cfg_convs_per_block")
        st.select_slider("Kernel size (pixels)", [1, 3, 5, 7], key="cfg_kernel_size")
        st.select_slider("Dense units (0: none)", DENSE_CHOICES, key="cfg_dense_units")
        st.toggle("BatchNorm after every convolution", key="cfg_batch_norm")
    with regularisation:
        st.slider("Dropout after each block", 0.0, 0.9, step=0.05, key="cfg_dropout")
        st.slider("Dropout before the output", 0.0, 0.9, step=0.05, key="cfg_dense_dropout")
        st.toggle("Augmentation: random flips and shifts", key="cfg_augment")
    with optimisation:
        st.selectbox("Optimizer", OPTIMIZERS, key="cfg_optimizer")
        st.select_slider("Learning rate", RATE_CHOICES, key="cfg_learning_rate", help="10 makes training diverge.")
        st.selectbox(
            "Learning-rate schedule",
            LR_SCHEDULES,
            key="cfg_lr_schedule",
            help="constant: the same rate throughout. cosine: a short warm-up to the rate, "
            "then down to zero by the last epoch, which settles the weights in few epochs.",
        )
        st.select_slider("Batch size", BATCH_CHOICES, key="cfg_batch_size")
        st.number_input("Epochs", 1, 500, key="cfg_epochs")
    with data:
        st.select_slider("Training images (equal per class)", SIZE_CHOICES, key="cfg_train_size")
        st.number_input("Seed", 0, 2**31 - 1, key="cfg_seed", help="The same seed gives the same run.")
    state = st.session_state
    size = state["cfg_train_size"]
    try:
        return ModelConfig(
            conv_blocks=blocks,
            filters=filters,
            convs_per_block=state["cfg_convs_per_block"],
            kernel_size=state["cfg_kernel_size"],
            dense_units=state["cfg_dense_units"],
            batch_norm=state["cfg_batch_norm"],
            dropout=round(state["cfg_dropout"], 2),
            dense_dropout=round(state["cfg_dense_dropout"], 2),
            augment=state["cfg_augment"],
            optimizer=state["cfg_optimizer"],
            learning_rate=state["cfg_learning_rate"],
            lr_schedule=state["cfg_lr_schedule"],
            batch_size=state["cfg_batch_size"],
            epochs=int(state["cfg_epochs"]),
            train_size=None if size == "all" else int(size),
            seed=int(state["cfg_seed"]),
        )
    except ValueError as error:
        st.error(f"This network cannot be built: {error}")
        return None


def continue_run(train_images: int, test_images: int, can_train: bool) -> None:
    """Continue the selected run for more epochs, as a new run that carries on its curves."""
    run = selected_run()
    with st.expander("Continue a run for more epochs", expanded=False):
        if run is None:
            st.caption("Once a run has finished an epoch, it can be trained further from here.")
            return
        state, done = run.status()["state"], len(run.history().get("epoch") or [])
        st.markdown(f"Run **{run.id}**: {state}, {done} epoch{'s' if done != 1 else ''} trained.")
        try:
            jobs.check_continuable(run)
        except RunError as error:
            st.caption(str(error))
            return
        more = st.number_input("More epochs", 1, max(MAX_EPOCHS - done, 1), value=min(5, MAX_EPOCHS - done), key="more")
        seconds = estimate_seconds(run.config().replace(epochs=int(more)), train_images, test_images)
        st.caption(
            f"A new run starts from its weights and optimizer state and goes on to epoch {done + int(more)} "
            f"({describe_duration(seconds)}). The original run is kept as it is."
        )
        if st.button("Continue training", key="continue", disabled=not can_train):
            try:
                child = jobs.resume(run, int(more))
            except (RunError, ValueError, OSError) as error:
                st.error(f"Could not continue {run.id}: {error}")
                return
            st.query_params[RUN_PARAM] = child.id
            st.session_state["watching"] = child.id
