"""The Train page's controls: a preset picker and a widget for every field of the config table,
grouped in tabs; each widget is made from its field's description (cifar/config/settings.py)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from cifar.classroom.lessons import APP_PARAMS, Lesson, read_link
from cifar.config.fields import GROUPS, Field
from cifar.config.presets import ABLATION_HOLDOUT, PRESETS, ablation_rows, preset
from cifar.config.settings import FIELDS, MAX_EPOCHS, ModelConfig
from cifar.errors import CifarError
from cifar.launch import launcher
from cifar.launch.estimate import estimate_seconds
from cifar.runs.owner import Person, may_act
from cifar.runs.progress import describe_duration
from pages.shared.common import RUN_PARAM, selected_run


def _key(name: str, block: int | None = None) -> str:
    return f"cfg_{name}" if block is None else f"cfg_{name}_{block}"


def _max_blocks(field: Field) -> int:
    return FIELDS[field.count_field].high


def _apply_preset() -> None:
    _load(preset(st.session_state["preset"]))


def _load(config: ModelConfig) -> None:
    """Set every widget to `config`'s value."""
    for name, field in FIELDS.items():
        value = getattr(config, name)
        if field.widget == "per_block":
            values = field.per_block(value, _max_blocks(field)) if len(value) == 1 else value
            for block in range(_max_blocks(field)):
                st.session_state[_key(name, block)] = values[min(block, len(values) - 1)]
        else:
            st.session_state[_key(name)] = field.to_widget(value)


def _link_params() -> dict[str, list[str]]:
    """The address's parameters that describe a lesson (not the run or image shown)."""
    return {key: st.query_params.get_all(key) for key in st.query_params if key not in APP_PARAMS}


def apply_link() -> Lesson | None:
    """Apply a teacher's link once, when this session first sees it: its preset, its values,
    its hidden controls. Later changes on the page are the student's own."""
    params = _link_params()
    if not params:
        return st.session_state.get("lesson")
    signature = repr(sorted(params.items()))
    if st.session_state.get("applied_link") != signature:
        lesson = read_link(params)
        st.session_state["applied_link"] = signature
        st.session_state["lesson"] = lesson
        st.session_state["preset"] = lesson.preset
        _load(lesson.config())
    return st.session_state.get("lesson")


def preset_picker() -> None:
    lesson = apply_link()
    if _key("epochs") not in st.session_state:
        st.session_state.setdefault("preset", "tutorial")
        _apply_preset()
    if lesson is not None:
        for problem in lesson.problems:
            st.warning(problem, icon=":material/link_off:")
    st.selectbox(
        "Start from a preset",
        list(PRESETS),
        key="preset",
        on_change=_apply_preset,
        help=" ".join(f"{name}: {each.note}; {each.measured_words}." for name, each in PRESETS.items()),
    )
    chosen = PRESETS[st.session_state["preset"]]
    st.caption(f"`{chosen.name}`: {chosen.note}. Measured: {chosen.measured_words}.")
    worths = ablation_rows(chosen.name)
    if worths:
        with st.expander("What each technique is worth"):
            st.caption(
                f"`{chosen.name}` with one technique changed a row, one run each (seed 0), tested on "
                f"{ABLATION_HOLDOUT:,} training images held out from its training, never on the test set."
                + (
                    f" Its seeds alone moved its test accuracy by {chosen.seed_spread_points:.1f} points: "
                    "a smaller change may be chance."
                    if chosen.seed_spread_points
                    else ""
                )
            )
            st.table(worths, hide_index=True)  # a static table wraps its cells: every column shows on a phone


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
    """The config the widgets describe, or None after showing why it is not valid. The fields
    a teacher's link hides get no widget and keep the link's values."""
    fixed = _hidden_values()
    groups = [group for group in GROUPS if any(f.group == group and n not in fixed for n, f in FIELDS.items())]
    values: dict[str, Any] = dict(fixed)
    for tab, group in zip(st.tabs(groups) if groups else [], groups, strict=True):
        with tab:
            for name, field in FIELDS.items():
                if field.group != group or name in fixed:
                    continue
                if field.widget == "per_block":
                    values[name] = _per_block_widget(field, int(values[field.count_field]))
                else:
                    values[name] = _widget(field)
    for name in fixed:
        field = FIELDS[name]
        if field.widget == "per_block" and len(values[name]) > 1:  # the blocks shown may be fewer or more
            blocks = int(values[field.count_field])
            values[name] = tuple(values[name][min(block, len(values[name]) - 1)] for block in range(blocks))
    if fixed:
        shown = ", ".join(f"{FIELDS[name].label.lower()} {FIELDS[name].show(values[name])}" for name in fixed)
        st.caption(f":material/lock: Set by this lesson's link: {shown}.")
    try:
        return ModelConfig(**values)
    except CifarError as error:
        st.error(f"This network cannot be built: {error}")
        return None


def _hidden_values() -> dict[str, Any]:
    """The link's value of every field it hides, in table order."""
    lesson = st.session_state.get("lesson")
    if lesson is None or not lesson.hidden:
        return {}
    config = lesson.config()
    return {name: getattr(config, name) for name in FIELDS if name in lesson.hidden}


def continue_run(person: Person, train_images: int, test_images: int, can_train: bool) -> None:
    """Continue the selected run for more epochs, as a new run of `person`'s that carries on its curves."""
    run = selected_run()
    with st.expander("Continue a run for more epochs", expanded=False):
        if run is None:
            st.caption("Once a run has finished an epoch, it can be trained further from here.")
            return
        written = run.written_status()
        if not may_act(person, written.owner):
            st.caption(f"Run **{run.id}** is {written.who or 'not yours'}'s: only they and a teacher may continue it.")
            return
        state, done = launcher.status(run).state, len(run.history().get("epoch") or [])
        st.markdown(f"Run **{run.id}**: {state}, {done} epoch{'s' if done != 1 else ''} trained.")
        try:
            launcher.check_continuable(run)
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
                child = launcher.resume(run, int(more), person=person)
            except CifarError as error:
                st.error(f"Could not continue {run.id}: {error}")
                return
            st.query_params[RUN_PARAM] = child.id
            st.session_state["watching"] = child.id
