"""One input per setting, built from its declaration: a line, a check box, a choice or the
environment box, with its unit, its note, Browse... where it names a file or a folder, and the
line below it that says what is wrong.

The input is named after the setting (`port`), its message label `<name>_error`. `read` gives the
value as the input stands and, checked by the setting's rule, why it cannot be the setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tray.core.present import sentence
from tray.core.setting import Browse, Kind, Setting, env_entry_problem

ERROR_STYLE = "color: #c62828"
QUIET_STYLE = "color: palette(mid)"
NUMBER_WIDTH = 80
TEXT_WIDTH = 320
ENV_LINES = 4

Read = tuple[object, str | None]  # the value, and what is wrong with the input if anything


class Field:
    """A setting's input in its column: the input, what follows it, and the lines below it."""

    def __init__(self, declared: Setting, value: object) -> None:
        self.declared = declared
        self.column = QWidget()
        self._below = QVBoxLayout(self.column)
        self._below.setContentsMargins(0, 0, 0, 0)
        self._below.setSpacing(2)
        self.error = QLabel()
        self.error.setObjectName(f"{declared.name}_error")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        self.error.hide()
        self._below.addWidget(self.error)
        self.input = self._build(value)
        self.input.setObjectName(declared.name)
        self.input.setToolTip(declared.help)

    @property
    def labelled(self) -> bool:
        """Whether the form shows the label beside it (a check box carries its own text)."""
        return True

    def read(self) -> Read:
        """The value as the input stands, and why it cannot be the setting if it cannot."""
        value, problem = self._read()
        problem = problem or self.declared.problem(value) or _folder_problem(self.declared, value)
        return value, problem

    def _read(self) -> Read:
        raise NotImplementedError

    def settle(self, value: object) -> None:
        """`value` was applied from this input as it stands."""

    def on_change(self, slot: Callable[[], None]) -> None:
        raise NotImplementedError

    def show_problem(self, problem: str | None) -> None:
        self.error.setText(sentence(problem) if problem else "")
        self.error.setVisible(problem is not None)

    def add_below(self, widget: QWidget) -> None:
        """Put `widget` under the input, above the error line."""
        self._below.insertWidget(self._below.count() - 1, widget)

    def _build(self, value: object) -> QWidget:
        raise NotImplementedError

    def _line(self, *items: QWidget | None) -> None:
        """The input's line: widgets side by side; None is a stretch."""
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for item in items:
            if item is None:
                row.addStretch(1)
            else:
                row.addWidget(item)
        self._below.insertLayout(self._below.count() - 1, row)


class LineField(Field):
    """Text or a number in a line edit. A value is read back untouched while its text is."""

    def _build(self, value: object) -> QWidget:
        self._value = value
        self._shown = _text(value)
        self.edit = QLineEdit(self._shown)
        self.edit.setPlaceholderText(self.declared.placeholder)
        if self.declared.kind is Kind.TEXT:
            self.edit.setMinimumWidth(TEXT_WIDTH)
            self._line(self.edit, *self._browse_button())
        else:
            self.edit.setFixedWidth(NUMBER_WIDTH)
            self._line(self.edit, *self._after(), None)
        return self.edit

    def _read(self) -> Read:
        text = self.edit.text()
        if text == self._shown:
            value = self._value
        else:
            value = text if self.declared.kind is Kind.TEXT else _number(text)
        return value, None

    def settle(self, value: object) -> None:
        self._value, self._shown = value, self.edit.text()

    def on_change(self, slot: Callable[[], None]) -> None:
        self.edit.textChanged.connect(slot)

    def _after(self) -> list[QWidget]:
        unit = "s" if self.declared.kind is Kind.SECONDS else self.declared.unit
        after: list[QWidget] = [QLabel(unit)] if unit else []
        return after + ([_quiet(self.declared.note)] if self.declared.note else [])

    def _browse_button(self) -> list[QWidget]:
        if self.declared.browse is None:
            return []
        button = QPushButton("Browse...")
        button.clicked.connect(self._browse)
        return [button]

    def _browse(self) -> None:
        current = self.edit.text()
        start = Path(current).expanduser() if current else Path.home()
        what = self.declared.label[:1].lower() + self.declared.label[1:]
        chooser = QFileDialog(self.column, f"Choose the {what}")
        if self.declared.browse is Browse.FOLDER:
            chooser.setFileMode(QFileDialog.FileMode.Directory)
            chooser.setOption(QFileDialog.Option.ShowDirsOnly)
            chooser.setDirectory(str(start))
        else:
            chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
            chooser.setDirectory(str(start.parent if current else start))
        chooser.fileSelected.connect(self.edit.setText)
        chooser.open()


