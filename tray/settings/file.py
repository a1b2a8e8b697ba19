"""The settings file: one commented TOML file, read forgivingly and written atomically.

Reading never fails and never loses what the user wrote: a missing file gives the defaults; a
syntax error costs only the broken lines (each line is then read on its own); a bad value costs
only its key. Every problem becomes a warning that names the file, the line and the key, and a
file with problems is first copied beside itself (settings.toml.broken-YYYYmmdd-HHMMSS), so a
later save cannot destroy it. Which keys exist, under which table, and what they may hold is
declared once, in `tray.core.settings`; this module only reads and writes that.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
import tempfile
import textwrap
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from tray.core.setting import Kind, Section, Setting, env_entry_problem
from tray.core.settings import SETTINGS, Settings, problems, validate
from tray.platform.paths import private_dir

_HEADER = """\
# opencode tray settings. Change them with Settings... in the tray menu, or here.
# A value that cannot be used falls back to its default with a warning, and this file is
# then kept as it was beside itself (settings.toml.broken-YYYYmmdd-HHMMSS).
"""
_SECTIONS = tuple(section.value for section in Section)
_BY_KEY = {(declared.section.value, declared.key): name for name, declared in SETTINGS.items()}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_HEADER_GUESS = re.compile(r"^\[+\s*([^\]#]*?)\s*\]*\s*(?:#.*)?$")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_SHOWN = 60
_COMMENT_WIDTH = 98  # with "# ", a file line stays within 100 columns

TomlTable = dict[str, object]
KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class LoadResult:
    settings: Settings
    warnings: list[str] = field(default_factory=list)
    backup: Path | None = None  # where the file with problems was copied to


# -- writing --------------------------------------------------------------------------------------


def save(path: Path, settings: Settings) -> None:
    """Write `settings` to `path` atomically: a reader sees the old file or the new, never half.

    Raises ValueError for settings that break a rule (they could not be read back) and OSError
    when the file cannot be written; the old file is then untouched.
    """
    bad = problems(settings)
    if bad:
        raise ValueError("; ".join(f"{name} {problem}" for name, problem in bad.items()))
    text = render(settings)
    private_dir(path.parent)  # the user's only, with the backups; mkstemp makes the file 0600
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(path.parent)


def render(settings: Settings) -> str:
    """The file's text for `settings`: every key, each under a one-line comment."""
    lines = [_HEADER.rstrip("\n")]
    for section in _SECTIONS:
        lines += ["", f"[{section}]"]
        tables: list[str] = []
        for name, declared in SETTINGS.items():
            if declared.section.value != section:
                continue
            value = getattr(settings, name)
            comment = [f"# {line}" for line in textwrap.wrap(declared.help, _COMMENT_WIDTH)]
            if declared.kind is Kind.ENV:
                tables += ["", f"[{section}.{declared.key}]", *comment]
                tables += [f"{_key(k)} = {_string(v)}" for k, v in value.items()]
            else:
                lines += [*comment, f"{declared.key} = {_format(value)}"]
        lines += tables
    return "\n".join(lines) + "\n"


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; Windows cannot open a directory)."""
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Enum):
        return _string(str(value.value))
    return _string(str(value))


def _string(text: str) -> str:
    r"""A TOML string; a literal one ('C:\Users') where it saves backslashes."""
    if "\\" in text and "'" not in text and not any(map(_is_control, text)):
        return f"'{text}'"
    return '"' + "".join(_escape(c) for c in text) + '"'


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\u{ord(char):04x}" if _is_control(char) else char


def _is_control(char: str) -> bool:
    return ord(char) < 0x20 or ord(char) == 0x7F


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


# -- reading --------------------------------------------------------------------------------------


def load(path: Path) -> LoadResult:
    """The settings in `path`: defaults for whatever is missing or unusable, with warnings."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return LoadResult(Settings())
    except OSError as error:
        reason = error.strerror or str(error)
        return LoadResult(Settings(), [f"{path} cannot be read ({reason}): using the defaults."])
    reader = _Reader(path)
    settings = reader.read(data)
    if not reader.warnings:
        return LoadResult(settings)
    backup, note = _keep_backup(path, data)
    return LoadResult(settings, [*reader.warnings, note], backup)


