"""Signing in to a class: who the person at a page is, and the token that keeps them signed in.

Alone (no class settings), nobody signs in. A class is on when the server has a class code
(`CIFAR_CLASS_CODE`) or an `[auth]` section for OpenID Connect accounts. Then a student signs
in with a name and the class code, or with the school's account; the teacher with the teacher
password (`CIFAR_TEACHER_PASSWORD`) or as a listed account (`CIFAR_TEACHERS`).

A sign-in gives a signed token (cifar/classroom/tokens.py) that holds for the class's sign-in
hours. A name is held by the first sign-in under it, compared after NFKC and case folding, and
stays held, so that nobody else ever acts on its runs: its holder's browser renews it with the
class code once the token has expired, and only the teacher's release (or its holder signing
out before launching anything) frees it for someone else. Wrong codes and passwords are slowed
down per name and address, and per name from anywhere (cifar/classroom/throttle.py).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cifar.atomic import read_json, write_json_atomic
from cifar.classroom import tokens
from cifar.classroom.throttle import Throttle
from cifar.errors import CifarError, ConfigError, NotAllowed, RunError, SignInError, os_errors_as
from cifar.launch.rules import read_rules
from cifar.runs.audit import class_lock, record
from cifar.runs.layout import ClassFiles
from cifar.runs.owner import Person, class_name, clean_who, fold_name
from cifar.runs.run import list_runs

TEACHER_NAME = "Teacher"
TRIES_PER_MINUTE = 5  # wrong codes (or teacher passwords) for one name from one address
TRIES_PER_MINUTE_ANYWHERE = 20  # for one name from every address together
WRONG_TRIES = Throttle()
_CLOCK_SKEW_SECONDS = 60.0
_TEACHER_CLAIM = "\0teacher "  # names.json keys of teachers' sign-ins; no folded name starts so
_WRITABLE = "check that the runs folder is writable and the disk has room"
# The pages of this app, with a query of plain characters: where a sign-in may send a browser back to.
_RETURN_PATH = re.compile(r"/[a-z]{0,20}(\?[A-Za-z0-9_=,&%.+\-]{0,1000})?")


@dataclass(frozen=True)
class ClassSettings:
    """How the server was started: alone, or for a class and how its people sign in."""

    code: str = ""  # the class code students sign in with ("" : no sign-in by code)
    teacher_password: str = ""
    teachers: frozenset[str] = frozenset()  # teachers' account e-mails, lower case
    accounts: bool = False  # an [auth] section: sign-in with OpenID Connect accounts (st.login)
    trusted_proxies: frozenset[str] = frozenset()  # proxies whose X-Forwarded-For is believed

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


def load_secrets(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Streamlit's secrets files (later ones win), read as Streamlit reads them.

    Raises:
        ConfigError: a file exists but is not valid TOML: the class's settings in it would be
            lost without a word, so the app must not start a class (or run alone) on half of them.
    """
    merged: dict[str, Any] = {}
    for path in map(Path, paths):
        if not path.is_file():
            continue
        try:
            merged.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(
                f'{path} cannot be read ({error}): fix it (it is TOML: KEY = "value") and restart the app. '
                "Until then nobody can sign in."
            ) from error
    return merged


def class_settings(environ: Mapping[str, str], secrets_: Mapping[str, Any]) -> ClassSettings:
    """The class settings from the environment, else the same keys in Streamlit's secrets.

    Args:
        environ: the environment (`os.environ`).
        secrets_: `.streamlit/secrets.toml` as a mapping (`load_secrets`); an `auth` section turns
            sign-in with accounts on.
    """

    def setting(key: str) -> str:
        value = environ.get(key) or secrets_.get(key) or ""
        return str(value).strip()

    def listed(key: str) -> frozenset[str]:
        return frozenset(item.strip().lower() for item in setting(key).split(",") if item.strip())

    return ClassSettings(
        code=setting("CIFAR_CLASS_CODE"),
        teacher_password=setting("CIFAR_TEACHER_PASSWORD"),
        teachers=listed("CIFAR_TEACHERS"),
        accounts=isinstance(secrets_.get("auth"), Mapping),
        trusted_proxies=listed("CIFAR_TRUSTED_PROXIES"),
    )


