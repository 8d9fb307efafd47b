"""Who a run belongs to: the person who launched it, and who may act on it.

A person is a record, never a bare name: what they are called, the key their runs are kept
under, how they said who they are, and their role. Alone on a laptop there is one person, who
may do anything; in a class a student acts on their own runs only and a teacher on every run;
the command line on the server's own shell is the administrator.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from cifar.errors import ConfigError, NotAllowed

MAX_WHO = 40
ROLES = ("alone", "student", "teacher", "administrator")
_MAY_ACT_ON_ANY = ("alone", "teacher", "administrator")
# The scripts whose letters look alike (Latin a, Cyrillic а, Greek α): a name that mixes them
# reads as another person's name. Digits, spaces and punctuation belong to no script.
_LOOKALIKE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")


def clean_who(text: str | None) -> str:
    """A person's name as runs keep it: spaces collapsed; "" when none was given.

    Raises:
        ConfigError: longer than MAX_WHO characters, or not printable text.
    """
    if text is None:
        return ""
    if not isinstance(text, str):
        raise ConfigError(f"a name must be text; got {type(text).__name__}")
    # Before spaces are collapsed: str.split() takes more control characters than tabs and line
    # ends for spaces (\x1c to \x1f, \x85).
    if any(unicodedata.category(character) == "Cc" and character not in "\t\n\r" for character in text):
        raise ConfigError("a name must be plain text, without control characters; type it again.")
    name = " ".join(text.split())
    if len(name) > MAX_WHO:
        raise ConfigError(f"a name must be at most {MAX_WHO} characters; got {len(name)}. Use a shorter one.")
    if not name.isprintable():
        raise ConfigError("a name must be plain text, without control characters; type it again.")
    return name


def class_name(text: str | None) -> str:
    """A name a student signs in under: `clean_who`'s rules (which refuse invisible characters
    too), not empty, and in one alphabet, so that no name passes for another.

    Raises:
        ConfigError: empty, too long, control or invisible characters, or letters of look-alike alphabets mixed.
    """
    name = clean_who(text)
    if not name:
        raise ConfigError("type your name: the class sees it beside your runs.")
    scripts = {_script(character) for character in unicodedata.normalize("NFKC", name) if character.isalpha()}
    if len(scripts & set(_LOOKALIKE_SCRIPTS)) > 1:
        raise ConfigError(
            "a name must be written in one alphabet: letters that look alike from two "
            f"({' and '.join(sorted(scripts & set(_LOOKALIKE_SCRIPTS))).lower()}) would pass for another name."
        )
    return name


def _script(character: str) -> str:
    return unicodedata.name(character, "UNKNOWN").split(" ")[0]


def fold_name(name: str) -> str:
    """The form two names are compared in: NFKC, case folded, spaces collapsed ("Ｅmma" is "emma")."""
    return " ".join(unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold()).split())


@dataclass(frozen=True)
class Person:
    """Someone who acts on runs."""

    name: str = ""  # as shown beside their runs ("" alone without a name)
    key: str = ""  # what their runs are kept under: "name:<folded name>", "account:<e-mail>"; "" alone
    how: str = "alone"  # how they said who they are, in words: alone, class code, account, ...
    role: str = "alone"  # alone, student, teacher or administrator (the server's command line)
    session: str = ""  # which browser session acted, for the audit log

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}; got {self.role!r}")

    @property
    def teacher(self) -> bool:
        return self.role == "teacher"

    @property
    def queue_key(self) -> str:
        """Whose turn a launch counts in: the key where there is one, else the name."""
        return self.key or self.name


def alone(name: str | None = "", session: str = "") -> Person:
    """The one person of an app run alone, under the name they typed (checked)."""
    return Person(name=clean_who(name), how="alone", role="alone", session=session)


def administrator(name: str | None = "") -> Person:
    """The server's own shell (`python -m cifar`): acts on every run."""
    return Person(name=clean_who(name), how="command line", role="administrator")


ALONE = alone()


def may_act(person: Person, owner: str) -> bool:
    """Whether `person` may stop, delete or continue a run whose owner key is `owner`."""
    return person.role in _MAY_ACT_ON_ANY or bool(owner and owner == person.key)


def check_may_act(person: Person, owner: str, shown_owner: str, run_id: str, action: str) -> None:
    """Refuse `action` on a run unless `person` owns it or may act on any run.

    Args:
        owner: the run's owner key ("" for a run launched alone).
        shown_owner: the name it shows.

    Raises:
        NotAllowed: whose run it is and who may act on it.
    """
    if may_act(person, owner):
        return
    whose = f"{shown_owner}'s" if shown_owner else "not yours"
    raise NotAllowed(
        f"Run {run_id} is {whose}: only the person who launched it and a teacher may {action} it. "
        "You can still look at it on every page."
    )
