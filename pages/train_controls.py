"""The Train page's controls: a preset picker and a widget for every field of the config table,
grouped in tabs; each widget is made from its field's description (cifar/model.py)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from cifar import jobs
from cifar.errors import CifarError
from cifar.estimate import describe_duration, estimate_seconds
from cifar.fields import GROUPS, Field
from cifar.model import FIELDS, MAX_EPOCHS, PRESET_NOTES, PRESETS, ModelConfig, preset
from pages.common import RUN_PARAM, selected_run


def _key(name: str, block: int | None = None) -> str:
    return f"cfg_{name}" if block is None else f"cfg_{name}_{block}"


def _max_blocks(field: Field) -> int:
    return FIELDS[field.count_field].high


def _apply_preset() -> None:
    config = preset(st.session_state["preset"])
    for name, field in FIELDS.items():
        value = getattr(config, name)
        if field.widget == "per_block":
            values = field.per_block(value, _max_blocks(field)) if len(value) == 1 else value
            for block in range(_max_blocks(field)):
                st.session_state[_key(name, block)] = values[min(block, len(values) - 1)]
        else:
            st.session_state[_key(name)] = field.to_widget(value)


def preset_picker() -> None:
    if _key("epochs") not in st.session_state:
        st.session_state.setdefault("preset", "tutorial")
        _apply_preset()
    st.selectbox(
        "Start from a preset",
        list(PRESETS),
        key="preset",
        on_change=_apply_preset,
        help=" ".join(f"{name}: {note}." for name, note in PRESET_NOTES.items()),
    )


def _widget(field: Field) -> Any:
    """The widget for `field`, drawn; the config value it holds."""
    key = _key(field.name)
    if key not in st.session_state:  # a field added to the table after this session began
        st.session_state[key] = field.to_widget(field.default)
    label, value = field.label, st.session_state[key]
    if field.widget == "toggle":
        return st.toggle(label, key=key, help=field.help)
    if field.widget == "select":
        return st.selectbox(label, field.widget_options(value), key=key, help=field.help)
    if field.widget == "select_slider":
        chosen = st.select_slider(label, field.widget_options(value), key=key, help=field.help)
        return field.from_widget(chosen)
    if field.widget == "slider":
        low, high = field.low, getattr(field, "slider_high", None) or field.high
        step = getattr(field, "step", 1)
        if isinstance(step, float):  # Streamlit wants one number type for the ends, the step and the value
            low, high = float(low), float(high)
        return field.from_widget(st.slider(label, low, high, key=key, step=step, help=field.help))
    return field.from_widget(st.number_input(label, field.low, field.high, key=key, help=field.help))


def _per_block_widget(field: Field, blocks: int) -> tuple:
    """One choice per block, side by side: `blocks` of them."""
    columns = st.columns(_max_blocks(field))
    chosen = []
    for block in range(blocks):
        key = _key(field.name, block)
        if key not in st.session_state:
            st.session_state[key] = field.default[0]
        options = field.widget_options(st.session_state[key])
        label = f"{field.label}, block {block + 1}"
        chosen.append(columns[block].select_slider(label, options, key=key, help=field.help if block == 0 else None))
    return tuple(chosen)


def config_from_widgets() -> ModelConfig | None:
    """The config the widgets describe, or None after showing why it is not valid."""
    values: dict[str, Any] = {}
    for tab, group in zip(st.tabs(list(GROUPS)), GROUPS, strict=True):
        with tab:
            for name, field in FIELDS.items():
                if field.group != group:
                    continue
                if field.widget == "per_block":
                    values[name] = _per_block_widget(field, int(values[field.count_field]))
                else:
                    values[name] = _widget(field)
    try:
        return ModelConfig(**values)
    except CifarError as error:
        st.error(f"This network cannot be built: {error}")
        return None


def continue_run(train_images: int, test_images: int, can_train: bool) -> None:
    """Continue the selected run for more epochs, as a new run that carries on its curves."""
    run = selected_run()
    with st.expander("Continue a run for more epochs", expanded=False):
        if run is None:
            st.caption("Once a run has finished an epoch, it can be trained further from here.")
            return
        state, done = run.status().state, len(run.history().get("epoch") or [])
        st.markdown(f"Run **{run.id}**: {state}, {done} epoch{'s' if done != 1 else ''} trained.")
        try:
            jobs.check_continuable(run)
        except CifarError as error:
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
            except (CifarError, OSError) as error:
                st.error(f"Could not continue {run.id}: {error}")
                return
            st.query_params[RUN_PARAM] = child.id
            st.session_state["watching"] = child.id