def client_address(peer: str | None, forwarded_for: str, trusted_proxies: frozenset[str]) -> str:
    """The browser's address: the connection's, unless it comes from a trusted proxy; then the
    right-most X-Forwarded-For entry that is not a trusted proxy (entries to its left are the
    browser's own words, which a browser can forge)."""
    address = peer or ""
    if address not in trusted_proxies:
        return address
    for entry in reversed([item.strip() for item in forwarded_for.split(",") if item.strip()]):
        if entry not in trusted_proxies:
            try:
                return str(ipaddress.ip_address(entry))
            except ValueError:
                return address
    return address


def safe_return_path(text: str | None) -> str | None:
    """`text` where it is a page of this app with a plain query (`/train?preset=quick`); else None."""
    if not text or text == "/" or not _RETURN_PATH.fullmatch(text):
        return None
    return text


@dataclass(frozen=True)
class SignedIn:
    """A person who has just signed in, and the token that keeps them signed in."""

    person: Person
    token: str
    expires: float  # Unix time


@dataclass(frozen=True)
class HeldName:
    """A name held by a sign-in."""

    name: str  # as they typed it
    folded: str  # as names are compared
    since: float  # Unix time of the sign-in that holds it


def _now() -> float:
    """Unix time; one function, so a test can move the clock."""
    return time.time()


def _student(name: str, session: str) -> Person:
    return Person(name, f"name:{fold_name(name)}", "class code", "student", session)


def _teacher(session: str) -> Person:
    return Person(TEACHER_NAME, "teacher", "teacher password", "teacher", session)


def _secret_of(settings: ClassSettings, role: str) -> str:
    return settings.teacher_password if role == "teacher" else settings.code


def _claims(runs: Path) -> dict[str, dict[str, Any]]:
    found = read_json(ClassFiles(runs).names)
    return found if isinstance(found, dict) else {}


def _fields(token: str | None, settings: ClassSettings, runs: Path) -> dict[str, Any] | None:
    """A token's fields where it is signed by this server for this class; its time not checked."""
    key = tokens.signing_key(runs)
    fields = tokens.read_token(token, key)
    if fields is None or key is None:
        return None
    role, name = fields.get("r"), fields.get("n")
    if role not in ("student", "teacher") or not isinstance(name, str) or not _secret_of(settings, role):
        return None
    if not hmac.compare_digest(str(fields.get("c")), tokens.class_id(key, role, _secret_of(settings, role))):
        return None
    return fields


def _claim_key(fields: dict[str, Any]) -> str:
    return f"{_TEACHER_CLAIM}{fields.get('j')}" if fields.get("r") == "teacher" else fold_name(str(fields.get("n")))


def person_from_token(token: str | None, settings: ClassSettings, runs: Path, session: str = "") -> Person | None:
    """The person a token signs in, while it holds; None for anything else (never raises).

    It holds when this server signed it for this class, within the class's sign-in hours, and
    the sign-in it carries still holds its name (not released, not signed out).
    """
    if not token or not settings.on:
        return None
    fields = _fields(token, settings, runs)
    issued = fields.get("t") if fields else None
    if fields is None or not isinstance(issued, int | float):
        return None
    if not issued - _CLOCK_SKEW_SECONDS <= _now() < issued + read_rules(runs).sign_in_hours * 3600:
        return None
    if _claims(runs).get(_claim_key(fields), {}).get("claim") != fields.get("j"):
        return None
    return _teacher(session) if fields["r"] == "teacher" else _student(fields["n"], session)


def held_names(runs: Path) -> list[HeldName]:
    """The names held by students' sign-ins, oldest sign-in first."""
    held = [
        HeldName(claim.get("name", folded), folded, float(claim.get("since", 0)))
        for folded, claim in _claims(runs).items()
        if isinstance(claim, dict) and not folded.startswith(_TEACHER_CLAIM)
    ]
    return sorted(held, key=lambda name: name.since)


def _slow_down(limits: list[tuple[tuple, int]], now: float) -> None:
    wait = WRONG_TRIES.wait(limits, now)
    if wait > 0:
        error = SignInError(
            f"Too many wrong tries for this name: wait {max(1, round(wait))} s, then try again "
            "(ask your teacher for the class code)."
        )
        error.said_before = not WRONG_TRIES.first_refusal(limits[0][0], now)
        raise error


