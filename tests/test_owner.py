"""cifar.runs.owner: `clean_who`, the name a run keeps for the person who launched it: spaces
collapsed, at most 40 characters, printable text only."""

from __future__ import annotations

import pytest

from cifar.errors import ConfigError
from cifar.runs.owner import MAX_WHO, clean_who


@pytest.mark.parametrize("nothing", [None, "", "   ", "\t\n"])
def test_no_name_is_the_empty_name(nothing):
    assert clean_who(nothing) == ""


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("  Grace   Hopper ", "Grace Hopper"),
        ("Ada\tLovelace\n", "Ada Lovelace"),  # a tab or a pasted newline is a space between words
        ("José Ñúñez", "José Ñúñez"),
        ("李 小龍", "李 小龍"),
        ("o'brien-2", "o'brien-2"),
    ],
)
def test_a_name_keeps_its_words_with_one_space_between(typed, kept):
    assert clean_who(typed) == kept


def test_forty_characters_are_allowed_and_forty_one_are_refused_in_words():
    assert MAX_WHO == 40
    assert clean_who("x" * 40) == "x" * 40
    with pytest.raises(ConfigError) as caught:
        clean_who("x" * 41)
    assert str(caught.value) == "a name must be at most 40 characters; got 41. Use a shorter one."


def test_the_length_is_counted_after_the_spaces_are_collapsed():
    assert clean_who("   " + "a" * 20 + "     " + "b" * 19 + "   ") == "a" * 20 + " " + "b" * 19  # 40
    with pytest.raises(ConfigError, match="got 41"):
        clean_who("a" * 20 + "     " + "b" * 20)


@pytest.mark.parametrize(
    "typed", ["ann\x00", "a\x1b[31mred", "bob\x07", "\x7f", "zero\u200bwidth", "ann\x1fbob", "ann\x85bob", "v\x0btab"]
)
def test_control_characters_are_refused(typed):
    with pytest.raises(ConfigError, match="a name must be plain text, without control characters"):
        clean_who(typed)


@pytest.mark.parametrize(("value", "kind"), [(42, "int"), (["ann"], "list"), (b"ann", "bytes")])
def test_a_value_that_is_not_text_is_refused_naming_its_kind(value, kind):
    with pytest.raises(ConfigError, match=f"a name must be text; got {kind}$"):
        clean_who(value)


def test_a_refusal_is_a_config_error_a_page_shows_as_it_is():
    with pytest.raises(ValueError):  # a ConfigError is also a ValueError
        clean_who("\x00")
