"""A class's limits, which the teacher sets and the launcher keeps: how many runs a student may
have waiting or training, the most epochs and training images a launch may ask for, the presets
allowed, how long a sign-in lasts; and whether the queue is paused.

They bind students only: alone on a laptop, a teacher and the server's command line are not held
by them. They live in `<runs>/.class/rules.json`, written whole by `set_rules`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from cifar.atomic import read_json, write_json_atomic
from cifar.config.presets import PRESETS, nearest_preset
from cifar.config.settings import CIFAR_TRAIN_IMAGES, MAX_EPOCHS, ModelConfig
from cifar.errors import ConfigError, NotAllowed, RunError, os_errors_as
from cifar.runs.audit import class_lock, record
from cifar.runs.layout import ClassFiles
from cifar.runs.owner import Person

MAX_SIGN_IN_HOURS = 24 * 7
_WRITABLE = "check that the runs folder is writable and the disk has room"


@dataclass(frozen=True)
class ClassRules:
    """The teacher's limits. Defaults hold until the teacher changes them."""

    waiting_per_person: int = 2  # a student's runs queued or training at once, 1 to 20
    max_epochs: int = MAX_EPOCHS  # the most epochs one launch may ask for
    max_train_images: int = CIFAR_TRAIN_IMAGES  # the most training images one launch may ask for
    presets: tuple[str, ...] = tuple(PRESETS)  # the presets a launch may start from (its nearest)
    sign_in_hours: float = 12.0  # how long a sign-in with the class code lasts, up to a week

    def problems(self) -> list[str]:
        """What is wrong with these limits, in words; empty when they can be kept."""
        found = []
        if not _whole(self.waiting_per_person) or not 1 <= self.waiting_per_person <= 20:
            found.append(
                f"runs waiting per person must be a whole number from 1 to 20; got {self.waiting_per_person!r}"
            )
        if not _whole(self.max_epochs) or not 1 <= self.max_epochs <= MAX_EPOCHS:
            found.append(f"the most epochs must be a whole number from 1 to {MAX_EPOCHS}; got {self.max_epochs!r}")
        if not _whole(self.max_train_images) or not 10 <= self.max_train_images <= CIFAR_TRAIN_IMAGES:
            found.append(
                f"the most training images must be a whole number from 10 to {CIFAR_TRAIN_IMAGES:,}; "
                f"got {self.max_train_images!r}"
            )
        presets = self.presets if isinstance(self.presets, tuple) else ()
        if not presets or any(name not in PRESETS for name in presets):
            found.append(
                f"the presets allowed must be some of {', '.join(PRESETS)}; "
                f"got {', '.join(map(str, presets)) or 'none'}"
            )
        hours = self.sign_in_hours
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0.25 <= hours <= MAX_SIGN_IN_HOURS:
            found.append(f"a sign-in must last from 0.25 to {MAX_SIGN_IN_HOURS} hours; got {hours!r}")
        return found


def describe_rules(rules: ClassRules) -> str:
    """The limits a student's launch meets, in one line for the Train page."""
    parts = [f"{rules.waiting_per_person} run{'s' if rules.waiting_per_person != 1 else ''} waiting at once"]
    if rules.max_epochs < MAX_EPOCHS:
        parts.append(f"at most {rules.max_epochs} epochs")
    if rules.max_train_images < CIFAR_TRAIN_IMAGES:
        parts.append(f"at most {rules.max_train_images:,} training images")
    if set(rules.presets) != set(PRESETS):
        parts.append(f"starting from {', '.join(rules.presets)}")
    return "This class allows " + ", ".join(parts) + "."


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_rules(runs: Path) -> ClassRules:
    """The class's limits; the defaults where none were set, or where the file is damaged."""
    values = read_json(ClassFiles(runs).rules)
    if not isinstance(values, dict):
        return ClassRules()
    known = {field.name for field in dataclasses.fields(ClassRules)}
    chosen = {key: value for key, value in values.items() if key in known}
    if isinstance(chosen.get("presets"), list):
        chosen["presets"] = tuple(chosen["presets"])
    try:
        rules = ClassRules(**chosen)
    except TypeError:
        return ClassRules()
    return rules if not rules.problems() else ClassRules()


def set_rules(person: Person, rules: ClassRules, runs: Path) -> None:
    """Keep `rules` for the class, as `person` asks.

    Raises:
        NotAllowed: `person` is not a teacher (or the server's command line).
        ConfigError: a limit is out of range (all of them are named).
        RunError: the runs folder cannot be written.
    """
    _teacher_only(person, runs, "change the class's limits")
    problems = rules.problems()
    if problems:
        raise ConfigError("; ".join(problems) + ".")
    with os_errors_as(RunError, "Could not keep the class's limits", _WRITABLE), class_lock(runs):
        values = dataclasses.asdict(rules)
        values["presets"] = list(rules.presets)
        write_json_atomic(ClassFiles(runs).rules, values)
    record(runs, person, "change the class's limits", detail=json.dumps(values))


def _teacher_only(person: Person, runs: Path, action: str) -> None:
    if person.role in ("teacher", "administrator"):
        return
    record(runs, person, action, outcome="refused", detail="only a teacher may")
    raise NotAllowed(f"Only a teacher may {action}.")


def check_launch(person: Person, config: ModelConfig, waiting: int, rules: ClassRules) -> None:
    """Refuse a student's launch that passes the class's limits; `waiting` counts their runs
    queued or training now.

    Raises:
        NotAllowed: which limit, and what the launch may ask for instead.
    """
    if person.role != "student":
        return
    if waiting >= rules.waiting_per_person:
        raise NotAllowed(
            f"You have {waiting} run{'s' if waiting != 1 else ''} waiting or training, and the class allows "
            f"{rules.waiting_per_person} at once: launch again when one has ended (or stop one)."
        )
    if config.epochs > rules.max_epochs:
        raise NotAllowed(f"The class allows at most {rules.max_epochs} epochs a run; this asks for {config.epochs}.")
    images = config.train_size if config.train_size is not None else CIFAR_TRAIN_IMAGES
    if images > rules.max_train_images:
        raise NotAllowed(
            f"The class allows at most {rules.max_train_images:,} training images a run; this asks for {images:,}. "
            "Set Training images lower."
        )
    nearest, _ = nearest_preset(config)
    if nearest not in rules.presets:
        raise NotAllowed(
            f"This network is closest to the {nearest} preset, which the class does not use now; "
            f"start from {' or '.join(rules.presets)}."
        )


def set_paused(person: Person, paused: bool, runs: Path) -> None:
    """Pause the queue (queued runs wait until it resumes; running ones go on), or resume it.

    Args:
        person: who asks: a teacher, or the server's command line.
        paused: True to pause, False to resume.
        runs: the runs folder.

    Raises:
        NotAllowed: `person` is not a teacher.
        RunError: the runs folder cannot be written.
    """
    action = "pause the queue" if paused else "resume the queue"
    _teacher_only(person, runs, action)
    files = ClassFiles(runs)
    with os_errors_as(RunError, f"Could not {action}", _WRITABLE), class_lock(runs):
        if paused:
            files.paused.touch()
        else:
            files.paused.unlink(missing_ok=True)
    record(runs, person, action)
