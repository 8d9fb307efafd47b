"""Signing in to a class: who the person at a page is, and the token that keeps them signed in.

Alone (no class settings), nobody signs in. A class is on when the server has a class code
(`CIFAR_CLASS_CODE`) or an `[auth]` section for OpenID Connect accounts. Then a student signs
in with a name and the class code, or with the school's account; the teacher with the teacher
password (`CIFAR_TEACHER_PASSWORD`) or as a listed account (`CIFAR_TEACHERS`).

A sign-in with the code gives a token: its fields and an HMAC-SHA256 over them with a secret
that the server keeps in `<runs>/.class/secret`, so it holds across reloads, tabs and restarts
until it expires (the class's sign-in hours). A name is held by one sign-in at a time, compared
after NFKC and case folding, until it expires, its holder signs out or the teacher releases it:
a released name's tokens no longer hold. Wrong codes are slowed down per name and address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cifar.atomic import read_json, write_json_atomic
from cifar.errors import CifarError, NotAllowed, RunError, SignInError, os_errors_as
from cifar.launch.rules import read_rules
from cifar.runs.audit import class_lock, record
from cifar.runs.layout import ClassFiles
from cifar.runs.owner import Person, class_name, fold_name

SETTING_NAMES = ("CIFAR_CLASS_CODE", "CIFAR_TEACHER_PASSWORD", "CIFAR_TEACHERS")
TEACHER_NAME = "Teacher"
TRIES_PER_MINUTE = 5  # wrong codes or passwords for one name from one address
_WINDOW_SECONDS = 60.0
_CLOCK_SKEW_SECONDS = 60.0
_WRITABLE = "check that the runs folder is writable and the disk has room"


@dataclass(frozen=True)
class ClassSettings:
    """How the server was started: alone, or for a class and how its people sign in."""

    code: str = ""  # the class code students sign in with ("" : no sign-in by code)
    teacher_password: str = ""
    teachers: frozenset[str] = frozenset()  # teachers' account e-mails, lower case
    accounts: bool = False  # an [auth] section: sign-in with OpenID Connect accounts (st.login)

    @property
    def on(self) -> bool:
        """Whether this is a class (everyone signs in) rather than one person alone."""
        return bool(self.code) or self.accounts

    def problems(self) -> list[str]:
        """What in the settings leaves someone unable to sign in, in words."""
        found = []
        if self.code and not self.teacher_password and not (self.accounts and self.teachers):
            found.append(
                "CIFAR_CLASS_CODE is set but CIFAR_TEACHER_PASSWORD is not (nor CIFAR_TEACHERS with accounts): "
                "nobody can sign in as the teacher. Set it and restart the app."
            )
        if self.accounts and not self.teachers and not self.teacher_password:
            found.append("Accounts can sign in but no teacher is listed: set CIFAR_TEACHERS and restart the app.")
        return found


def class_settings(environ: Mapping[str, str], secrets_: Mapping[str, Any]) -> ClassSettings:
    """The class settings from the environment, else the same keys in Streamlit's secrets.

    Args:
        environ: the environment (`os.environ`).
        secrets_: `.streamlit/secrets.toml` as a mapping (empty when there is none); an `auth`
            section turns sign-in with accounts on.
    """

    def setting(key: str) -> str:
        value = environ.get(key) or secrets_.get(key) or ""
        return str(value).strip()

    teachers = frozenset(mail.strip().lower() for mail in setting("CIFAR_TEACHERS").split(",") if mail.strip())
    return ClassSettings(
        code=setting("CIFAR_CLASS_CODE"),
        teacher_password=setting("CIFAR_TEACHER_PASSWORD"),
        teachers=teachers,
        accounts=isinstance(secrets_.get("auth"), Mapping),
    )


@dataclass(frozen=True)
class SignedIn:
    """A person who has just signed in, and the token that keeps them signed in."""

    person: Person
    token: str
    expires: float  # Unix time


def _now() -> float:
    """Unix time; one function, so a test can move the clock."""
    return time.time()


# --- wrong tries ---------------------------------------------------------------------------

_TRIES: dict[tuple[str, str], deque[float]] = defaultdict(deque)
_TRIES_LOCK = threading.Lock()


def _wait_before_trying(key: tuple[str, str], now: float) -> float:
    """Seconds until `key` may try again; 0 when it may now."""
    with _TRIES_LOCK:
        tries = _TRIES[key]
        while tries and tries[0] <= now - _WINDOW_SECONDS:
            tries.popleft()
        if len(tries) < TRIES_PER_MINUTE:
            return 0.0
        return tries[0] + _WINDOW_SECONDS - now


def _count_wrong_try(key: tuple[str, str], now: float) -> None:
    with _TRIES_LOCK:
        _TRIES[key].append(now)


def _slow_down(key: tuple[str, str], now: float) -> None:
    wait = _wait_before_trying(key, now)
    if wait > 0:
        raise SignInError(
            f"Too many wrong tries from this computer for this name: wait {max(1, round(wait))} s, then try again "
            "(ask your teacher for the class code)."
        )


# --- tokens --------------------------------------------------------------------------------


def _class_id(settings: ClassSettings, role: str) -> str:
    """What ties a token to this class: a new code (or teacher password) makes old tokens void."""
    secret = settings.teacher_password if role == "teacher" else settings.code
    return hashlib.sha256(f"{role}:{secret}".encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(runs: Path, create: bool) -> bytes | None:
    """The server's signing key; made (readable by the server alone) on the first sign-in."""
    path = ClassFiles(runs).secret
    key = _read_key(path)
    if key is not None or not create:
        return key
    with os_errors_as(RunError, "Could not keep the sign-in key", _WRITABLE), class_lock(runs):
        key = _read_key(path)  # another sign-in may have made it meanwhile
        if key is None:
            # Whole or not at all: a key read half-written would sign tokens that no longer hold.
            temporary = path.with_name(f".secret-{secrets.token_hex(4)}")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
            os.replace(temporary, path)
            key = _read_key(path)
    return key


