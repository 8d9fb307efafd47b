"""Who a run belongs to: the name of the person who launched it, checked before it is kept."""

from __future__ import annotations

import unicodedata

from cifar.errors import ConfigError

MAX_WHO = 40


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
