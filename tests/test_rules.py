"""cifar.launch.rules: a class's limits, set by the teacher alone and kept for students; the
queue's pause."""

from __future__ import annotations

import json

import pytest

from cifar.config.presets import PRESETS, preset
from cifar.errors import ConfigError, NotAllowed
from cifar.launch.rules import ClassRules, check_launch, describe_rules, read_rules, set_paused, set_rules
from cifar.runs.audit import read_audit
from cifar.runs.layout import ClassFiles
from cifar.runs.owner import Person, administrator, alone
from cifar.training.local_queue import paused

ANN = Person("Ann", "name:ann", "class code", "student")
TEACHER = Person("Teacher", "teacher", "teacher password", "teacher")


def test_the_defaults_allow_two_runs_waiting_and_everything_else():
    rules = ClassRules()
    assert rules.waiting_per_person == 2 and rules.max_epochs == 500 and rules.max_train_images == 50_000
    assert rules.presets == tuple(PRESETS) and rules.sign_in_hours == 12 and rules.problems() == []


def test_a_teacher_keeps_limits_and_a_student_is_refused_and_recorded(runs_dir):
    chosen = ClassRules(waiting_per_person=1, max_epochs=5, max_train_images=5000, presets=("quick",))
    with pytest.raises(NotAllowed, match="Only a teacher may change the class's limits"):
        set_rules(ANN, chosen, runs_dir)
    assert read_rules(runs_dir) == ClassRules()
    set_rules(TEACHER, chosen, runs_dir)
    assert read_rules(runs_dir) == chosen
    refused, done = read_audit(runs_dir).entries
    assert (refused.who, refused.outcome) == ("Ann", "refused") and (done.who, done.outcome) == ("Teacher", "done")
    assert '"waiting_per_person": 1' in done.detail
    set_rules(administrator(), ClassRules(), runs_dir)  # the server's shell too


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"waiting_per_person": 0}, "runs waiting per person"),
        ({"waiting_per_person": 2.5}, "runs waiting per person"),
        ({"max_epochs": 501}, "the most epochs"),
        ({"max_train_images": True}, "the most training images"),
        ({"max_train_images": 9}, "the most training images"),
        ({"presets": ()}, "the presets allowed"),
        ({"presets": ("quick", "turbo")}, "the presets allowed"),
        ({"sign_in_hours": 0}, "a sign-in must last"),
        ({"sign_in_hours": 24 * 8}, "a sign-in must last"),
    ],
)
def test_limits_out_of_range_are_refused_in_words_and_nothing_changes(runs_dir, changes, words):
    with pytest.raises(ConfigError, match=words):
        set_rules(TEACHER, ClassRules(**changes), runs_dir)
    assert not ClassFiles(runs_dir).rules.exists()


@pytest.mark.parametrize("text", ["", "[1]", '{"waiting_per_person": -3}', '{"presets": 7}', "{bad json"])
def test_a_damaged_rules_file_reads_as_the_defaults(runs_dir, text):
    ClassFiles(runs_dir).folder.mkdir(parents=True)
    ClassFiles(runs_dir).rules.write_text(text)
    assert read_rules(runs_dir) == ClassRules()


def test_the_rules_file_is_plain_json_a_teacher_can_read(runs_dir):
    set_rules(TEACHER, ClassRules(presets=("quick", "fast")), runs_dir)
    values = json.loads(ClassFiles(runs_dir).rules.read_text())
    assert values["presets"] == ["quick", "fast"] and values["waiting_per_person"] == 2


QUICK = preset("quick")


def test_a_students_third_waiting_run_is_refused_in_words():
    check_launch(ANN, QUICK, 1, ClassRules())
    with pytest.raises(NotAllowed, match="You have 2 runs waiting or training, and the class allows 2 at once"):
        check_launch(ANN, QUICK, 2, ClassRules())


def test_epochs_images_and_presets_past_the_limits_are_refused_saying_which():
    rules = ClassRules(max_epochs=3, max_train_images=1000, presets=("quick",))
    check_launch(ANN, QUICK.replace(epochs=3, train_size=1000), 0, rules)
    with pytest.raises(NotAllowed, match="at most 3 epochs a run; this asks for 4"):
        check_launch(ANN, QUICK.replace(epochs=4, train_size=1000), 0, rules)
    with pytest.raises(NotAllowed, match="at most 1,000 training images a run; this asks for 50,000"):
        check_launch(ANN, QUICK.replace(epochs=3, train_size=None), 0, rules)
    with pytest.raises(NotAllowed, match=r"closest to the tutorial preset.*start from quick"):
        check_launch(ANN, preset("tutorial").replace(epochs=3, train_size=1000), 0, rules)


@pytest.mark.parametrize("person", [TEACHER, administrator(), alone("ann")])
def test_limits_bind_students_only(person):
    check_launch(person, preset("best"), 99, ClassRules(waiting_per_person=1, max_epochs=1, presets=("quick",)))


def test_a_teacher_pauses_and_resumes_the_queue_and_a_student_cannot(runs_dir):
    with pytest.raises(NotAllowed, match="Only a teacher may pause the queue"):
        set_paused(ANN, True, runs_dir)
    assert not paused(runs_dir)
    set_paused(TEACHER, True, runs_dir)
    assert paused(runs_dir)
    with pytest.raises(NotAllowed, match="Only a teacher may resume the queue"):
        set_paused(ANN, False, runs_dir)
    set_paused(TEACHER, False, runs_dir)
    assert not paused(runs_dir)
    assert [(entry.action, entry.outcome) for entry in read_audit(runs_dir).entries] == [
        ("pause the queue", "refused"),
        ("pause the queue", "done"),
        ("resume the queue", "refused"),
        ("resume the queue", "done"),
    ]


def test_the_limits_are_said_in_one_line():
    assert describe_rules(ClassRules()) == "This class allows 2 runs waiting at once."
    assert describe_rules(ClassRules(1, 5, 5000, ("quick", "fast"))) == (
        "This class allows 1 run waiting at once, at most 5 epochs, at most 5,000 training images, "
        "starting from quick, fast."
    )
