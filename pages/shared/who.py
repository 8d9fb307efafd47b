"""Who is at the keyboard: the sidebar's name field, kept in the address as `?who=`."""

from __future__ import annotations

import streamlit as st

from cifar.classroom.lessons import WHO_PARAM
from cifar.errors import CifarError
from cifar.runs.owner import clean_who


def current_who() -> str:
    """The name this session launches under: the sidebar's field, else the address's `?who=`."""
    try:
        return clean_who(st.session_state.get(WHO_PARAM, st.query_params.get(WHO_PARAM)))
    except CifarError:
        return ""  # the sidebar says what is wrong with it


def who_field() -> None:
    """Your name, kept in the address (`?who=`) so a bookmark or a reload keeps it."""
    if WHO_PARAM not in st.session_state:
        st.session_state[WHO_PARAM] = st.query_params.get(WHO_PARAM, "")
    typed = st.text_input(
        "Your name",
        key=WHO_PARAM,
        placeholder="so the class sees whose run it is",
        help="Saved with every run you launch. The Runs page and the class board show it.",
    )
    try:
        name = clean_who(typed)
    except CifarError as error:
        st.error(f"Your runs are saved without a name until it is fixed: {error}")
        return
    if st.query_params.get(WHO_PARAM, "") != name:
        if name:
            st.query_params[WHO_PARAM] = name
        else:
            del st.query_params[WHO_PARAM]
