"""A class experiment: a grid of settings that a class covers together, one cell a person.

The teacher picks a base (a preset and any fixed settings), one to three settings to vary with
their values, and a name; at most 36 cells. Everyone who opens the experiment's link
(`train?experiment=NAME`) or runs `python -m cifar launch --experiment NAME` is given the cell
with the fewest runs so far (every cell once, then a second seed of each, and so on), and
launches it with the other settings fixed. A cell is taken when its launch is made, under a
lock, so two people launching in the same second train different cells; a failed or deleted
run gives its cell back.

An experiment lives in `<runs>/.class/experiments/<name>.json`, written whole; its runs say
which experiment and cell they train in their status. The answer is drawn from those runs by
cifar/study/grid.py.
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cifar.atomic import read_json, write_json_atomic
from cifar.config.fields import as_text
from cifar.config.presets import PRESETS, preset
from cifar.config.settings import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES, FIELDS, ModelConfig, config_from_dict
from cifar.errors import CifarError, ConfigError, NotAllowed, RunError, os_errors_as
from cifar.launch import launcher
from cifar.launch.backend import Backend
from cifar.launch.backends import for_new_runs
from cifar.launch.estimate import check_feasible
from cifar.launch.rules import read_rules
from cifar.runs.audit import class_lock, record
from cifar.runs.layout import ClassFiles
from cifar.runs.owner import Person
from cifar.runs.run import Run, list_runs, runs_root
from cifar.runs.status import now_iso
from cifar.study.grid import CellRun, CellSummary, Importance, Setting, cell_summaries, importance_words, importances

MAX_CELLS = 36
MAX_SETTINGS = 3
EXPERIMENT_PARAM = "experiment"  # the link's query parameter
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
# Each cell's runs take their own seeds (a second run of a cell is a second seed), so the seed
# is never a setting to vary.
NOT_VARIED = ("seed",)
# A failed or vanished run gives its cell back, and so does one stopped before its first epoch.
COUNTED_STATES = ("queued", "running", "finished", "stopped")
_WRITABLE = "check that the runs folder is writable and the disk has room"

Cell = tuple[int, ...]


@dataclass(frozen=True)
class Experiment:
    """A grid of settings over a base config."""

    name: str
    preset: str  # the preset the base started from
    base: ModelConfig  # every setting that is not varied
    vary: tuple[tuple[str, tuple[Any, ...]], ...]  # (field name, its values in order), one to three
    created_by: str = ""
    created: str = ""
    note: str = field(default="", compare=False)  # what the teacher wants the class to find out

    @property
    def link(self) -> str:
        """The address, relative to the app, that opens the experiment on the Train page."""
        return f"train?{EXPERIMENT_PARAM}={self.name}"

    def cells(self) -> list[Cell]:
        """Every cell, in order: the first setting's values slowest."""
        return list(itertools.product(*(range(len(values)) for _, values in self.vary)))

    def config(self, cell: Cell, seed_offset: int = 0) -> ModelConfig:
        """The config of `cell`'s runs; its `seed_offset`-th run adds that to the base's seed."""
        changes = {name: values[index] for (name, values), index in zip(self.vary, cell, strict=True)}
        return self.base.replace(**changes, seed=self.base.seed + seed_offset)

    def settings(self) -> list[Setting]:
        """The varied settings as the analysis and its figures name them."""
        return [
            Setting(name, FIELDS[name].label, tuple(as_text(FIELDS[name], value) for value in values))
            for name, values in self.vary
        ]

    def describe_cell(self, cell: Cell) -> str:
        """'dropout 0.25 · filters 32,64'."""
        return " · ".join(
            f"{name.replace('_', ' ')} {as_text(FIELDS[name], values[index])}"
            for (name, values), index in zip(self.vary, cell, strict=True)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "preset": self.preset,
            "base": self.base.to_dict(),
            "vary": [
                {"setting": name, "values": [FIELDS[name].to_json(v) for v in values]} for name, values in self.vary
            ],
            "created_by": self.created_by,
            "created": self.created,
            "note": self.note,
        }