def sign_in_with_code(
    settings: ClassSettings,
    runs: Path,
    name: str,
    code: str,
    address: str = "",
    session: str = "",
    previous_token: str | None = None,
) -> SignedIn:
    """Sign a student in under `name` with the class code.

    Args:
        settings: the class's settings (its code).
        runs: the runs folder, which keeps the names held and the audit log.
        name: the name typed.
        code: the class code typed.
        address: the browser's address (`client_address`): wrong tries are counted by it and the name.
        session: the browser session, for the audit log.
        previous_token: this browser's last token, even expired: it renews the name it holds.

    Raises:
        SignInError: wrong code, too many wrong tries (how long to wait), the name held by
            someone else, or no sign-in by code in this class.
        ConfigError: the name cannot be used (empty, too long, control, invisible or look-alike characters).
        RunError: the runs folder cannot be written.
    """
    now = _now()
    typed = Person(" ".join(str(name).split())[:40], how="class code", role="student", session=session)
    try:
        if not settings.code:
            raise SignInError("This class signs in with accounts, not a class code: use the sign-in button.")
        clean = class_name(name)
        folded = fold_name(clean)
        limits = [(("name", folded, address), TRIES_PER_MINUTE), (("name", folded), TRIES_PER_MINUTE_ANYWHERE)]
        _slow_down(limits, now)
        if not hmac.compare_digest(str(code).strip().encode(), settings.code.encode()):
            WRONG_TRIES.count([key for key, _ in limits], now)
            raise SignInError("That is not the class code: check it with your teacher (it is case-sensitive).")
        signed = _claim(settings, runs, _student(clean, session), folded, now, previous_token)
    except CifarError as error:
        if not getattr(error, "said_before", False):
            record(runs, typed, "sign in", outcome="refused", detail=str(error))
        raise
    record(runs, signed.person, "sign in")
    return signed


def _claim(
    settings: ClassSettings, runs: Path, person: Person, folded: str, now: float, previous: str | None
) -> SignedIn:
    """Hold the name for this sign-in, unless another holds it; of two at once, one wins."""
    key = tokens.signing_key(runs, create=True)
    renewing = _fields(previous, settings, runs)
    with os_errors_as(RunError, "Could not keep the sign-in", _WRITABLE), class_lock(runs):
        claims = _claims(runs)
        held = claims.get(folded)
        if isinstance(held, dict) and held.get("claim"):
            if not renewing or _claim_key(renewing) != folded or renewing.get("j") != held["claim"]:
                raise SignInError(
                    f"Someone is signed in as “{held.get('name', person.name)}” already. Pick another name, or if "
                    "it is you on another computer (or after signing out), ask the teacher to release your name."
                )
            claim = held["claim"]  # this browser held it before: the same sign-in, renewed
        else:
            claim = secrets.token_hex(8)
        claims[folded] = {"name": person.name, "claim": claim, "since": now}
        write_json_atomic(ClassFiles(runs).names, claims)
    fields = {"r": "student", "n": person.name, "c": tokens.class_id(key, "student", settings.code), "t": now}
    return SignedIn(person, tokens.sign(key, {**fields, "j": claim}), now + read_rules(runs).sign_in_hours * 3600)


def sign_in_teacher(
    settings: ClassSettings, runs: Path, password: str, address: str = "", session: str = ""
) -> SignedIn:
    """Sign the teacher in with the teacher password.

    Args:
        settings: the class's settings (its teacher password).
        runs: the runs folder, which keeps the sign-ins and the audit log.
        password: the password typed.
        address: the browser's address (`client_address`): wrong tries are counted by it.
        session: the browser session, for the audit log.

    Raises:
        SignInError: wrong password, too many wrong tries, or no teacher password on this server.
        RunError: the runs folder cannot be written.
    """
    now = _now()
    person = _teacher(session)
    limits = [(("teacher", address), TRIES_PER_MINUTE), (("teacher",), TRIES_PER_MINUTE_ANYWHERE)]
    try:
        if not settings.teacher_password:
            raise SignInError("This server has no teacher password: teachers sign in with their account.")
        _slow_down(limits, now)
        if not hmac.compare_digest(str(password).encode(), settings.teacher_password.encode()):
            WRONG_TRIES.count([key for key, _ in limits], now)
            raise SignInError("That is not the teacher password.")
        key = tokens.signing_key(runs, create=True)
        claim = secrets.token_hex(8)
        _keep_teacher_claim(runs, claim, now)
    except CifarError as error:
        if not getattr(error, "said_before", False):
            record(runs, person, "sign in as the teacher", outcome="refused", detail=str(error))
        raise
    fields = {"r": "teacher", "n": TEACHER_NAME, "c": tokens.class_id(key, "teacher", settings.teacher_password)}
    token = tokens.sign(key, {**fields, "t": now, "j": claim})
    record(runs, person, "sign in as the teacher")
    return SignedIn(person, token, now + read_rules(runs).sign_in_hours * 3600)


