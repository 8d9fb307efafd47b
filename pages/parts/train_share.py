"""The Train page's "Share this setup": the link that opens the page on what is on screen."""

from __future__ import annotations

import streamlit as st

from cifar.classroom.lessons import lesson_link
from cifar.config.presets import changed_fields
from cifar.config.settings import FIELDS, ModelConfig


def _absolute(link: str) -> str:
    """`link` (relative to the app) as a full address, where the browser told us the page's own."""
    here = st.context.url or ""
    if "://" not in here:
        return link
    return here.split("?", 1)[0].rsplit("/", 1)[0] + "/" + link


def share_setup(config: ModelConfig) -> None:
    """A teacher's link: the preset, what differs from it, and which controls to hide."""
    with st.expander("Share this setup", icon=":material/share:"):
        preset_name = st.session_state.get("preset", "tutorial")
        changed = changed_fields(config, preset_name)
        hide_unchanged = st.toggle(
            "Hide what is unchanged from the preset",
            key="share_hide_unchanged",
            help="Students then see only the controls this lesson changes; the rest keep the preset's values.",
        )
        hide = st.multiselect(
            "Hide these controls too",
            list(FIELDS),
            format_func=lambda name: FIELDS[name].label,
            key="share_hide",
            help="A hidden control keeps the value it has here.",
        )
        hidden = set(hide) | ({name for name in FIELDS if name not in changed} if hide_unchanged else set())
        link = lesson_link(config, preset_name, sorted(hidden))
        st.code(_absolute(link), language=None, wrap_lines=True)
        differs = ", ".join(FIELDS[name].label.lower() for name in changed) or "nothing"
        st.caption(
            f"Opens Train on the **{preset_name}** preset with {differs} changed"
            + (f", and {len(hidden)} control{'s' if len(hidden) != 1 else ''} hidden." if hidden else ".")
            + " Anyone can still change what is shown; a hidden control keeps its value."
        )