def parse_vary(text: str) -> tuple[str, tuple[Any, ...]]:
    """'dropout=0/0.25/0.5' or 'filters=16,32/32,64': a setting and its values, each written as on
    the command line, separated by '/'.

    Raises:
        ConfigError: no '=', an unknown setting (with the nearest names), or a value it refuses.
    """
    name, equals, values = text.partition("=")
    name = name.strip().replace("-", "_")
    if not equals or not values.strip():
        raise ConfigError(f"--vary takes SETTING=VALUE/VALUE/..., like dropout=0/0.25/0.5; got {text!r}")
    check_setting(name)
    field_ = FIELDS[name]
    parsed = []
    for value in values.split("/"):
        try:
            parsed.append(field_.normalize(field_.parse(value.strip())))
            field_.check(parsed[-1])
        except ConfigError as error:
            raise ConfigError(f"{name}: {error}") from None
    return name, tuple(parsed)


def check_setting(name: str) -> None:
    """Refuse a setting that is not a field of the config, or that an experiment cannot vary."""
    if name in NOT_VARIED:
        raise ConfigError(f"{name} cannot be varied: an experiment gives a cell's second run another seed itself.")
    if name not in FIELDS:
        near = difflib.get_close_matches(name, list(FIELDS), n=3)
        hint = f" Did you mean {' or '.join(near)}?" if near else ""
        raise ConfigError(f"{name!r} is not a setting.{hint} The settings are: {', '.join(sorted(FIELDS))}.")


def make_experiment(
    name: str,
    preset_name: str,
    vary: list[tuple[str, tuple[Any, ...]]],
    fixed: dict[str, Any] | None = None,
    note: str = "",
    *,
    person: Person,
) -> Experiment:
    """An experiment of `preset_name` with `fixed` on top, varying `vary`; checked, not yet kept.

    Raises:
        ConfigError: a bad name, preset, setting or value; one value or a setting twice; more than
            36 cells; a cell whose network is invalid or would not fit in memory (each named).
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"an experiment's name is 1 to 40 letters, digits, '-' and '_', starting with a letter or digit; "
            f"got {str(name)[:60]!r}"
        )
    if preset_name not in PRESETS:
        raise ConfigError(f"{preset_name!r} is not a preset; one of {', '.join(PRESETS)}")
    base = config_from_dict({**preset(preset_name).to_dict(), **(fixed or {})})
    _check_vary(vary)
    cells = math.prod(len(values) for _, values in vary)
    if cells > MAX_CELLS:
        sizes = " × ".join(str(len(values)) for _, values in vary)
        raise ConfigError(f"{sizes} is {cells} cells; an experiment has at most {MAX_CELLS}: vary fewer values.")
    experiment = Experiment(name, preset_name, base, tuple(vary), person.name, now_iso(), note.strip()[:300])
    for cell in experiment.cells():
        _check_cell(experiment, cell)
    return experiment


def _check_vary(vary: list[tuple[str, tuple[Any, ...]]]) -> None:
    if not 1 <= len(vary) <= MAX_SETTINGS:
        raise ConfigError(f"an experiment varies 1 to {MAX_SETTINGS} settings; got {len(vary)}")
    names = [name for name, _ in vary]
    for name in names:
        check_setting(name)
        if names.count(name) > 1:
            raise ConfigError(f"{name} is varied twice: give all its values once, separated by '/'.")
    for name, values in vary:
        distinct = {json.dumps(FIELDS[name].to_json(value)) for value in values}
        if len(distinct) < 2:
            raise ConfigError(
                f"{name} has one value: a setting with one value is fixed, not varied. Give two or more values "
                f"separated by '/', or fix it in the base."
            )
        if len(distinct) < len(values):
            raise ConfigError(f"{name} has a value twice: give each value once.")


def _check_cell(experiment: Experiment, cell: Cell) -> None:
    where = experiment.describe_cell(cell)
    try:
        config = config_from_dict(experiment.config(cell).to_dict())
    except ConfigError as error:
        raise ConfigError(f"the cell {where} is not a network this app can build: {error}") from None
    refusal = check_feasible(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES).refusal
    if refusal:
        raise ConfigError(f"the cell {where}: {refusal}")


def save_experiment(experiment: Experiment, runs_dir: str | os.PathLike | None = None, *, person: Person) -> Path:
    """Keep `experiment` in the runs folder, as `person` (a teacher, or the command line) asks.

    Raises:
        NotAllowed: `person` is not a teacher (recorded in the audit log).
        ConfigError: an experiment of that name exists; a cell passes the class's limits.
        RunError: the runs folder cannot be written.
    """
    root = runs_root(runs_dir)
    if person.role not in ("teacher", "administrator", "alone"):
        record(root, person, "make an experiment", outcome="refused", detail="only a teacher may")
        raise NotAllowed("Only a teacher may make a class experiment.")
    _check_class_limits(experiment, root)
    path = _experiment_path(root, experiment.name)
    with os_errors_as(RunError, f"Could not keep the experiment {experiment.name}", _WRITABLE), class_lock(root):
        if path.exists():
            raise ConfigError(f"an experiment named {experiment.name} exists already: choose another name.")
        write_json_atomic(path, experiment.to_json())
    record(root, person, "make an experiment", detail=f"{experiment.name}: {describe_grid(experiment)}")
    return path


def _check_class_limits(experiment: Experiment, root: Path) -> None:
    """Refuse a grid with a cell that a student's launch could not pass (cifar/launch/rules.py)."""
    rules = read_rules(root)
    for cell in experiment.cells():
        config = experiment.config(cell)
        images = config.train_size or CIFAR_TRAIN_IMAGES
        if config.epochs > rules.max_epochs or images > rules.max_train_images:
            raise ConfigError(
                f"the cell {experiment.describe_cell(cell)} asks for {config.epochs} epochs on {images:,} images; "
                f"the class allows {rules.max_epochs} epochs and {rules.max_train_images:,} images a run, so "
                "students could not launch it."
            )