def _keep_teacher_claim(runs: Path, claim: str, now: float) -> None:
    """Keep a teacher's sign-in, so that signing out ends it; forget those long expired."""
    oldest = now - read_rules(runs).sign_in_hours * 3600
    with os_errors_as(RunError, "Could not keep the sign-in", _WRITABLE), class_lock(runs):
        claims = {
            key: value
            for key, value in _claims(runs).items()
            if not key.startswith(_TEACHER_CLAIM) or float(value.get("since", 0)) >= oldest
        }
        claims[f"{_TEACHER_CLAIM}{claim}"] = {"name": TEACHER_NAME, "claim": claim, "since": now}
        write_json_atomic(ClassFiles(runs).names, claims)


def person_from_account(
    settings: ClassSettings, email: str | None, name: str | None = "", session: str = "", verified: Any = None
) -> Person:
    """The person an OpenID Connect account signs in: their e-mail is who they are, shown by
    their name; a teacher where CIFAR_TEACHERS lists the e-mail.

    Args:
        verified: the provider's `email_verified` claim; an address it says is not verified is refused.

    Raises:
        SignInError: the provider gave no e-mail address, or one it has not verified.
    """
    address = str(email or "").strip().lower()
    if "@" not in address or not address.isprintable():
        raise SignInError("Your account gave no e-mail address, which the class knows you by: ask your teacher.")
    if verified is False or str(verified).lower() == "false":
        raise SignInError(f"Your account's address {address} is not verified: verify it with your provider first.")
    try:
        shown = clean_who(name) or address
    except ConfigError:
        shown = address  # a name with control characters never reaches the board
    role = "teacher" if address in settings.teachers else "student"
    return Person(shown, f"account:{address}", "account", role, session)


def sign_out(person: Person, token: str | None, settings: ClassSettings, runs: Path) -> str:
    """End this sign-in: its token holds no more. A student's name is freed too, unless runs
    are theirs: then it stays held (so nobody else acts on them) until the teacher releases it.

    Returns:
        What happened to the name, in words.

    Raises:
        RunError: the runs folder cannot be written.
    """
    fields = _fields(token, settings, runs)
    said = "Signed out."
    if fields:
        key = _claim_key(fields)
        owns_runs = fields["r"] == "student" and any(
            run.written_status().owner == person.key for run in list_runs(runs)
        )
        with os_errors_as(RunError, "Could not sign out", _WRITABLE), class_lock(runs):
            claims = _claims(runs)
            if claims.get(key, {}).get("claim") == fields.get("j"):
                if owns_runs:
                    claims[key]["claim"] = secrets.token_hex(8)  # no token holds it now
                    said = f"Signed out. “{person.name}” stays yours: to sign in again, ask the teacher to release it."
                else:
                    del claims[key]
                write_json_atomic(ClassFiles(runs).names, claims)
    record(runs, person, "sign out", detail=said)
    return said


def release_name(person: Person, name: str, runs: Path) -> bool:
    """Free a name a student holds (the teacher's key): its sign-in ends, anyone may take it.

    Args:
        person: who asks: a teacher, or the server's command line.
        name: the name, in any spelling that folds to it.
        runs: the runs folder.

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
        claims = _claims(runs)
        held = claims.pop(folded, None) is not None
        if held:
            write_json_atomic(ClassFiles(runs).names, claims)
    record(runs, person, "release a name", detail=name)
    return held