class CheckField(Field):
    def _build(self, value: object) -> QWidget:
        self.check = QCheckBox(self.declared.label)
        self.check.setChecked(bool(value))
        self._line(self.check)
        return self.check

    @property
    def labelled(self) -> bool:
        return False

    def _read(self) -> Read:
        return self.check.isChecked(), None

    def on_change(self, slot: Callable[[], None]) -> None:
        self.check.toggled.connect(slot)


class ChoiceField(Field):
    def _build(self, value: object) -> QWidget:
        self.combo = QComboBox()
        for choice in self.declared.choices:
            self.combo.addItem(str(choice.value).capitalize(), choice)
        self.combo.setCurrentIndex(max(0, self.combo.findData(value)))
        self._line(self.combo, *([_quiet(self.declared.note)] if self.declared.note else []), None)
        return self.combo

    def _read(self) -> Read:
        choice: Enum = self.combo.currentData()
        return choice, None

    def on_change(self, slot: Callable[[], None]) -> None:
        self.combo.currentIndexChanged.connect(slot)


class EnvField(Field):
    """NAME=value lines. Values no line can show (a line break) survive while the text is kept."""

    def _build(self, value: object) -> QWidget:
        self._value = value
        self._shown = env_text(value) if isinstance(value, Mapping) else ""
        self.box = QPlainTextEdit(self._shown)
        self.box.setPlaceholderText(self.declared.placeholder)
        self.box.setTabChangesFocus(True)
        self.box.setFixedHeight(self.box.fontMetrics().lineSpacing() * ENV_LINES + 12)
        self._line(self.box)
        if self.declared.note:
            self.add_below(_quiet(self.declared.note))
        return self.box

    def _read(self) -> Read:
        text = self.box.toPlainText()
        if text == self._shown:
            return self._value, None
        return parse_env(text)

    def settle(self, value: object) -> None:
        self._value, self._shown = value, self.box.toPlainText()

    def on_change(self, slot: Callable[[], None]) -> None:
        self.box.textChanged.connect(slot)


def field_for(declared: Setting, value: object) -> Field:
    """The input that suits the setting's kind."""
    kinds: dict[Kind, type[Field]] = {
        Kind.FLAG: CheckField,
        Kind.CHOICE: ChoiceField,
        Kind.ENV: EnvField,
    }
    return kinds.get(declared.kind, LineField)(declared, value)


def parse_env(text: str) -> tuple[dict[str, str], str | None]:
    """NAME=value lines (blank lines and # comments skipped): the variables, and the first
    problem ("line 2: ...") if there is one."""
    env: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals:
            return env, f"line {number}: write NAME=value"
        if name in env:
            return env, f"line {number}: {name} is set twice"
        problem = env_entry_problem(name, value)
        if problem:
            return env, f"line {number}: {problem}"
        env[name] = value
    return env, None


def env_text(env: Mapping[object, object]) -> str:
    return "".join(f"{name}={value}\n" for name, value in env.items())


def _text(value: object) -> str:
    """What a line edit shows: a number as the shortest text that reads back exactly (60.0 is
    "60", 2.5 is "2.5"), text as it is."""
    if isinstance(value, float):
        return repr(value).removesuffix(".0")
    return str(value)


def _number(text: str) -> int | float | str:
    """A number if the text is one, else the text itself (which the rules then refuse)."""
    for kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            continue
    return text


def _folder_problem(declared: Setting, value: object) -> str | None:
    if declared.browse is not Browse.FOLDER or not isinstance(value, str) or not value:
        return None
    return None if Path(value).expanduser().is_dir() else "no such folder"


def _quiet(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet(QUIET_STYLE)
    return label
