"""cifar.classroom.signin: signing in with the class code, the teacher password or an account;
what a token must hold to sign someone in; names held for good, renewed by their holder and
freed by the teacher; wrong tries slowed down; the settings, the secrets file, the address."""

from __future__ import annotations

import threading

import pytest
from helpers import TINY

from cifar.classroom import signin
from cifar.classroom.signin import (
    TRIES_PER_MINUTE,
    ClassSettings,
    class_settings,
    client_address,
    held_names,
    load_secrets,
    person_from_account,
    person_from_token,
    release_name,
    safe_return_path,
    sign_in_teacher,
    sign_in_with_code,
    sign_out,
)
from cifar.classroom.throttle import Throttle
from cifar.errors import ConfigError, NotAllowed, SignInError
from cifar.launch import launcher
from cifar.launch.rules import ClassRules, set_rules
from cifar.runs.audit import read_audit
from cifar.runs.owner import Person, administrator

CLASS = ClassSettings(code="owl42", teacher_password="sesame")
TEACHER = Person("Teacher", "teacher", "teacher password", "teacher")


@pytest.fixture(autouse=True)
def fresh_tries(monkeypatch):
    monkeypatch.setattr(signin, "WRONG_TRIES", Throttle())


@pytest.fixture
def clock(monkeypatch):
    """The sign-in clock, which a test moves: clock[0] is now."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(signin, "_now", lambda: now[0])
    return now


# --- the settings ---------------------------------------------------------------------------


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
    assert not CLASS.problems()
    (problem,) = ClassSettings(code="owl42").problems()
    assert "nobody can sign in as the teacher" in problem
    (problem,) = ClassSettings(accounts=True).problems()
    assert "CIFAR_TEACHERS" in problem


def test_the_secrets_files_are_read_in_order_and_a_broken_one_is_refused_in_words(tmp_path):
    first, second, broken = tmp_path / "a.toml", tmp_path / "b.toml", tmp_path / "broken.toml"
    first.write_text('CIFAR_CLASS_CODE = "owl42"\nCIFAR_TEACHERS = "t@s.org"\n')
    second.write_text('CIFAR_CLASS_CODE = "fox7"\n[auth]\nclient_id = "x"\n')
    assert load_secrets([first, second, tmp_path / "missing.toml"]) == {
        "CIFAR_CLASS_CODE": "fox7",
        "CIFAR_TEACHERS": "t@s.org",
        "auth": {"client_id": "x"},
    }
    broken.write_text('CIFAR_CLASS_CODE = "owl42\n')  # the quote never closes
    with pytest.raises(ConfigError, match=r"broken.toml cannot be read .*Until then nobody can sign in"):
        load_secrets([first, broken])


def test_the_address_is_the_connections_unless_a_trusted_proxy_forwards_it():
    assert client_address("10.0.0.7", "1.2.3.4", frozenset()) == "10.0.0.7"  # a forged header is not believed
    proxy = frozenset({"127.0.0.1"})
    assert client_address("127.0.0.1", "1.2.3.4", proxy) == "1.2.3.4"
    assert client_address("127.0.0.1", "6.6.6.6, 1.2.3.4", proxy) == "1.2.3.4"  # the left one is the browser's word
    assert client_address("127.0.0.1", "1.2.3.4, 127.0.0.1", proxy) == "1.2.3.4"
    assert client_address("127.0.0.1", "not an address", proxy) == "127.0.0.1"
    assert client_address(None, "", frozenset()) == ""


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("/train?preset=quick&epochs=3&hide=optimizer,learning_rate", True),
        ("/board", True),
        ("/", False),
        ("", False),
        (None, False),
        ("//evil.example", False),
        ("/\t/evil.example", False),
        ("https://evil.example/train", False),
        ("/train?x=<script>", False),
        ("/\\evil.example", False),
        ("javascript:alert(1)", False),
    ],
)
def test_only_a_page_of_this_app_is_a_way_back(text, kept):
    assert safe_return_path(text) == (text if kept else None)


# --- the class code ---------------------------------------------------------------------------


def test_a_name_and_the_code_sign_in_and_the_token_keeps_them_signed_in(runs_dir, clock):
    signed = sign_in_with_code(CLASS, runs_dir, "  Ada   Lovelace ", "owl42", "10.0.0.7", "s1")
    assert signed.person == Person("Ada Lovelace", "name:ada lovelace", "class code", "student", "s1")
    assert signed.expires == clock[0] + 12 * 3600
    clock[0] += 11 * 3600  # a reload, a second tab or a restarted server later the same day
    again = person_from_token(signed.token, CLASS, runs_dir, "s2")
    assert again == Person("Ada Lovelace", "name:ada lovelace", "class code", "student", "s2")
    assert [(name.name, name.folded) for name in held_names(runs_dir)] == [("Ada Lovelace", "ada lovelace")]
    (entry,) = read_audit(runs_dir).entries
    assert (entry.who, entry.action, entry.outcome, entry.session) == ("Ada Lovelace", "sign in", "done", "s1")


def test_a_token_of_another_server_or_class_or_not_ascii_signs_nobody_in(runs_dir, tmp_path):
    elsewhere = sign_in_with_code(CLASS, tmp_path / "elsewhere", "ann", "owl42").token
    token = sign_in_with_code(CLASS, runs_dir, "bob", "owl42").token
    assert person_from_token(elsewhere, CLASS, runs_dir) is None
    assert person_from_token(token, ClassSettings(code="fox7", teacher_password="sesame"), runs_dir) is None
    assert person_from_token(token, ClassSettings(), runs_dir) is None  # the server now runs alone
    for bad in ["a.€", "€", token + "€", "", None]:
        assert person_from_token(bad, CLASS, runs_dir) is None
    assert person_from_token(token, CLASS, runs_dir).name == "bob"


def test_an_expired_token_or_one_from_the_future_signs_nobody_in(runs_dir, clock):
    token = sign_in_with_code(CLASS, runs_dir, "ann", "owl42").token
    clock[0] += 12 * 3600
    assert person_from_token(token, CLASS, runs_dir) is None
    clock[0] -= 12 * 3600 + 3600
    assert person_from_token(token, CLASS, runs_dir) is None


def test_a_name_stays_held_after_its_token_expires_and_its_browser_renews_it(runs_dir, clock):
    set_rules(administrator(), ClassRules(sign_in_hours=1.0), runs_dir)
    first = sign_in_with_code(CLASS, runs_dir, "ann", "owl42")
    assert first.expires == clock[0] + 3600
    clock[0] += 3601
    assert person_from_token(first.token, CLASS, runs_dir) is None
    with pytest.raises(SignInError, match="Someone is signed in as “ann” already"):
        sign_in_with_code(CLASS, runs_dir, "ANN", "owl42")  # next morning, a classmate first
    renewed = sign_in_with_code(CLASS, runs_dir, "Ann", "owl42", previous_token=first.token)
    assert person_from_token(renewed.token, CLASS, runs_dir).key == "name:ann"
    other = sign_in_with_code(CLASS, runs_dir, "bob", "owl42").token
    with pytest.raises(SignInError, match="already"):
        sign_in_with_code(CLASS, runs_dir, "ann", "owl42", previous_token=other)  # Bob's browser is not Ann's


@pytest.mark.parametrize("taken", ["ann", "ANN", "Ann", "  ann ", "Ａｎｎ", "ａnn"])
def test_a_name_held_cannot_be_taken_in_any_case_or_spelling_that_folds_to_it(runs_dir, taken):
    sign_in_with_code(CLASS, runs_dir, "Ann", "owl42")
    with pytest.raises(SignInError, match="Someone is signed in as “Ann” already"):
        sign_in_with_code(CLASS, runs_dir, taken, "owl42")
    assert [name.name for name in held_names(runs_dir)] == ["Ann"]
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


def test_signing_out_before_launching_frees_the_name(runs_dir):
    signed = sign_in_with_code(CLASS, runs_dir, "ann", "owl42")
    assert sign_out(signed.person, signed.token, CLASS, runs_dir) == "Signed out."
    assert person_from_token(signed.token, CLASS, runs_dir) is None and held_names(runs_dir) == []
    sign_in_with_code(CLASS, runs_dir, "ANN", "owl42")


def test_a_name_whose_runs_exist_stays_held_after_signing_out_so_nobody_takes_them_over(runs_dir, fake_backend):
    ann = sign_in_with_code(CLASS, runs_dir, "ann", "owl42")
    run = launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=ann.person)
    said = sign_out(ann.person, ann.token, CLASS, runs_dir)
    assert "“ann” stays yours" in said and "ask the teacher to release it" in said
    assert person_from_token(ann.token, CLASS, runs_dir) is None
    with pytest.raises(SignInError, match="already"):
        sign_in_with_code(CLASS, runs_dir, "ANN", "owl42", "10.9.9.9")
    with pytest.raises(SignInError, match="already"):
        sign_in_with_code(CLASS, runs_dir, "ann", "owl42", previous_token=ann.token)  # signed out means out
    release_name(TEACHER, "ann", runs_dir)
    again = sign_in_with_code(CLASS, runs_dir, "ann", "owl42")
    assert launcher.stop(run, person=again.person)  # the teacher gave it back: the runs are hers again


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
        with pytest.raises(SignInError, match=r"Too many wrong tries for this name: wait 60 s"):
            sign_in_with_code(CLASS, runs_dir, "ann", "owl42", "10.0.0.7")
    assert held_names(runs_dir) == []
    sign_in_with_code(CLASS, runs_dir, "ann", "owl42", "10.0.0.8")  # another computer is not held up
    release_name(TEACHER, "ann", runs_dir)
    clock[0] += 30
    with pytest.raises(SignInError, match="wait 30 s"):
        sign_in_with_code(CLASS, runs_dir, "ann", "owl42", "10.0.0.7")
    clock[0] += 30
    assert sign_in_with_code(CLASS, runs_dir, "ann", "owl42", "10.0.0.7").person.name == "ann"
    refused = [entry for entry in read_audit(runs_dir).entries if entry.outcome == "refused"]
    # Five wrong codes, then the first wait of the minute: a flood of tries is not a flood of lines.
    assert len(refused) == 6 and all("owl4" not in entry.detail for entry in refused)


def test_a_name_tried_from_many_addresses_is_slowed_down_too(runs_dir):
    for index in range(signin.TRIES_PER_MINUTE_ANYWHERE):
        with pytest.raises(SignInError, match="not the class code"):
            sign_in_with_code(CLASS, runs_dir, "ann", "nope", f"10.0.{index}.1")
    with pytest.raises(SignInError, match="Too many wrong tries"):
        sign_in_with_code(CLASS, runs_dir, "ann", "owl42", "10.1.1.1")
    sign_in_with_code(CLASS, runs_dir, "bob", "owl42", "10.1.1.1")


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
    assert held_names(runs_dir) == []
    entry = read_audit(runs_dir).entries[-1]
    assert entry.outcome == "refused" and len(entry.who) <= 40


@pytest.mark.parametrize("name", ["Зоя", "Ελένη", "李小龍", "José Ñúñez", "O'Brien-2"])
def test_a_name_in_one_alphabet_is_welcome(runs_dir, name):
    assert sign_in_with_code(CLASS, runs_dir, name, "owl42").person.name == name


# --- the teacher and accounts -----------------------------------------------------------------


def test_the_teacher_signs_in_with_the_password_and_a_new_password_voids_the_token(runs_dir):
    with pytest.raises(SignInError, match="not the teacher password"):
        sign_in_teacher(CLASS, runs_dir, "open sesame")
    signed = sign_in_teacher(CLASS, runs_dir, "sesame")
    assert signed.person.teacher and person_from_token(signed.token, CLASS, runs_dir).teacher
    assert person_from_token(signed.token, ClassSettings(code="owl42", teacher_password="new"), runs_dir) is None
    with pytest.raises(SignInError, match="no teacher password"):
        sign_in_teacher(ClassSettings(code="owl42"), runs_dir, "")
    assert held_names(runs_dir) == []  # a teacher's sign-in holds no student's name


def test_a_teacher_who_signs_out_is_signed_out_and_other_teacher_tabs_are_not(runs_dir):
    classroom = sign_in_teacher(CLASS, runs_dir, "sesame")
    laptop = sign_in_teacher(CLASS, runs_dir, "sesame")
    sign_out(classroom.person, classroom.token, CLASS, runs_dir)
    assert person_from_token(classroom.token, CLASS, runs_dir) is None
    assert person_from_token(laptop.token, CLASS, runs_dir).teacher


def test_wrong_teacher_passwords_from_many_addresses_are_slowed_down(runs_dir):
    for index in range(signin.TRIES_PER_MINUTE_ANYWHERE):
        with pytest.raises(SignInError, match="not the teacher password"):
            sign_in_teacher(CLASS, runs_dir, f"guess {index}", f"10.0.{index}.1")
    with pytest.raises(SignInError, match="Too many wrong tries"):
        sign_in_teacher(CLASS, runs_dir, "sesame", "10.1.1.1")


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
    assert person_from_account(settings, "x@school.org", "Evil\x1b[2J").name == "x@school.org"
    with pytest.raises(SignInError, match="no e-mail address"):
        person_from_account(settings, None, "Ann")
    with pytest.raises(SignInError, match="not verified"):
        person_from_account(settings, "t@school.org", "Not the teacher", verified=False)


def test_a_class_without_a_code_refuses_a_code_sign_in(runs_dir):
    with pytest.raises(SignInError, match="signs in with accounts"):
        sign_in_with_code(ClassSettings(accounts=True), runs_dir, "ann", "")
