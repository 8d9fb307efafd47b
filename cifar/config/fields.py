"""The kinds of setting a config field can be: how each is checked, parsed, shown and edited.

A field knows its bounds or choices, so the one description makes the validation message, the
command line's flag and help, the Train page's widget and the comparison's column and axis.
The fields themselves, one entry each, are the table `FIELDS` in cifar/config/settings.py.

Validation messages name the field, say what is allowed and show the value given:
"dropout must be at least 0 and below 1; got 1.5".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from cifar.errors import ConfigError

# The Train page's tabs, in order; a field's `group` is one of them.
GROUPS = ("Architecture", "Regularisation", "Optimisation", "Data")
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True, kw_only=True)
class Field:
    """One setting: its name, default, words for people, and where it shows.

    `widget` is the Train page's control: "slider", "select_slider" (over `options`), "number",
    "toggle", "select" or "per_block". `rank` orders the comparison's axes: the settings a
    class most often splits between them come first.
    """

    name: str
    label: str  # the Train page's label
    help: str  # one sentence: what the setting does
    group: str  # the Train page's tab, one of GROUPS
    axis: str  # a short title for a comparison's column or axis
    default: Any = None  # ModelConfig's default for the field (cifar/config/settings.py)
    unit: str = ""
    rank: int = 50
    widget: str = "number"
    options: tuple = ()  # the widget's choices, where it offers a few
    log_scale: bool = False  # compare values on a log scale (a learning rate)
    number_format: str | None = None  # how a table shows it ("localized": 6,000)
    # Another field and its least value, without which this one may only keep its default:
    # ("convs_per_block", 2), or ("batch_norm", 1) for a switch that must be on.
    needs: tuple[str, int] | None = None
    # A switch that must be off while this one is on, and why the two do not go together:
    # refused at launch (settings.clash), so that a run saved before the rule still opens.
    excludes: tuple[str, str] | None = None
    metavar: ClassVar[str] = "VALUE"  # how the command line's help names a value

    def normalize(self, value: Any) -> Any:
        """The stored form of a value as JSON or a caller hands it over."""
        return value

    def check(self, value: Any) -> None:
        """Raise ConfigError naming the field when `value` is not allowed."""

    def check_with(self, values: dict[str, Any]) -> None:
        """Raise ConfigError when the value does not fit the config's other values (`needs`)."""
        if self.needs is None or values[self.name] == self.default:
            return
        other, least = self.needs
        if values[other] >= least:
            return
        if isinstance(values[other], bool):
            back = "off" if isinstance(self.default, bool) else f"back to {self.default}"
            raise ConfigError(f"{self.name} needs {other} on; it is off. Turn {other} on, or {self.name} {back}.")
        raise ConfigError(
            f"{self.name} needs {other} of at least {least}; got {values[other]}. "
            f"Raise {other} or turn {self.name} off."
        )

    def allowed(self) -> str:
        """What values are allowed, in words."""
        return ""

    def parse(self, text: str) -> Any:
        """The value typed on a command line or written in a link."""
        return text

    def to_json(self, value: Any) -> Any:
        return value

    def show(self, value: Any) -> Any:
        """The value as a table shows it."""
        return value

    def widget_options(self, value: Any) -> list:
        """The widget's choices, with `value` among them even when it is not a usual one."""
        options = list(self.options)
        if value not in options:
            options = sorted([*options, value], key=_order)
        return options

    def to_widget(self, value: Any) -> Any:
        return value

    def from_widget(self, value: Any) -> Any:
        return value

    def refuse(self, allowed: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.name} must be {allowed}; got {value!r}")