def describe_grid(experiment: Experiment) -> str:
    """'dropout 0 / 0.25 / 0.5 × filters 16,32 / 32,64 (6 cells) on quick'."""
    parts = [
        f"{name.replace('_', ' ')} {' / '.join(as_text(FIELDS[name], value) for value in values)}"
        for name, values in experiment.vary
    ]
    return f"{' × '.join(parts)} ({len(experiment.cells())} cells) on {experiment.preset}"


def _experiments_dir(root: Path) -> Path:
    return ClassFiles(root).folder / "experiments"


def _experiment_path(root: Path, name: str) -> Path:
    return _experiments_dir(root) / f"{name}.json"


def read_experiment(name: str, runs_dir: str | os.PathLike | None = None) -> Experiment:
    """The experiment called `name`.

    Raises:
        RunError: no such experiment (the names there are listed), or its file is damaged.
    """
    root = runs_root(runs_dir)
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise RunError(f"{str(name)[:60]!r} is not an experiment's name; {_known(root)}")
    values = read_json(_experiment_path(root, name))
    if values is None:
        raise RunError(f"There is no experiment {name!r}; {_known(root)}")
    try:
        return _from_json(values)
    except (CifarError, KeyError, TypeError, ValueError) as error:
        raise RunError(f"The experiment {name} is damaged ({error}); make it again under another name.") from None


def _from_json(values: dict[str, Any]) -> Experiment:
    vary = tuple(
        (entry["setting"], tuple(FIELDS[entry["setting"]].normalize(value) for value in entry["values"]))
        for entry in values["vary"]
    )
    _check_vary(list(vary))
    for name, tried in vary:
        for value in tried:
            FIELDS[name].check(value)
    if math.prod(len(tried) for _, tried in vary) > MAX_CELLS:
        raise ConfigError(f"it has more than {MAX_CELLS} cells")
    return Experiment(
        name=values["name"],
        preset=values["preset"],
        base=config_from_dict(values["base"]),
        vary=vary,
        created_by=str(values.get("created_by", "")),
        created=str(values.get("created", "")),
        note=str(values.get("note", "")),
    )


def list_experiments(runs_dir: str | os.PathLike | None = None) -> list[str]:
    """The names of the experiments in the runs folder, newest first."""
    folder = _experiments_dir(runs_root(runs_dir))
    if not folder.is_dir():
        return []
    found = [path for path in folder.glob("*.json") if NAME_PATTERN.fullmatch(path.stem)]
    return [path.stem for path in sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)]


def _known(root: Path) -> str:
    names = list_experiments(root)
    return f"the experiments are: {', '.join(names)}." if names else "there are none yet: a teacher makes one."


def runs_of(experiment: Experiment, runs_dir: str | os.PathLike | None = None) -> dict[Cell, list[Run]]:
    """The runs that take each cell (queued, training, finished or stopped), oldest first."""
    taken: dict[Cell, list[Run]] = {cell: [] for cell in experiment.cells()}
    for run in reversed(list_runs(runs_dir)):
        written = run.written_status()
        if written.experiment != experiment.name or written.cell not in taken:
            continue
        state = launcher.status(run).state
        if state in COUNTED_STATES and (state != "stopped" or run.history().get("epoch")):
            taken[written.cell].append(run)
    return taken