def _read_key(path: Path) -> bytes | None:
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return key if len(key) == 32 else None


def _sign(key: bytes, fields: dict[str, Any]) -> str:
    body = _b64(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def _token_fields(token: str, key: bytes) -> dict[str, Any] | None:
    """A token's fields when its signature holds; None for anything else."""
    if not isinstance(token, str) or len(token) > 2000 or token.count(".") != 1:
        return None
    body, signature = token.split(".")
    try:
        expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature, expected):
            return None
        fields = json.loads(_unb64(body))
    except (ValueError, UnicodeError):
        return None
    return fields if isinstance(fields, dict) else None


def person_from_token(token: str | None, settings: ClassSettings, runs: Path, session: str = "") -> Person | None:
    """The person a token signs in, while it holds: its signature, its class, its time, and for a
    student their name still held by this very sign-in. None for anything else (never raises)."""
    if not token or not settings.on:
        return None
    key = _key(runs, create=False)
    fields = _token_fields(token, key) if key else None
    if fields is None:
        return None
    role, name, issued = fields.get("r"), fields.get("n"), fields.get("t")
    if role not in ("student", "teacher") or not isinstance(name, str) or not isinstance(issued, int | float):
        return None
    if fields.get("c") != _class_id(settings, role) or (role == "teacher" and not settings.teacher_password):
        return None
    now = _now()
    if not issued - _CLOCK_SKEW_SECONDS <= now < issued + read_rules(runs).sign_in_hours * 3600:
        return None
    if role == "student" and _holder(runs, fold_name(name), now) != fields.get("j"):
        return None  # released, or signed out
    if role == "student":
        return Person(name, f"name:{fold_name(name)}", "class code", "student", session)
    return Person(TEACHER_NAME, "teacher", "teacher password", "teacher", session)


# --- names ---------------------------------------------------------------------------------


def _names(runs: Path) -> dict[str, dict[str, Any]]:
    found = read_json(ClassFiles(runs).names)
    return found if isinstance(found, dict) else {}


def _live(claim: Any, now: float, hours: float) -> bool:
    return (
        isinstance(claim, dict) and isinstance(claim.get("since"), int | float) and now < claim["since"] + hours * 3600
    )


def _holder(runs: Path, folded: str, now: float) -> str | None:
    """The sign-in that holds a name now, by its id; None when nobody does."""
    claim = _names(runs).get(folded)
    return claim.get("claim") if _live(claim, now, read_rules(runs).sign_in_hours) else None


def signed_in_names(runs: Path) -> list[tuple[str, float]]:
    """The names held now, with when each signed in (Unix time), in that order."""
    now, hours = _now(), read_rules(runs).sign_in_hours
    held = [(claim["name"], claim["since"]) for claim in _names(runs).values() if _live(claim, now, hours)]
    return sorted(held, key=lambda pair: pair[1])


def sign_in_with_code(
    settings: ClassSettings, runs: Path, name: str, code: str, address: str = "", session: str = ""
) -> SignedIn:
    """Sign a student in under `name` with the class code.

    Args:
        address: the client's address, which wrong tries are counted by with the name.

    Raises:
        SignInError: wrong code, too many wrong tries (how long to wait), the name held by
            someone else, or no sign-in by code in this class.
        ConfigError: the name cannot be used (empty, too long, control, invisible or look-alike characters).
        RunError: the runs folder cannot be written.
    """
    if not settings.code:
        raise SignInError("This class signs in with accounts, not a class code: use the sign-in button.")
    now = _now()
    typed = Person(str(name)[:80], how="class code", role="student", session=session)
    try:
        clean = class_name(name)
        folded = fold_name(clean)
        tries = (folded, address)
        _slow_down(tries, now)
        if not hmac.compare_digest(str(code).strip().encode(), settings.code.encode()):
            _count_wrong_try(tries, now)
            raise SignInError("That is not the class code: check it with your teacher (it is case-sensitive).")
        person = Person(clean, f"name:{folded}", "class code", "student", session)
        signed = _claim(settings, runs, person, folded, now)
    except CifarError as error:
        record(runs, typed, "sign in", outcome="refused", detail=str(error))
        raise
    record(runs, person, "sign in")
    return signed