def _order(value: Any) -> tuple:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def _parse_number(field: Field, text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise field.refuse(field.allowed(), text) from None


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class Int(Field):
    """A whole number from `low` to `high`; with `choices`, only those."""

    low: int
    high: int
    choices: tuple[int, ...] = ()
    metavar: ClassVar[str] = "N"

    def check(self, value: Any) -> None:
        if not _is_whole(value):
            raise self.refuse(self.allowed(), value)
        if self.choices and value not in self.choices:
            raise self.refuse(self.allowed(), value)
        if not self.low <= value <= self.high:
            raise ConfigError(f"{self.name} must be {self._range()}; got {value}")

    def _range(self) -> str:
        return f"from {self.low} to {self.high}"

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(str(choice) for choice in self.choices)
        return f"a whole number {self._range()}"

    def parse(self, text: str) -> Any:
        return _parse_number(self, text, int)


@dataclass(frozen=True, kw_only=True)
class OptionalInt(Int):
    """A whole number, or None for "all" (`none_word` in words and on the widget)."""

    none_word: str = "all"
    metavar: ClassVar[str] = "N|all"

    def check(self, value: Any) -> None:
        if value is not None:
            super().check(value)

    def normalize(self, value: Any) -> Any:
        # The word is the value's name on the command line, in a link and on the widget.
        return None if isinstance(value, str) and value.strip().lower() == self.none_word else value

    def _range(self) -> str:
        return f"from {self.low} to {self.high}, or {self.none_word}"

    def parse(self, text: str) -> Any:
        return None if text.strip().lower() in (self.none_word, "none") else super().parse(text)

    def show(self, value: Any) -> Any:
        return self.none_word if value is None else value

    def to_widget(self, value: Any) -> Any:
        return self.show(value)

    def from_widget(self, value: Any) -> Any:
        return None if value == self.none_word else int(value)

    def widget_options(self, value: Any) -> list:
        numbers = [option for option in self.options if option != self.none_word]
        if value is not None and value != self.none_word and value not in numbers:
            numbers = sorted([*numbers, value])
        return [*numbers, self.none_word]


@dataclass(frozen=True, kw_only=True)
class Float(Field):
    """A number between `low` and `high`; each end is included unless marked open."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False
    step: float = 0.05  # the slider's step, and how finely a widget's value is rounded
    slider_high: float | None = None  # the slider's end where the allowed range goes further
    metavar: ClassVar[str] = "X"

    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.refuse(f"a number {self._range()}", value)
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        if not (above and below):
            raise ConfigError(f"{self.name} must be {self._range()}; got {value}")

    def _range(self) -> str:
        if not self.low_open and not self.high_open:
            return f"from {self.low:g} to {self.high:g}"
        low = f"above {self.low:g}" if self.low_open else f"at least {self.low:g}"
        high = f"below {self.high:g}" if self.high_open else f"at most {self.high:g}"
        return f"{low} and {high}"

    def allowed(self) -> str:
        return f"a number {self._range()}"

    def parse(self, text: str) -> Any:
        return _parse_number(self, text, float)

    def from_widget(self, value: Any) -> Any:
        if self.widget == "slider":
            return round(float(value), max(0, -math.floor(math.log10(self.step))))
        return value


@dataclass(frozen=True, kw_only=True)
class Bool(Field):
    """On or off; with `needs` (a field and its least value), on only where that field allows it."""

    widget: str = "toggle"

    def check(self, value: Any) -> None:
        if not isinstance(value, bool):
            raise self.refuse("true or false", value)

    def allowed(self) -> str:
        return "true or false"

    def parse(self, text: str) -> Any:
        word = text.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise self.refuse("true or false (also yes/no, on/off, 1/0)", text)


@dataclass(frozen=True, kw_only=True)
class Choice(Field):
    """One of a few named `choices`."""

    choices: tuple[str, ...]
    widget: str = "select"

    def check(self, value: Any) -> None:
        if value not in self.choices or not isinstance(value, str):
            raise self.refuse(self.allowed(), value)

    def allowed(self) -> str:
        return "one of " + ", ".join(self.choices)

    def widget_options(self, value: Any) -> list:
        return list(self.choices)


@dataclass(frozen=True, kw_only=True)
class PerBlock(Field):
    """Whole numbers from `low` to `high`: one for every block, or one per block, where the
    number of blocks is the field `count_field`."""

    low: int
    high: int
    count_field: str
    widget: str = "per_block"
    metavar: ClassVar[str] = "N[,N...]"

    def normalize(self, value: Any) -> Any:
        if _is_whole(value):
            return (value,)
        return tuple(value) if isinstance(value, list | tuple) else value

    def check(self, value: Any) -> None:
        if not isinstance(value, tuple) or not value:
            raise self.refuse(f"one number or one per block ({self.low} to {self.high})", value)
        for number in value:
            if not _is_whole(number):
                raise self.refuse(f"whole numbers from {self.low} to {self.high}", number)
            if not self.low <= number <= self.high:
                raise ConfigError(f"{self.name} must be from {self.low} to {self.high}; got {number}")

    def check_with(self, values: dict[str, Any]) -> None:
        blocks = values[self.count_field]
        given = values[self.name]
        if len(given) not in (1, blocks):
            raise ConfigError(
                f"{self.name} must give one value for all blocks or one per block ({self.count_field} is "
                f"{blocks}); got {len(given)} values: {list(given)}"
            )

    def allowed(self) -> str:
        return f"one number from {self.low} to {self.high} for every block, or one per block, like 32,64"

    def parse(self, text: str) -> Any:
        try:
            return tuple(int(part) for part in text.split(","))
        except ValueError:
            raise self.refuse("whole numbers separated by commas, like 32,64", text) from None

    def to_json(self, value: Any) -> Any:
        return list(value)

    def show(self, value: Any) -> Any:
        return ", ".join(str(number) for number in value) if isinstance(value, list | tuple) else value

    def per_block(self, value: tuple[int, ...], blocks: int) -> tuple[int, ...]:
        """One value for each of `blocks` blocks."""
        return value * blocks if len(value) == 1 else value


def as_text(field: Field, value: Any) -> str:
    """A value as a link or the command line writes it, which `field.parse` reads back."""
    if isinstance(field, Bool):
        return "true" if value else "false"
    if isinstance(field, PerBlock):
        return ",".join(str(number) for number in value)
    if isinstance(field, Float) and isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)  # 0 for 0.0, and 0.0001 whole
    return str(field.show(value))  # an OptionalInt's None as its word ("all")