def next_cell(experiment: Experiment, runs_dir: str | os.PathLike | None = None) -> tuple[Cell, int]:
    """The cell the next person trains: the first of those with the fewest runs; and how many it has."""
    cell, runs = _next(runs_of(experiment, runs_dir))
    return cell, len(runs)


def next_launch(experiment: Experiment, runs_dir: str | os.PathLike | None = None) -> tuple[Cell, int, int]:
    """The next cell, how many runs it has, and the seed offset its next run takes: the smallest
    none of its runs has (a cell's runs never share a seed, a deleted one's too)."""
    cell, runs = _next(runs_of(experiment, runs_dir))
    used = {run.config().seed - experiment.base.seed for run in runs}
    return cell, len(runs), min(set(range(len(used) + 1)) - used)


def _next(taken: dict[Cell, list[Run]]) -> tuple[Cell, list[Run]]:
    cell = min(taken, key=lambda each: (len(taken[each]), each))
    return cell, taken[cell]


def launch_cell(
    name: str,
    runs_dir: str | os.PathLike | None = None,
    data: str | os.PathLike | None = None,
    *,
    person: Person,
    backend: Backend | None = None,
) -> tuple[Run, Cell]:
    """Take the next cell of experiment `name` for `person` and launch it.

    The cell is chosen and its run made under the experiment's lock: launches made at once take
    different cells.

    Raises:
        RunError: no such experiment; the runs folder cannot be written; the backend could not start it.
        NotAllowed: a student's launch passes a class limit.
        ConfigError: the cell would not fit in this machine's memory.
    """
    root = runs_root(runs_dir)
    chosen = backend or for_new_runs()
    launcher.end_overdue_stops(root)
    with class_lock(root, "experiment"):
        experiment = read_experiment(name, root)
        cell, _, offset = next_launch(experiment, root)
        path = launcher.prepare_run(
            experiment.config(cell, seed_offset=offset),
            root,
            f"{experiment.name}-{'-'.join(map(str, cell))}",
            data,
            person=person,
            backend=chosen,
            cell=(experiment.name, cell),
        )
    return launcher.start(path, chosen, person=person), cell


def cell_runs(experiment: Experiment, runs_dir: str | os.PathLike | None = None) -> list[CellRun]:
    """Every run of the experiment that takes a cell, with its best test accuracy and curve so far."""
    found = []
    for cell, runs in runs_of(experiment, runs_dir).items():
        for run in runs:
            curve = tuple(float(value) for value in run.history().get("val_accuracy") or [])
            found.append(CellRun(cell, run.id, run.written_status().who, max(curve) if curve else None, curve))
    return found


@dataclass(frozen=True)
class Answer:
    """An experiment's answer so far: each cell's runs and summary, which setting mattered, in words."""

    experiment: Experiment
    runs: list[CellRun]
    summaries: list[CellSummary]
    importances: list[Importance]
    words: str

    def to_json(self) -> dict[str, Any]:
        """The cells with their runs and accuracies, and the importances: `experiment show --json`."""
        by_cell: dict[Cell, list[CellRun]] = {}
        for run in self.runs:
            by_cell.setdefault(run.cell, []).append(run)
        names = [name for name, _ in self.experiment.vary]
        return {
            "name": self.experiment.name,
            "preset": self.experiment.preset,
            "grid": describe_grid(self.experiment),
            "link": self.experiment.link,
            "cells": [
                {
                    "cell": list(summary.cell),
                    "settings": dict(zip(names, summary.values, strict=True)),
                    "runs": [
                        {"id": run.run_id, "who": run.who, "best_accuracy": run.best_accuracy}
                        for run in by_cell.get(summary.cell, [])
                    ],
                    "finished_runs": summary.runs,
                    "mean_accuracy": summary.mean,
                    "spread": summary.spread,
                    "best_accuracy": summary.best,
                }
                for summary in self.summaries
            ],
            "importances": [
                {
                    "setting": each.name,
                    "share": each.share,
                    "spread": each.spread,
                    "best_value": each.best_value,
                    "best_mean_accuracy": each.best_mean,
                }
                for each in self.importances
            ],
            "in_words": self.words,
        }


def answer(experiment: Experiment, runs_dir: str | os.PathLike | None = None) -> Answer:
    """What the experiment's runs show so far (cifar/study/grid.py does the sums)."""
    settings = experiment.settings()
    runs = cell_runs(experiment, runs_dir)
    found = importances(settings, runs)
    finished = sum(run.best_accuracy is not None for run in runs)
    return Answer(experiment, runs, cell_summaries(settings, runs), found, importance_words(found, finished))
