"""Who is at this page: alone, the sidebar's name; in a class, the person signed in.

In a class (cifar/classroom/signin.py says when), nothing shows until the person has signed in:
with a name and the class code, the teacher password, or the school's account (`st.login`).
A sign-in with the code is kept in a cookie the browser sends when a tab opens, so a reload, a
second tab or a restarted server keeps it; it never sits in the page's address, so no link
carries it.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.parse

import streamlit as st

from cifar.classroom.signin import (
    ClassSettings,
    SignedIn,
    class_settings,
    client_address,
    load_secrets,
    person_from_account,
    person_from_token,
    safe_return_path,
    sign_in_teacher,
    sign_in_with_code,
    sign_out,
)
from cifar.errors import CifarError, ConfigError
from cifar.runs.audit import record
from cifar.runs.owner import Person, alone
from cifar.runs.run import runs_root
from pages.shared.who import current_who

TOKEN_COOKIE = "cifar_class_token"
# st.login comes back to the app's first page: where the person was (a teacher's link) is kept
# in this cookie for the way back.
RETURN_COOKIE = "cifar_return"
_TOKEN, _IGNORED_COOKIE, _ACCOUNT_RECORDED = "class_token", "class_cookie_ignored", "class_account_recorded"
_SIGNED_OUT = "class_signed_out"


COOKIE_DAYS = 30  # the browser keeps its last token this long, to renew its name with the code


def settings() -> ClassSettings:
    """How this server was started: alone, or for a class.

    Raises:
        ConfigError: a secrets file exists that cannot be read (the class's settings may be in it).
    """
    return class_settings(os.environ, load_secrets(st.get_option("secrets.files")))


def _session() -> str:
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = secrets.token_hex(4)
    return st.session_state["session_id"]


def _address(config: ClassSettings) -> str:
    return client_address(st.context.ip_address, st.context.headers.get("X-Forwarded-For", ""), config.trusted_proxies)


def _cookie() -> str | None:
    cookie = st.context.cookies.get(TOKEN_COOKIE)
    if cookie and cookie == st.session_state.get(_IGNORED_COOKIE):
        return None  # signed out in this session: the tab's cookie was sent before that
    return cookie


def _token() -> str | None:
    return st.session_state.get(_TOKEN) or _cookie()


def signed_in_person(config: ClassSettings) -> Person | None:
    """The person signed in at this session, or None."""
    runs, session = runs_root(), _session()
    person = person_from_token(_token(), config, runs, session)
    if person is not None:
        return person
    st.session_state.pop(_TOKEN, None)
    if config.accounts and st.user.is_logged_in:
        user = st.user
        try:
            person = person_from_account(
                config, user.get("email"), user.get("name"), session, user.get("email_verified")
            )
            if not st.session_state.get(_ACCOUNT_RECORDED):
                record(runs, person, "sign in")
                st.session_state[_ACCOUNT_RECORDED] = True
        except CifarError as error:
            st.error(str(error))
            return None
        # On every run until the browser has gone back: a rerun may replace a run's output
        # before the browser ran its script.
        _back_to_where_they_were()
        return person
    return None


def needs_sign_in() -> bool:
    """Whether this session must sign in (or read why the server cannot tell) before it sees anything."""
    try:
        config = settings()
    except CifarError:
        return True
    return config.on and signed_in_person(config) is None


def current_person() -> Person:
    """Who acts from this page. Alone: the one person, under the sidebar's name. In a class:
    the person signed in; anyone else sees the sign-in and nothing more (the page stops)."""
    try:
        config = settings()
    except CifarError as error:
        st.error(f"**This server's settings cannot be read, so nobody can sign in.** {error}")
        st.stop()
    if not config.on:
        return alone(current_who(), _session())
    person = signed_in_person(config)
    if person is None:
        if st.session_state.get(_IGNORED_COOKIE):
            _set_cookie("", max_age=0)  # signed out: the browser forgets the token too
        sign_in_form(config)
        st.stop()
    _keep_cookie()
    return person


def _keep_cookie() -> None:
    """Have the browser keep this session's token, for the tabs it opens next (none when it has it)."""
    token = st.session_state.get(_TOKEN)
    if token and st.context.cookies.get(TOKEN_COOKIE) != token:
        _set_cookie(token, max_age=COOKIE_DAYS * 24 * 3600)


def _js(value: str) -> str:
    """`value` as a JavaScript string that cannot end the <script> it sits in."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _set_cookie(value: str, max_age: int) -> None:
    script = (
        f"document.cookie = {_js(TOKEN_COOKIE)} + '=' + {_js(value)} + '; path=/; max-age={max_age}; SameSite=Strict'"
        " + (location.protocol === 'https:' ? '; Secure' : '');"
    )
    st.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


def _remember_where() -> None:
    """Keep this page's address for the way back from the account's provider."""
    script = (
        f"document.cookie = {_js(RETURN_COOKIE)} + '=' + encodeURIComponent(location.pathname + "
        "location.search) + '; path=/; max-age=900; SameSite=Lax';"
    )
    st.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


def _back_to_where_they_were() -> None:
    """Once signed in with an account, open the page they were on (a path of this app only)."""
    where = safe_return_path(urllib.parse.unquote(st.context.cookies.get(RETURN_COOKIE, "")))
    if where is None:
        return
    script = (
        f"document.cookie = {_js(RETURN_COOKIE)} + '=; path=/; max-age=0; SameSite=Lax';"
        f"window.location.replace({_js(where)});"
    )
    st.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


def _signed(signed: SignedIn) -> None:
    st.session_state[_TOKEN] = signed.token
    st.session_state.pop(_IGNORED_COOKIE, None)
    st.rerun()


def sign_in_form(config: ClassSettings) -> None:
    """The ways in this class offers to sign in; a sign-in that works reruns the page."""
    st.title("Sign in to the class")
    st.caption("Your teacher has set this app up for the class: sign in, and the runs you launch are yours.")
    if st.session_state.get(_SIGNED_OUT):
        st.info(st.session_state[_SIGNED_OUT])
    for problem in config.problems():
        st.warning(problem)
    if config.accounts:
        _remember_where()
        st.button("Sign in with your school account", type="primary", on_click=st.login, key="signin_account")
    if config.code:
        _code_form(config)
    if config.teacher_password:
        with st.expander("I am the teacher"):
            _teacher_form(config)


def _code_form(config: ClassSettings) -> None:
    with st.form("signin_code"):
        name = st.text_input("Your name", max_chars=80, key="signin_name", help="The class sees it beside your runs.")
        code = st.text_input("Class code", type="password", key="signin_code_value", help="Your teacher has it.")
        if not st.form_submit_button("Sign in", type="primary"):
            return
        try:
            signed = sign_in_with_code(config, runs_root(), name, code, _address(config), _session(), _cookie())
        except ConfigError as error:
            st.error(f"That name cannot be used: {error}")
        except CifarError as error:
            st.error(str(error))
        else:
            _signed(signed)


def _teacher_form(config: ClassSettings) -> None:
    with st.form("signin_teacher"):
        password = st.text_input("Teacher password", type="password", key="signin_teacher_password")
        if not st.form_submit_button("Sign in as the teacher"):
            return
        try:
            signed = sign_in_teacher(config, runs_root(), password, _address(config), _session())
        except CifarError as error:
            st.error(str(error))
        else:
            _signed(signed)


def signed_in_line(person: Person) -> None:
    """The sidebar's line in a class: who you are, and a way out."""
    if person.how == "teacher password":
        st.markdown("Signed in as the **teacher**")
    else:
        st.markdown(f"Signed in as **{person.name}**" + (" (teacher)" if person.teacher else ""))
    if st.button("Sign out", key="sign_out"):
        try:
            st.session_state[_SIGNED_OUT] = sign_out(person, _token(), settings(), runs_root())
        except CifarError as error:
            st.error(str(error))
            return
        st.session_state[_IGNORED_COOKIE] = st.context.cookies.get(TOKEN_COOKIE)
        st.session_state.pop(_TOKEN, None)
        _set_cookie("", max_age=0)
        if person.how == "account":
            st.logout()
        st.rerun()
