"""cifar.classroom.signin: signing in with the class code, the teacher password or an account;
the signed token and everything that must void it; names held once; wrong tries slowed down."""

from __future__ import annotations

import base64
import json
import threading
from collections import defaultdict, deque

import pytest

from cifar.classroom import signin
from cifar.classroom.signin import (
    TRIES_PER_MINUTE,
    ClassSettings,
    class_settings,
    person_from_account,
    person_from_token,
    release_name,
    sign_in_teacher,
    sign_in_with_code,
    sign_out,
    signed_in_names,
)
from cifar.errors import CifarError, ConfigError, NotAllowed, SignInError
from cifar.launch.rules import ClassRules, set_rules
from cifar.runs.audit import read_audit
from cifar.runs.layout import ClassFiles
from cifar.runs.owner import Person, administrator

CLASS = ClassSettings(code="owl42", teacher_password="sesame")
TEACHER = Person("Teacher", "teacher", "teacher password", "teacher")


@pytest.fixture(autouse=True)
def fresh_tries(monkeypatch):
    monkeypatch.setattr(signin, "_TRIES", defaultdict(deque))


@pytest.fixture
def clock(monkeypatch):
    """The sign-in clock, which a test moves: clock[0] is now."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(signin, "_now", lambda: now[0])
    return now


def test_alone_is_the_default_and_a_class_code_or_an_auth_section_makes_a_class():
    assert not class_settings({}, {}).on
    from_env = class_settings({"CIFAR_CLASS_CODE": " owl42 ", "CIFAR_TEACHER_PASSWORD": "s"}, {})
    assert from_env.on and from_env.code == "owl42" and from_env.teacher_password == "s"
    from_secrets = class_settings({}, {"CIFAR_CLASS_CODE": "tree", "CIFAR_TEACHERS": "A@School.org, b@school.org"})
    assert from_secrets.code == "tree" and from_secrets.teachers == {"a@school.org", "b@school.org"}
    assert class_settings({"CIFAR_CLASS_CODE": "env"}, {"CIFAR_CLASS_CODE": "secret"}).code == "env"
    accounts = class_settings({}, {"auth": {"client_id": "x"}})
    assert accounts.on and accounts.accounts and not accounts.code


def test_settings_that_leave_nobody_able_to_sign_in_as_the_teacher_say_so():
    assert "CIFAR_TEACHER_PASSWORD is set" not in " ".join(CLASS.problems())
    assert not CLASS.problems()
    (problem,) = ClassSettings(code="owl42").problems()
    assert "nobody can sign in as the teacher" in problem
    (problem,) = ClassSettings(accounts=True).problems()
    assert "CIFAR_TEACHERS" in problem


def test_a_name_and_the_code_sign_in_and_the_token_keeps_them_signed_in(runs_dir, clock):
    signed = sign_in_with_code(CLASS, runs_dir, "  Ada   Lovelace ", "owl42", "10.0.0.7", "s1")
    assert signed.person == Person("Ada Lovelace", "name:ada lovelace", "class code", "student", "s1")
    assert signed.expires == clock[0] + 12 * 3600
    clock[0] += 11 * 3600  # a reload, a second tab or a restarted server later the same day
    assert person_from_token(signed.token, CLASS, runs_dir, "s2") == signed.person.__class__(
        "Ada Lovelace", "name:ada lovelace", "class code", "student", "s2"
    )
    assert signed_in_names(runs_dir) == [("Ada Lovelace", clock[0] - 11 * 3600)]
    (entry,) = read_audit(runs_dir).entries
    assert (entry.who, entry.action, entry.outcome, entry.session) == ("Ada Lovelace", "sign in", "done", "s1")


def test_the_signing_key_is_made_once_and_readable_by_the_server_alone(runs_dir):
    sign_in_with_code(CLASS, runs_dir, "ann", "owl42")
    key = ClassFiles(runs_dir).secret
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_text()) == 64
    before = key.read_text()
    sign_in_with_code(CLASS, runs_dir, "bob", "owl42")
    assert key.read_text() == before


def _forged(token: str, **changes) -> str:
    body, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    fields.update(changes)
    new_body = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")
    return f"{new_body}.{signature}"


def test_a_forged_altered_or_malformed_token_signs_nobody_in(runs_dir):
    token = sign_in_with_code(CLASS, runs_dir, "ann", "owl42").token
    teacher_like = _forged(token, r="teacher")
    other_name = _forged(token, n="bob")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    for bad in [teacher_like, other_name, flipped, "", "x", "a.b", "a.b.c", "€." * 3, "x" * 5000, token + "."]:
        assert person_from_token(bad, CLASS, runs_dir) is None, bad
    assert person_from_token(token, CLASS, runs_dir) is not None


def test_a_token_signed_with_another_key_signs_nobody_in(runs_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    token = sign_in_with_code(CLASS, elsewhere, "ann", "owl42").token
    sign_in_with_code(CLASS, runs_dir, "bob", "owl42")  # this server's own key
    assert person_from_token(token, CLASS, runs_dir) is None


def test_an_expired_token_or_one_from_the_future_signs_nobody_in(runs_dir, clock):
    token = sign_in_with_code(CLASS, runs_dir, "ann", "owl42").token
    clock[0] += 12 * 3600
    assert person_from_token(token, CLASS, runs_dir) is None
    clock[0] -= 12 * 3600 + 3600
    assert person_from_token(token, CLASS, runs_dir) is None


def test_the_teacher_sets_how_long_a_sign_in_lasts(runs_dir, clock):
    set_rules(administrator(), ClassRules(sign_in_hours=1.0), runs_dir)
    signed = sign_in_with_code(CLASS, runs_dir, "ann", "owl42")
    assert signed.expires == clock[0] + 3600
    clock[0] += 3599
    assert person_from_token(signed.token, CLASS, runs_dir) is not None
    clock[0] += 2
    assert person_from_token(signed.token, CLASS, runs_dir) is None
    assert signed_in_names(runs_dir) == []  # and the name is free again
    sign_in_with_code(CLASS, runs_dir, "ANN", "owl42")


def test_a_token_of_another_class_signs_nobody_in(runs_dir):
    token = sign_in_with_code(CLASS, runs_dir, "ann", "owl42").token
    next_class = ClassSettings(code="fox7", teacher_password="sesame")
    assert person_from_token(token, next_class, runs_dir) is None
    assert person_from_token(token, ClassSettings(), runs_dir) is None  # the server now runs alone


@pytest.mark.parametrize("taken", ["ann", "ANN", "Ann", "  ann ", "Ａｎｎ", "ａnn"])
def test_a_name_signed_in_cannot_be_taken_in_any_case_or_spelling_that_folds_to_it(runs_dir, taken):
    sign_in_with_code(CLASS, runs_dir, "Ann", "owl42")
    with pytest.raises(SignInError, match="Someone is signed in as “Ann” already"):
        sign_in_with_code(CLASS, runs_dir, taken, "owl42")
    assert [name for name, _ in signed_in_names(runs_dir)] == ["Ann"]
    assert read_audit(runs_dir).entries[-1].outcome == "refused"


def test_a_released_name_voids_its_token_and_is_free_again(runs_dir):
    first = sign_in_with_code(CLASS, runs_dir, "ann", "owl42")
    with pytest.raises(NotAllowed, match="Only a teacher may release a name"):
        release_name(first.person, "ann", runs_dir)
    assert release_name(TEACHER, "ANN", runs_dir) is True
    assert person_from_token(first.token, CLASS, runs_dir) is None
    second = sign_in_with_code(CLASS, runs_dir, "ann", "owl42")
    assert person_from_token(second.token, CLASS, runs_dir) is not None
    assert person_from_token(first.token, CLASS, runs_dir) is None  # the old one stays void
    actions = [(entry.action, entry.outcome) for entry in read_audit(runs_dir).entries]
    assert ("release a name", "refused") in actions and ("release a name", "done") in actions


def test_signing_out_frees_the_name_and_voids_the_token(runs_dir):
    signed = sign_in_with_code(CLASS, runs_dir, "ann", "owl42")
    sign_out(signed.person, signed.token, CLASS, runs_dir)
    assert person_from_token(signed.token, CLASS, runs_dir) is None and signed_in_names(runs_dir) == []


def test_two_sign_ins_under_one_name_at_once_one_wins_and_the_other_is_told(runs_dir):
    results: list[object] = []
    barrier = threading.Barrier(8)

    def sign_in(index: int) -> None:
        barrier.wait()
        try:
            results.append(sign_in_with_code(CLASS, runs_dir, "Ann" if index % 2 else "ann", "owl42"))
        except SignInError as error:
            results.append(error)

    threads = [threading.Thread(target=sign_in, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [result for result in results if not isinstance(result, SignInError)]
    assert len(won) == 1 and len(results) == 8
    assert person_from_token(won[0].token, CLASS, runs_dir) is not None


def test_a_wrong_code_is_refused_and_twenty_are_slowed_down_saying_how_long_to_wait(runs_dir, clock):
    for _ in range(TRIES_PER_MINUTE):
        with pytest.raises(SignInError, match="That is not the class code"):
            sign_in_with_code(CLASS, runs_dir, "ann", "owl41", "10.0.0.7")
    for _ in range(15):  # twenty in all: the right code does not help either while it waits
        with pytest.raises(SignInError, match=r"Too many wrong tries .*: wait 60 s"):
            sign_in_with_code(CLASS, runs_dir, "ann", "owl42", "10.0.0.7")
    assert signed_in_names(runs_dir) == []
    sign_in_with_code(CLASS, runs_dir, "ann", "owl42", "10.0.0.8")  # another computer is not held up
    release_name(TEACHER, "ann", runs_dir)
    clock[0] += 30
    with pytest.raises(SignInError, match="wait 30 s"):
        sign_in_with_code(CLASS, runs_dir, "ann", "owl42", "10.0.0.7")
    clock[0] += 30
    assert sign_in_with_code(CLASS, runs_dir, "ann", "owl42", "10.0.0.7").person.name == "ann"
    refused = [entry for entry in read_audit(runs_dir).entries if entry.outcome == "refused"]
    assert len(refused) == 21 and all("owl4" not in entry.detail for entry in refused)  # no code is logged


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "type your name"),
        ("   ", "type your name"),
        ("x" * 10_000, "at most 40 characters"),
        ("ann\x00", "without control characters"),
        ("ann\x1b[2J", "without control characters"),
        ("an\u200bn", "plain text"),  # a zero-width space
        ("\u0430nn", "one alphabet"),  # a Cyrillic а before Latin nn: passes for "ann"
        ("Αnn", "one alphabet"),  # a Greek capital alpha
    ],
)
def test_an_empty_long_control_invisible_or_look_alike_name_is_refused_in_words(runs_dir, name, words):
    with pytest.raises(ConfigError, match=words):
        sign_in_with_code(CLASS, runs_dir, name, "owl42")
    assert signed_in_names(runs_dir) == []
    assert read_audit(runs_dir).entries[-1].outcome == "refused"


@pytest.mark.parametrize("name", ["Зоя", "Ελένη", "李小龍", "José Ñúñez", "O'Brien-2"])
def test_a_name_in_one_alphabet_is_welcome(runs_dir, name):
    assert sign_in_with_code(CLASS, runs_dir, name, "owl42").person.name == name


def test_the_teacher_signs_in_with_the_password_and_a_new_password_voids_the_token(runs_dir):
    with pytest.raises(SignInError, match="not the teacher password"):
        sign_in_teacher(CLASS, runs_dir, "open sesame")
    signed = sign_in_teacher(CLASS, runs_dir, "sesame")
    assert signed.person.teacher and person_from_token(signed.token, CLASS, runs_dir).teacher
    changed = ClassSettings(code="owl42", teacher_password="new")
    assert person_from_token(signed.token, changed, runs_dir) is None
    with pytest.raises(SignInError, match="no teacher password"):
        sign_in_teacher(ClassSettings(code="owl42"), runs_dir, "")


def test_a_student_token_is_not_a_teacher_token_even_with_the_password_as_the_code(runs_dir):
    same = ClassSettings(code="sesame", teacher_password="sesame")
    token = sign_in_with_code(same, runs_dir, "Teacher", "sesame").token
    person = person_from_token(token, same, runs_dir)
    assert person.role == "student" and person.key == "name:teacher"


def test_an_account_is_its_e_mail_shown_by_name_and_a_listed_one_is_a_teacher():
    settings = ClassSettings(accounts=True, teachers=frozenset({"t@school.org"}))
    ann = person_from_account(settings, "Ann@School.org", "Ann Lee", "s1")
    assert ann == Person("Ann Lee", "account:ann@school.org", "account", "student", "s1")
    assert person_from_account(settings, "T@school.org", "").role == "teacher"
    assert person_from_account(settings, "t@school.org", "").name == "t@school.org"
    with pytest.raises(SignInError, match="no e-mail address"):
        person_from_account(settings, None, "Ann")


def test_a_class_without_a_code_refuses_a_code_sign_in(runs_dir):
    with pytest.raises(SignInError, match="signs in with accounts"):
        sign_in_with_code(ClassSettings(accounts=True), runs_dir, "ann", "")


def test_every_refusal_is_a_cifar_error_a_page_shows_as_it_is():
    assert issubclass(SignInError, CifarError) and issubclass(NotAllowed, CifarError)
