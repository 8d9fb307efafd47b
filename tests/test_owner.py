"""cifar.runs.owner: `clean_who`, the name a run keeps for the person who launched it (spaces
collapsed, at most 40 characters, printable text only); a class's names; who may act on a run."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cifar.errors import ConfigError, NotAllowed
from cifar.runs.owner import (
    ALONE,
    MAX_WHO,
    Person,
    administrator,
    alone,
    check_may_act,
    class_name,
    clean_who,
    fold_name,
    may_act,
)


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


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_kept_as_a_printable_name_or_refused_in_words(typed):
    try:
        name = clean_who(typed)
    except ConfigError as error:
        assert str(error).startswith("a name must be")
        return
    # What is kept can be shown anywhere (a page, a terminal, a CSV) as it is.
    assert name.isprintable() and len(name) <= 40 and name == name.strip() and "  " not in name
    assert not any(unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") for character in name)


@pytest.mark.parametrize(("value", "kind"), [(42, "int"), (["ann"], "list"), (b"ann", "bytes")])
def test_a_value_that_is_not_text_is_refused_naming_its_kind(value, kind):
    with pytest.raises(ConfigError, match=f"a name must be text; got {kind}$"):
        clean_who(value)


def test_a_refusal_is_a_config_error_a_page_shows_as_it_is():
    with pytest.raises(ValueError):  # a ConfigError is also a ValueError
        clean_who("\x00")


# --- a person, and who may act on a run ---------------------------------------------------


ANN = Person("Ann", "name:ann", "class code", "student")
BOB = Person("Bob", "name:bob", "class code", "student")
TEACHER = Person("Teacher", "teacher", "teacher password", "teacher")


@pytest.mark.parametrize(
    ("typed", "folded"), [("Ann", "ann"), ("ＡＮＮ", "ann"), ("  Ann  Lee ", "ann lee"), ("Straße", "strasse")]
)
def test_names_are_compared_after_nfkc_and_case_folding(typed, folded):
    assert fold_name(typed) == folded


def test_a_class_name_is_a_clean_name_that_is_not_empty_and_in_one_alphabet():
    assert class_name("  Zoë  ") == "Zoë" and class_name("Зоя") == "Зоя" and class_name("Anna 2") == "Anna 2"
    for bad in ["", "  ", "\u0430nna", "Anna\u200b", "a" * 41]:
        with pytest.raises(ConfigError):
            class_name(bad)


def test_an_owner_and_a_teacher_may_act_and_a_classmate_may_not():
    assert may_act(ANN, "name:ann") and may_act(TEACHER, "name:ann") and may_act(administrator(), "name:ann")
    assert not may_act(BOB, "name:ann")
    assert not may_act(BOB, "")  # a run launched alone, before the class: the teacher's
    assert may_act(ALONE, "name:ann") and may_act(alone("x"), "")


def test_a_refusal_says_whose_run_it_is_and_who_may_act():
    with pytest.raises(NotAllowed) as caught:
        check_may_act(BOB, "name:ann", "Ann", "r1", "delete")
    assert str(caught.value) == (
        "Run r1 is Ann's: only the person who launched it and a teacher may delete it. "
        "You can still look at it on every page."
    )
    check_may_act(ANN, "name:ann", "Ann", "r1", "delete")


def test_a_person_has_one_of_four_roles():
    with pytest.raises(ValueError, match="role must be one of"):
        Person("x", role="admin")
    assert ANN.queue_key == "name:ann" and alone("Ann").queue_key == "Ann"
