"""A classroom's pieces: who launched a run, and a teacher's links that set and hide controls.

A teacher's link is the Train page's address with the config's field names as parameters:
`train?preset=quick&epochs=3&dropout=0.25&hide=optimizer,learning_rate`. The preset applies
first, then the named fields; `hide` names the fields the page does not show (their values
still apply). Each value is read as the command line reads its flag and checked with the rest
of the config; a bad one is named in words and left out, and the rest of the link applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from cifar.classroom.experiments import EXPERIMENT_PARAM
from cifar.config.fields import as_text
from cifar.config.presets import PRESETS, changed_fields, preset
from cifar.config.settings import FIELDS, ModelConfig, config_from_dict
from cifar.errors import CifarError

WHO_PARAM, PRESET_PARAM, HIDE_PARAM = "who", "preset", "hide"
DEFAULT_PRESET = "tutorial"
# Parameters other parts of the app keep in the address; a link may carry them.
APP_PARAMS = ("run", WHO_PARAM, "image", EXPERIMENT_PARAM)


@dataclass(frozen=True)
class Lesson:
    """What a teacher's link asks for: a preset, values on top of it, controls to hide, and
    what in the link could not be used, in words."""

    preset: str = DEFAULT_PRESET
    values: dict[str, Any] = field(default_factory=dict)
    hidden: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def config(self) -> ModelConfig:
        """The preset with the link's values applied (they were checked together)."""
        return config_from_dict({**preset(self.preset).to_dict(), **self.values})


def _last(value: str | Sequence[str]) -> str:
    return value if isinstance(value, str) else (list(value) or [""])[-1]


def _all(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def read_link(params: Mapping[str, str | Sequence[str]]) -> Lesson:
    """The lesson in a link's parameters (a repeated parameter counts its last value; `hide`
    counts all). Nothing in a link raises: what cannot be used is left out and named."""
    problems: list[str] = []
    name = _last(params.get(PRESET_PARAM, DEFAULT_PRESET)) or DEFAULT_PRESET
    if name not in PRESETS:
        problems.append(
            f"preset={name} in the link is not a preset (they are {', '.join(PRESETS)}); "
            f"the link starts from {DEFAULT_PRESET}."
        )
        name = DEFAULT_PRESET
    parsed: dict[str, Any] = {}
    for key, raw in params.items():
        if key in FIELDS:
            text = _last(raw).strip()
            try:
                parsed[key] = FIELDS[key].parse(text)
            except CifarError as error:
                problems.append(f"{key}={text} in the link was left out: {_sentence(error)}")
        elif key not in (PRESET_PARAM, HIDE_PARAM, *APP_PARAMS):
            problems.append(f"{key} in the link is not a setting, so it was left out. {_spelling_hint(key)}")
    values, refused = _fit_together(preset(name).to_dict(), parsed)
    problems += [
        f"{key}={as_text(FIELDS[key], parsed[key])} in the link was left out: {_sentence(why)}" for key, why in refused
    ]
    hidden, unknown = _hidden(params.get(HIDE_PARAM, ""))
    problems += [f"hide names {key}, which is not a setting; it was left out." for key in unknown]
    return Lesson(name, values, hidden, tuple(problems))


def _sentence(reason: object) -> str:
    return str(reason).rstrip(".") + "."


def _spelling_hint(key: str) -> str:
    close = [name for name in FIELDS if _similar(key, name)]
    if close:
        return f"Did you mean {' or '.join(close)}?"
    return "The settings are the field names of `python -m cifar train --help` with underscores."


def _similar(typed: str, name: str) -> bool:
    typed = typed.lower().replace("-", "_")
    if typed == name or typed in name or name in typed:
        return True
    return len(typed) == len(name) and sum(a != b for a, b in zip(typed, name, strict=True)) <= 2


def _fit_together(base: dict[str, Any], parsed: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The parsed values that make a valid config together with `base`, and why each other one
    does not. Values are tried until none more fits, so that their order in a link does not
    matter (residual before the convs per block it needs)."""
    accepted: dict[str, Any] = {}
    pending = dict(parsed)
    progress = True
    while pending and progress:
        progress = False
        for key, value in list(pending.items()):
            if _valid({**base, **accepted, key: value}) is None:
                accepted[key] = value
                del pending[key]
                progress = True
    refused = [(key, _valid({**base, **accepted, key: value}) or "") for key, value in pending.items()]
    return accepted, refused


def _valid(values: dict[str, Any]) -> str | None:
    try:
        config_from_dict(values)
    except CifarError as error:
        return str(error)
    return None


def _hidden(raw: str | Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    names = [name.strip() for text in _all(raw) for name in text.split(",") if name.strip()]
    known = tuple(dict.fromkeys(name for name in names if name in FIELDS))
    return known, [name for name in names if name not in FIELDS]


def lesson_link(config: ModelConfig, preset_name: str, hidden: Sequence[str] = (), page: str = "train") -> str:
    """The address (relative to the app) that opens the Train page on `config`: the preset,
    the fields that differ from it, and `hidden` as controls to hide."""
    params = {PRESET_PARAM: preset_name}
    params.update({name: as_text(FIELDS[name], getattr(config, name)) for name in changed_fields(config, preset_name)})
    if hidden:
        params[HIDE_PARAM] = ",".join(name for name in FIELDS if name in set(hidden))
    return f"{page}?{urlencode(params, safe=',')}"
