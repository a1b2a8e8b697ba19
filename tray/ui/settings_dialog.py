"""The settings dialog: edit the settings, check them while they are typed, apply without quitting.

It knows `Settings` and the rules in `settings_file`, nothing else. New settings leave through
`applied`, a wish to restart the server through `restart_requested`, and the binary is checked by
the async callable it is given. Non-modal: show it with show() or open(), never exec().
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tray import settings_file
from tray.core.settings import Settings
from tray.engine.probe import check_binary
from tray.identity import DISPLAY_NAME

Checker = Callable[[str], Awaitable[str]]

CHECK_DELAY_MS = 400  # typing pauses this long before the binary is checked
_ERROR_STYLE = "color: #c62828"
_FOUND_STYLE = "color: #2e7d32"
_QUIET_STYLE = "color: palette(mid)"
_NUMBER_WIDTH = 80
# What each launch field is called in "Changes to X need a server restart".
_LAUNCH_NAMES = {
    "opencode_path": "the opencode binary",
    "port": "the port",
    "working_directory": "the working folder",
    "extra_env": "the extra environment",
}
_SECONDS = {
    "startup_timeout_s": "Server startup:",
    "heartbeat_timeout_s": "Heartbeat / stall:",
    "reconnect_max_s": "Reconnect backoff maximum:",
}
_FLAGS = {
    "start_at_login": "Start at login",
    "start_server_with_app": "Start the server with the app",
    "notify_incidents": "Notify when the server disconnects or crashes",
    "notify_recovered": "Notify when the server has recovered",
    "notify_session_finished": "Notify about sessions that finished while disconnected",
}


class SettingsDialog(QDialog):
    """Widgets are named after their Settings field (`port`), error labels `<field>_error`."""

    applied = Signal(object)  # Settings: the new settings, valid, to take effect now
    restart_requested = Signal()  # restart the server so that the applied settings reach it

    def __init__(
        self,
        settings: Settings,
        parent: QWidget | None = None,
        *,
        server_settings: Settings | None = None,
        checker: Checker = check_binary,
        check_delay_ms: int = CHECK_DELAY_MS,
    ) -> None:
        """`settings` are the ones in effect; `server_settings` the ones the running server was
        started with, if they differ; `checker` returns the version of the binary a path setting
        selects ("" included) or raises with a message for the user."""
        super().__init__(parent)
        self._settings = settings
        self._server = settings if server_settings is None else server_settings
        self._checker = checker
        self._check: asyncio.Task[None] | None = None
        self._env_shown = _env_text(settings.extra_env)
        self._edits: dict[str, QLineEdit] = {}
        self._flags: dict[str, QCheckBox] = {}
        self._errors: dict[str, QLabel] = {}
        self._labels: list[QLabel] = []
        self.setWindowTitle(f"{DISPLAY_NAME}: Settings")
        self.setMinimumWidth(660)

        self._env = QPlainTextEdit(_env_text(settings.extra_env))
        self._binary_status = QLabel()
        self._binary_status.setObjectName("binary_status")
        self._binary_status.setWordWrap(True)
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(check_delay_ms)
        self._check_timer.timeout.connect(self._start_check)

        self._restart_label = QLabel()
        self._restart_label.setObjectName("restart_label")
        self._restart_label.setWordWrap(True)
        self._restart_button = QPushButton("Restart server now")
        self._restart_button.setObjectName("restart_button")
        self._restart_button.setToolTip("Apply the changes and restart the server with them")
        self._restart_button.clicked.connect(self._restart)
        self._restart_note = QFrame()
        self._restart_note.setObjectName("restart_note")
        self._restart_note.setFrameShape(QFrame.Shape.StyledPanel)
        note = QHBoxLayout(self._restart_note)
        note.addWidget(self._restart_label, 1)
        note.addWidget(self._restart_button)

        self._buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.Cancel
        )
        self._buttons.accepted.connect(self._ok)
        self._buttons.rejected.connect(self.reject)
        self._button(QDialogButtonBox.StandardButton.Apply).clicked.connect(self.apply)

        layout = QVBoxLayout(self)
        layout.addWidget(self._server_group())
        layout.addWidget(self._timeouts_group())
        layout.addWidget(self._behaviour_group())
        layout.addStretch(1)
        layout.addWidget(self._restart_note)
        layout.addWidget(self._buttons)

        self._env.textChanged.connect(self._refresh)
        self._edits["opencode_path"].textChanged.connect(self._binary_changed)
        width = max(label.sizeHint().width() for label in self._labels)
        for label in self._labels:
            label.setMinimumWidth(width)  # one column of labels across the groups
        self._refresh()

    # -- the public side -------------------------------------------------------------------------

    def edited(self) -> Settings | None:
        """The settings as the fields stand, or None while a field is bad."""
        return self._read()[0]

    def apply(self) -> None:
        """Emit `applied` with the edited settings if they are valid and differ."""
        new = self.edited()
        if new is None or new == self._settings:
            return
        self._settings = new
        self._env_shown = self._env.toPlainText()
        self.applied.emit(new)
        self._refresh()

    def set_server_settings(self, settings: Settings) -> None:
        """The server was (re)started with `settings`: the restart note compares with these."""
        self._server = settings
        self._refresh()

    def showEvent(self, event: QShowEvent) -> None:
        """Check the binary each time the dialog opens: it may have been installed since."""
        super().showEvent(event)
        self._binary_changed()

    def done(self, result: int) -> None:
        self._check_timer.stop()
        if self._check is not None:
            self._check.cancel()
        super().done(result)

    # -- the groups ------------------------------------------------------------------------------

    def _server_group(self) -> QGroupBox:
        form = QFormLayout()
        path = self._edit("opencode_path", self._settings.opencode_path)
        path.setPlaceholderText("opencode on PATH, else the project-local install")
        browse_binary = QPushButton("Browse...")
        browse_binary.clicked.connect(self._browse_binary)
        form.addRow(
            self._label("opencode binary:", path),
            self._field("opencode_path", _row(path, browse_binary), self._binary_status),
        )
        port = self._edit("port", str(self._settings.port), _NUMBER_WIDTH)
        form.addRow(
            self._label("Port:", port),
            self._field("port", _row(port, _hint("0: any free port"), None)),
        )
        folder = self._edit("working_directory", self._settings.working_directory)
        folder.setPlaceholderText("your home folder")
        browse_folder = QPushButton("Browse...")
        browse_folder.clicked.connect(self._browse_folder)
        form.addRow(
            self._label("Working folder:", folder),
            self._field("working_directory", _row(folder, browse_folder)),
        )
        self._env.setObjectName("extra_env")
        self._env.setToolTip(settings_file.RULES["extra_env"].comment)
        self._env.setPlaceholderText("NAME=value, one per line")
        self._env.setTabChangesFocus(True)
        self._env.setFixedHeight(self._env.fontMetrics().lineSpacing() * 4 + 12)
        form.addRow(
            self._label("Extra environment:", self._env),
            self._field("extra_env", self._env, _hint("One NAME=value per line.")),
        )
        return _group("Server", form)

    def _timeouts_group(self) -> QGroupBox:
        form = QFormLayout()
        for name, label in _SECONDS.items():
            edit = self._edit(name, _number_text(getattr(self._settings, name)), _NUMBER_WIDTH)
            form.addRow(self._label(label, edit), self._field(name, _row(edit, QLabel("s"), None)))
        limit = self._edit("crash_loop_limit", str(self._settings.crash_loop_limit), 50)
        window_s = _number_text(self._settings.crash_loop_window_s)
        window = self._edit("crash_loop_window_s", window_s, _NUMBER_WIDTH)
        crash_row = _row(limit, QLabel("crashes within"), window, QLabel("s"), None)
        errors = self._error_label("crash_loop_limit"), self._error_label("crash_loop_window_s")
        form.addRow(self._label("Restart crash-loop limit:", limit), _stack(crash_row, *errors))
        grace_s = _number_text(self._settings.notification_grace_s)
        grace = self._edit("notification_grace_s", grace_s, _NUMBER_WIDTH)
        form.addRow(
            self._label("Notification grace:", grace),
            self._field("notification_grace_s", _row(grace, QLabel("s"), None)),
        )
        return _group("Timeouts", form)

    def _behaviour_group(self) -> QGroupBox:
        box = QVBoxLayout()
        for name, label in _FLAGS.items():
            check = QCheckBox(label)
            check.setObjectName(name)
            check.setToolTip(settings_file.RULES[name].comment)
            check.setChecked(getattr(self._settings, name))
            check.toggled.connect(self._refresh)
            self._flags[name] = check
            box.addWidget(check)
        return _group("Behaviour", box)

    def _edit(self, name: str, text: str, width: int = 0) -> QLineEdit:
        edit = QLineEdit(text)
        edit.setObjectName(name)
        edit.setToolTip(settings_file.RULES[name].comment)
        if width:
            edit.setFixedWidth(width)
        else:
            edit.setMinimumWidth(300)
        edit.textChanged.connect(self._refresh)
        self._edits[name] = edit
        return edit

    def _label(self, text: str, buddy: QWidget) -> QLabel:
        label = QLabel(text)
        label.setBuddy(buddy)
        self._labels.append(label)
        return label

    def _field(self, name: str, main: QWidget | QLayout, *below: QWidget) -> QWidget:
        return _stack(main, *below, self._error_label(name))

    def _error_label(self, name: str) -> QLabel:
        label = QLabel()
        label.setObjectName(f"{name}_error")
        label.setStyleSheet(_ERROR_STYLE)
        label.setWordWrap(True)
        label.hide()
        self._errors[name] = label
        return label

    def _button(self, which: QDialogButtonBox.StandardButton) -> QPushButton:
        button = self._buttons.button(which)
        assert button is not None
        return button

    # -- reading and checking --------------------------------------------------------------------

    def _read(self) -> tuple[Settings | None, dict[str, str]]:
        """The settings as the fields stand (None if any is bad), and why each bad one is."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, edit in self._edits.items():
            is_text = settings_file.RULES[name].kind is settings_file.Kind.TEXT
            values[name] = edit.text() if is_text else _number(edit.text())
        for name, check in self._flags.items():
            values[name] = check.isChecked()
        env_text = self._env.toPlainText()
        if env_text == self._env_shown:
            values["extra_env"] = dict(self._settings.extra_env)
        else:
            env, problem = parse_env(env_text)
            values["extra_env"] = env
            if problem:
                errors["extra_env"] = problem
        for name, value in values.items():
            problem = errors.get(name) or settings_file.validate(name, value)
            if problem:
                errors[name] = problem
        folder = str(values["working_directory"])
        if "working_directory" not in errors and folder and not _is_folder(folder):
            errors["working_directory"] = "no such folder"
        return (None if errors else dataclasses.replace(self._settings, **values)), errors

    def _refresh(self) -> None:
        new, errors = self._read()
        for name, label in self._errors.items():
            problem = errors.get(name)
            label.setText(_sentence(problem) if problem else "")
            label.setVisible(problem is not None)
        self._button(QDialogButtonBox.StandardButton.Ok).setEnabled(new is not None)
        apply = self._button(QDialogButtonBox.StandardButton.Apply)
        apply.setEnabled(new is not None and new != self._settings)
        changed = _launch_changes(self._server, new or self._settings)
        if changed:
            self._restart_label.setText(f"Changes to {_join(changed)} need a server restart.")
        self._restart_note.setVisible(bool(changed))
        self._restart_button.setEnabled(new is not None)
        self._fit()

    def _fit(self) -> None:
        """Grow to show every message: a window does not grow for wrapped labels by itself."""
        if not self.isVisible():
            return
        needed = self.heightForWidth(self.width())
        if needed > self.height():
            self.resize(self.width(), needed)

    def _ok(self) -> None:
        if self.edited() is None:
            return
        self.apply()
        self.accept()

    def _restart(self) -> None:
        self.apply()
        self._server = self._settings
        self.restart_requested.emit()
        self._refresh()

    # -- the binary check ------------------------------------------------------------------------

    def _binary_changed(self) -> None:
        self._binary_status.setStyleSheet(_QUIET_STYLE)
        self._binary_status.setText("Checking...")
        self._check_timer.start()

    def _start_check(self) -> None:
        if self._check is not None:
            self._check.cancel()
        self._check = asyncio.ensure_future(self._run_check(self._edits["opencode_path"].text()))

    async def _run_check(self, path: str) -> None:
        try:
            version = await self._checker(path)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._binary_status.setStyleSheet(_ERROR_STYLE)
            self._binary_status.setText(str(error) or type(error).__name__)
        else:
            self._binary_status.setStyleSheet(_FOUND_STYLE)
            self._binary_status.setText(f"Found opencode {version}")
        self._fit()

    # -- browsing --------------------------------------------------------------------------------

    def _browse_binary(self) -> None:
        current = self._edits["opencode_path"].text()
        start = str(Path(current).expanduser().parent) if current else str(Path.home())
        chooser = QFileDialog(self, "Choose the opencode binary", start)
        chooser.setFileMode(QFileDialog.FileMode.ExistingFile)
        chooser.fileSelected.connect(self._edits["opencode_path"].setText)
        chooser.open()

    def _browse_folder(self) -> None:
        current = self._edits["working_directory"].text()
        chooser = QFileDialog(self, "Choose the working folder", current or str(Path.home()))
        chooser.setFileMode(QFileDialog.FileMode.Directory)
        chooser.setOption(QFileDialog.Option.ShowDirsOnly)
        chooser.fileSelected.connect(self._edits["working_directory"].setText)
        chooser.open()


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
        problem = settings_file.validate_env_entry(name, value)
        if problem:
            return env, f"line {number}: {problem}"
        env[name] = value
    return env, None