def _keep_backup(path: Path, data: bytes) -> tuple[Path | None, str]:
    """Copy the file as it is beside itself, once per content; say where."""
    for existing in sorted(path.parent.glob(glob.escape(path.name) + ".broken-*")):
        with contextlib.suppress(OSError):
            if existing.read_bytes() == data:
                return existing, f"The file as it was is kept in {existing}."
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(100):
        suffix = f"-{attempt}" if attempt else ""
        candidate = path.with_name(f"{path.name}.broken-{stamp}{suffix}")
        try:  # the user's only, like the file it copies
            with os.fdopen(
                os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb"
            ) as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
        except FileExistsError:
            continue
        except OSError as error:
            reason = error.strerror or str(error)
            return None, (
                f"Could not keep a copy of {path} ({reason}): fix it by hand before changing "
                "the settings, or the lines above are lost."
            )
        return candidate, f"The file as it was is kept in {candidate}."
    return None, f"Could not keep a copy of {path}: too many copies already."


class _Reader:
    """One reading of one file: the values it can use and a warning for everything else."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []
        self._lines: dict[KeyPath, int] = {}  # where each key or table header is

    def read(self, data: bytes) -> Settings:
        lines = self._decode(data.removeprefix(b"\xef\xbb\xbf"))
        line_by_line, broken = self._scan(lines)
        try:
            document: TomlTable = tomllib.loads("\n".join(lines))
        except tomllib.TOMLDecodeError as error:
            document = line_by_line
            self.warnings += broken or [f"{self.path}: {error}; read line by line instead."]
        return replace(Settings(), **self._values(document))

    def _decode(self, data: bytes) -> list[str]:
        lines: list[str] = []
        for number, raw in enumerate(data.split(b"\n"), 1):
            try:
                lines.append(raw.removesuffix(b"\r").decode("utf-8"))
            except UnicodeDecodeError:
                self.warnings.append(f"{self.path} line {number}: not UTF-8 text; line ignored.")
                lines.append("")
        return lines

    def _scan(self, lines: list[str]) -> tuple[TomlTable, list[str]]:
        """Read every line on its own: the document as far as it goes, and the broken lines."""
        document: TomlTable = {}
        broken: list[str] = []
        table: KeyPath = ()
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("["):
                table, problem = _table_header(stripped)
                self._lines.setdefault(table, number)
                if problem:
                    broken.append(
                        f"{self.path} line {number}: cannot read the table header {stripped!r} "
                        f"({problem}); the lines below it are read as [{'.'.join(table)}]."
                    )
                continue
            try:
                parsed = tomllib.loads(line)
            except tomllib.TOMLDecodeError as error:
                key = _key_of(line)
                if key:
                    self._lines.setdefault(table + key, number)
                what = f"{'.'.join(table + key)} keeps its default" if key else "line ignored"
                broken.append(
                    f"{self.path} line {number}: cannot read {_short(stripped)!r} "
                    f"({_without_position(error)}); {what}."
                )
                continue
            for key, value in _leaves(parsed):
                self._lines.setdefault(table + key, number)
                problem = _insert(document, table + key, value)
                if problem:
                    broken.append(f"{self.path} line {number}: {problem}; line ignored.")
        return document, broken

    def _values(self, document: TomlTable) -> dict[str, Any]:
        values: dict[str, Any] = {}  # validated, so each fits its field
        for section, table in document.items():
            if section not in _SECTIONS:
                self._unknown((section,), table)
            elif not isinstance(table, dict):
                self._warn((section,), f"must be a table, written [{section}]; ignored")
            else:
                for key, raw in table.items():
                    name = _BY_KEY.get((section, key))
                    if name is None:
                        self._unknown((section, key), raw)
                    elif SETTINGS[name].kind is Kind.ENV:
                        values[name] = self._environment((section, key), raw)
                    else:
                        self._value(name, (section, key), raw, values)
        return values

    def _value(self, name: str, where: KeyPath, raw: object, values: dict[str, Any]) -> None:
        value = _convert(SETTINGS[name], raw)
        problem = validate(name, value)
        if problem:
            default = _format(SETTINGS[name].default)
            self._warn(where, f"= {_shown(raw)}: {problem}; using the default {default}")
        else:
            values[name] = value

    def _environment(self, where: KeyPath, raw: object) -> dict[str, str]:
        if not isinstance(raw, dict):
            self._warn(where, f"must be a table, written [{'.'.join(where)}]; ignored")
            return {}
        env: dict[str, str] = {}
        for name, value in raw.items():
            problem = env_entry_problem(name, value)
            if problem:
                self._warn((*where, name), f"= {_shown(value)}: {problem}; ignored")
            else:
                env[name] = str(value)
        return env

    def _unknown(self, where: KeyPath, value: object) -> None:
        home = [s for (s, k) in _BY_KEY if k == where[-1] and (s,) != where[:-1]]
        hint = f" (it belongs under [{home[0]}])" if home else ""
        what = "table" if isinstance(value, dict) else "setting"
        self._warn(where, f"is not a known {what}{hint}; ignored")

    def _warn(self, where: KeyPath, message: str) -> None:
        line = self._lines.get(where)
        place = f"{self.path} line {line}" if line else str(self.path)
        self.warnings.append(f"{place}: {'.'.join(where)} {message}.")


def _convert(declared: Setting, raw: object) -> object:
    """The Settings value for a TOML value, where the types differ; else the value itself."""
    if declared.kind is Kind.SECONDS and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if declared.kind is Kind.CHOICE:
        return next((choice for choice in declared.choices if choice.value == raw), raw)
    return raw


def _table_header(line: str) -> tuple[KeyPath, str | None]:
    """The table a header line opens, and what is wrong with the line if anything."""
    try:
        parsed: object = tomllib.loads(line)
    except tomllib.TOMLDecodeError as error:
        match = _HEADER_GUESS.match(line)
        guess = match.group(1) if match else ""
        parts = tuple(p.strip().strip("\"'") for p in guess.split(".") if p.strip())
        return parts or ("?",), _without_position(error)
    path: list[str] = []
    while isinstance(parsed, dict | list) and parsed:
        if isinstance(parsed, list):
            parsed = parsed[-1]
            continue
        key, parsed = next(iter(parsed.items()))
        path.append(key)
    return tuple(path), None


def _key_of(line: str) -> KeyPath:
    """The key of a `key = value` line whose value is broken, if the key itself is readable."""
    key, equals, _ = line.partition("=")
    if not equals:
        return ()
    try:
        parsed = tomllib.loads(f"{key}= 0")
    except tomllib.TOMLDecodeError:
        return ()
    return next(_leaves(parsed))[0]


def _leaves(table: TomlTable, prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, object]]:
    for key, value in table.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def _insert(document: TomlTable, path: KeyPath, value: object) -> str | None:
    table = document
    for depth, key in enumerate(path[:-1]):
        inner = table.setdefault(key, {})
        if not isinstance(inner, dict):
            return f"{'.'.join(path[: depth + 1])} is already a value, not a table"
        table = inner
    if path[-1] in table:
        return f"{'.'.join(path)} is set twice"
    table[path[-1]] = value
    return None


def _without_position(error: tomllib.TOMLDecodeError) -> str:
    return re.sub(r"\s*\(at (?:line \d+, column \d+|end of document)\)$", "", str(error))


def _shown(value: object) -> str:
    text = _format(value) if isinstance(value, str | int | float) else repr(value)
    return _short(text)


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