def _claim(settings: ClassSettings, runs: Path, person: Person, folded: str, now: float) -> SignedIn:
    """Hold the name for this sign-in, unless another holds it; one of two at once wins."""
    hours = read_rules(runs).sign_in_hours
    key = _key(runs, create=True)
    with os_errors_as(RunError, "Could not keep the sign-in", _WRITABLE), class_lock(runs):
        names = _names(runs)
        held = names.get(folded)
        if _live(held, now, hours):
            raise SignInError(
                f"Someone is signed in as “{held['name']}” already. Pick another name, or if it is you on "
                "another computer, ask the teacher to release your name."
            )
        claim = secrets.token_hex(8)
        names[folded] = {"name": person.name, "claim": claim, "since": now}
        write_json_atomic(ClassFiles(runs).names, names)
    fields = {"r": "student", "n": person.name, "c": _class_id(settings, "student"), "t": now, "j": claim}
    return SignedIn(person, _sign(key, fields), now + hours * 3600)


def sign_in_teacher(
    settings: ClassSettings, runs: Path, password: str, address: str = "", session: str = ""
) -> SignedIn:
    """Sign the teacher in with the teacher password.

    Raises:
        SignInError: wrong password, too many wrong tries, or no teacher password on this server.
        RunError: the runs folder cannot be written.
    """
    now = _now()
    person = Person(TEACHER_NAME, "teacher", "teacher password", "teacher", session)
    tries = ("\0teacher", address)
    try:
        if not settings.teacher_password:
            raise SignInError("This server has no teacher password: teachers sign in with their account.")
        _slow_down(tries, now)
        if not hmac.compare_digest(str(password).encode(), settings.teacher_password.encode()):
            _count_wrong_try(tries, now)
            raise SignInError("That is not the teacher password.")
    except SignInError as error:
        record(runs, person, "sign in as the teacher", outcome="refused", detail=str(error))
        raise
    hours = read_rules(runs).sign_in_hours
    fields = {"r": "teacher", "n": TEACHER_NAME, "c": _class_id(settings, "teacher"), "t": now}
    token = _sign(_key(runs, create=True), fields)
    record(runs, person, "sign in as the teacher")
    return SignedIn(person, token, now + hours * 3600)


def person_from_account(settings: ClassSettings, email: str, name: str = "", session: str = "") -> Person:
    """The person an OpenID Connect account signs in: their e-mail is who they are, shown by
    their name; a teacher where CIFAR_TEACHERS lists the e-mail.

    Raises:
        SignInError: the provider gave no e-mail address.
    """
    address = str(email or "").strip().lower()
    if "@" not in address:
        raise SignInError("Your account gave no e-mail address, which the class knows you by: ask your teacher.")
    shown = " ".join(str(name or "").split())[:40] or address
    role = "teacher" if address in settings.teachers else "student"
    return Person(shown, f"account:{address}", "account", role, session)


def sign_out(person: Person, token: str | None, settings: ClassSettings, runs: Path) -> None:
    """End this sign-in: the name it holds is free again, and its token holds no more."""
    key = _key(runs, create=False)
    fields = _token_fields(token, key) if token and key else None
    if fields and fields.get("r") == "student":
        folded = fold_name(str(fields.get("n")))
        with os_errors_as(RunError, "Could not sign out", _WRITABLE), class_lock(runs):
            names = _names(runs)
            if names.get(folded, {}).get("claim") == fields.get("j"):
                del names[folded]
                write_json_atomic(ClassFiles(runs).names, names)
    record(runs, person, "sign out")


def release_name(person: Person, name: str, runs: Path) -> bool:
    """Free a name a student is signed in under (the teacher's key): its sign-in ends.

    Returns:
        Whether the name was held.

    Raises:
        NotAllowed: `person` is not a teacher.
        RunError: the runs folder cannot be written.
    """
    if person.role not in ("teacher", "administrator"):
        record(runs, person, "release a name", outcome="refused", detail=f"{name}: only a teacher may")
        raise NotAllowed("Only a teacher may release a name.")
    folded = fold_name(str(name))
    with os_errors_as(RunError, "Could not release the name", _WRITABLE), class_lock(runs):
        names = _names(runs)
        held = names.pop(folded, None) is not None
        if held:
            write_json_atomic(ClassFiles(runs).names, names)
    record(runs, person, "release a name", detail=name)
    return held