def _env_text(env: Mapping[str, str]) -> str:
    return "".join(f"{name}={value}\n" for name, value in env.items())


def _number_text(value: float) -> str:
    """The shortest text that reads back as exactly `value`: 60.0 is "60", 2.5 is "2.5"."""
    text = repr(value)
    return text.removesuffix(".0")


def _number(text: str) -> int | float | str:
    """A number if the text is one, else the text itself (which the rules then refuse)."""
    for kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            continue
    return text


def _is_folder(text: str) -> bool:
    return Path(text).expanduser().is_dir()


def _launch_changes(old: Settings, new: Settings) -> list[str]:
    """What a restart is needed for, going from `old` to `new`, as words for the user."""
    names = [
        field.name
        for field in dataclasses.fields(Settings)
        if dataclasses.replace(old, **{field.name: getattr(new, field.name)}).needs_restart(old)
    ]
    return [_LAUNCH_NAMES.get(name, name) for name in names]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet(_QUIET_STYLE)
    return label


def _row(*items: QWidget | None) -> QHBoxLayout:
    """Widgets side by side; None is a stretch."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for item in items:
        if item is None:
            row.addStretch(1)
        else:
            row.addWidget(item)
    return row


def _stack(main: QWidget | QLayout, *below: QWidget) -> QWidget:
    """`main` with the labels below it (status, errors), as one form field."""
    widget = QWidget()
    column = QVBoxLayout(widget)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    if isinstance(main, QLayout):
        column.addLayout(main)
    else:
        column.addWidget(main)
    for label in below:
        column.addWidget(label)
    return widget


def _group(title: str, layout: QLayout) -> QGroupBox:
    group = QGroupBox(title)
    group.setLayout(layout)
    return group
