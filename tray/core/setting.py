"""What one setting's declaration holds, and the rule its values keep.

`tray/core/settings.py` declares every setting with `setting(...)`; the settings file, the dialog,
`needs_restart` and the checks below all read these `Setting` records, so that nothing about a
setting is written down twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any, TypeVar, cast, get_origin

MAX_SECONDS = 86400.0  # a day: longer than any timeout anyone means
RESERVED_ENV = "OPENCODE_SERVER_PASSWORD"  # the app sets it from the keyring
DECLARATION = "setting"  # the key of a Settings field's metadata that holds its Setting

T = TypeVar("T")


class Section(Enum):
    """The tables of the settings file, in the file's order."""

    SERVER = "server"
    TIMEOUTS = "timeouts"
    BEHAVIOUR = "behaviour"


class Group(Enum):
    """The boxes of the settings dialog, in its order: a title, and whether it is Advanced."""

    SERVER = ("Server", False)
    STARTUP = ("Startup", False)
    NOTIFICATIONS = ("Notifications", False)
    PROCESS = ("Server process", True)
    CONNECTION = ("Connection", True)
    RESTARTS = ("Automatic restarts", True)
    RESUME = ("Resuming sessions", True)

    @property
    def title(self) -> str:
        return self.value[0]

    @property
    def advanced(self) -> bool:
        return self.value[1]


class Kind(Enum):
    """What a setting holds; it follows from the field's type annotation."""

    TEXT = auto()  # str
    INT = auto()  # int: a whole number from minimum to maximum
    SECONDS = auto()  # float: a number of seconds
    FLAG = auto()  # bool
    CHOICE = auto()  # an Enum: one of its members, written as its value
    ENV = auto()  # Mapping[str, str]: environment variables, a table of its own in the file


class Browse(Enum):
    """A text setting that names a file or a folder: the dialog offers Browse..."""

    FILE = auto()
    FOLDER = auto()  # also: the dialog says so when the folder does not exist


@dataclass(frozen=True)
class Setting:
    """One setting. `name`, `kind`, `default` and `choices` come from its `Settings` field."""

    section: Section  # the table it is written under
    group: Group  # the dialog box it is shown in
    label: str  # the dialog's label (a check box's text)
    help: str  # one line: the file's comment above it and the field's tooltip
    key: str = ""  # its key in the file; empty: its name
    minimum: float = 0.0
    maximum: float = MAX_SECONDS
    above_minimum: bool = False  # the minimum itself is not allowed
    reason: str = ""  # why the range is what it is, said with a range error
    restart: bool = False  # the server is started with it: a change needs a server restart
    unit: str = ""  # shown after a number field; seconds always show "s"
    note: str = ""  # shown after the field, e.g. what 0 means
    placeholder: str = ""  # shown in an empty text field: what empty means
    browse: Browse | None = None
    called: str = ""  # what a sentence calls it ("the port"); empty: "the" and the label
    name: str = ""
    kind: Kind = Kind.TEXT
    default: Any = None
    choices: tuple[Enum, ...] = ()

    @property
    def advanced(self) -> bool:
        return self.group.advanced

    def problem(self, value: object) -> str | None:
        """Why `value` cannot be this setting ("must be ..."), or None when it can."""
        match self.kind:
            case Kind.TEXT:
                return text_problem(value)
            case Kind.FLAG:
                return None if isinstance(value, bool) else "must be true or false"
            case Kind.CHOICE:
                return None if value in self.choices else f"must be {self.choice_words()}"
            case Kind.ENV:
                return _env_problem(value)
            case Kind.INT:
                return self._whole_problem(value)
            case Kind.SECONDS:
                return self._seconds_problem(value)

    def in_a_sentence(self) -> str:
        """What "Changes to ... need a server restart" calls it."""
        return self.called or f"the {self.label[:1].lower()}{self.label[1:]}"

    def choice_words(self) -> str:
        return " or ".join(f'"{choice.value}"' for choice in self.choices)

    def _whole_problem(self, value: object) -> str | None:
        whole = isinstance(value, int) and not isinstance(value, bool)
        if whole and isinstance(value, int) and self.minimum <= value <= self.maximum:
            return None
        return f"must be a whole number from {self.minimum:g} to {self.maximum:g}"

    def _seconds_problem(self, value: object) -> str | None:
        lowest = f"{'more than' if self.above_minimum else 'at least'} {self.minimum:g} seconds"
        reason = f" ({self.reason})" if self.reason else ""
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            return f"must be a number, {lowest}{reason}"
        if value > self.maximum:
            return f"must be at most {self.maximum:g} seconds"
        if value < self.minimum or (self.above_minimum and value == self.minimum):
            return f"must be {lowest}{reason}"
        return None


def setting(default: T, declared: Setting) -> T:
    """A `Settings` field with its default and its declaration (the type checker sees a `T`)."""
    metadata = {DECLARATION: declared}
    if isinstance(default, Mapping):
        frozen = dict(default)
        return cast(T, field(default_factory=lambda: dict(frozen), metadata=metadata))
    return field(default=default, metadata=metadata)


def kind_of(annotation: object) -> tuple[Kind, tuple[Enum, ...]]:
    """The kind a field's type annotation gives, and the choices of an Enum."""
    simple = {bool: Kind.FLAG, int: Kind.INT, float: Kind.SECONDS, str: Kind.TEXT}
    if isinstance(annotation, type) and annotation in simple:
        return simple[annotation], ()
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return Kind.CHOICE, tuple(annotation)
    if get_origin(annotation) is Mapping:
        return Kind.ENV, ()
    raise TypeError(f"a setting cannot be of type {annotation!r}")


def env_entry_problem(name: object, value: object) -> str | None:
    """Why NAME=value cannot be passed to the server, or None when it can."""
    if not isinstance(name, str) or not isinstance(value, str):
        return "names and values must be text"
    if name.upper() == RESERVED_ENV:
        return f"{RESERVED_ENV} cannot be set here: the app sets it from the keyring"
    if not name:
        return "a variable needs a name"
    if "=" in name or any(c.isspace() or c == "\0" for c in name):
        return f"{name!r} is not a variable name (no spaces, no '=')"
    if text_problem(name):
        return f"{name!r} is not a variable name"
    problem = text_problem(value)
    return f"the value of {name} {problem}" if problem else None


def text_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    if "\0" in value:
        return "must not contain a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def _env_problem(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return "must be a table of NAME = value"
    for key, text in value.items():
        problem = env_entry_problem(key, text)
        if problem:
            return problem
    return None
