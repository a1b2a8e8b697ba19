"""The settings dialog: every setting, checked while it is typed, applied without quitting.

Its fields are generated from the declarations in `tray.core.settings`: one box per `Group`, the
Advanced ones on their own page, one input per setting (`setting_fields`). New settings leave
through `applied`, a wish to restart the server through `restart_requested`; the binary is checked
by the async callable it is given. Non-modal: show it with show() or open(), never exec().
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tray.core.setting import Group, Setting
from tray.core.settings import SETTINGS, Settings
from tray.platform.identity import DISPLAY_NAME
from tray.ui.setting_fields import ERROR_STYLE, QUIET_STYLE, field_for

Checker = Callable[[str], Awaitable[str]]

CHECK_DELAY_MS = 400  # typing pauses this long before the binary is checked
BINARY = "opencode_path"  # the setting whose binary is checked live
PAGES = ("General", "Advanced")
_FOUND_STYLE = "color: #2e7d32"
FRAME_ALLOWANCE = 40  # the window manager's title bar and frame, which the dialog cannot see


class SettingsDialog(QDialog):
    """Inputs are named after their Settings field (`port`), error labels `<field>_error`."""

    applied = Signal(object)  # Settings: the new settings, valid, to take effect now
    restart_requested = Signal()  # restart the server so that the applied settings reach it

    def __init__(
        self,
        settings: Settings,
        parent: QWidget | None = None,
        *,
        checker: Checker,
        server_settings: Settings | None = None,
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
        self._fields = {name: field_for(d, getattr(settings, name)) for name, d in SETTINGS.items()}
        self.setWindowTitle(f"{DISPLAY_NAME}: Settings")

        self._binary_status, self._check_timer = self._binary_parts(check_delay_ms)
        self._tabs = QTabWidget()
        self._tabs.setObjectName("pages")
        self._build_pages()
        self._tabs.currentChanged.connect(lambda: QTimer.singleShot(0, self._fit))
        self._restart_label, self._restart_button, self._restart_note = self._restart_parts()
        self._buttons = self._button_box()
        layout = QVBoxLayout(self)
        layout.addWidget(self._tabs, 1)
        layout.addWidget(self._restart_note)
        layout.addWidget(self._buttons)
        for each in self._fields.values():
            each.on_change(self._refresh)
        self._fields[BINARY].on_change(self._binary_changed)
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
        for name, each in self._fields.items():
            each.settle(getattr(new, name))
        self.applied.emit(new)
        self._refresh()

    def set_server_settings(self, settings: Settings) -> None:
        """The server was (re)started with `settings`: the restart note compares with these."""
        self._server = settings
        self._refresh()

    def page_of(self, name: str) -> int:
        """The index of the page that shows the setting `name`."""
        return PAGES.index("Advanced" if SETTINGS[name].advanced else "General")

    def showEvent(self, event: QShowEvent) -> None:
        """Check the binary each time the dialog opens: it may have been installed since."""
        super().showEvent(event)
        self._binary_changed()

    def done(self, result: int) -> None:
        self._check_timer.stop()
        if self._check is not None:
            self._check.cancel()
        super().done(result)

    # -- building --------------------------------------------------------------------------------

    def _build_pages(self) -> None:
        """One box per group, on its page, each setting a row; one column of labels throughout."""
        pages = {title: QVBoxLayout() for title in PAGES}
        labels: list[QLabel] = []
        for group in Group:
            members = [d for d in SETTINGS.values() if d.group is group]
            if members:
                form = QFormLayout()
                labels += [self._row(form, declared) for declared in members]
                box = QGroupBox(group.title)
                box.setLayout(form)
                pages["Advanced" if group.advanced else "General"].addWidget(box)
        for title, column in pages.items():
            column.addStretch(1)
            page = QWidget()
            page.setLayout(column)
            self._tabs.addTab(_Page(page), title)
        width = max(label.sizeHint().width() for label in labels)
        for label in labels:
            label.setMinimumWidth(width)

    def _row(self, form: QFormLayout, declared: Setting) -> QLabel:
        each = self._fields[declared.name]
        label = QLabel(f"{declared.label}:" if each.labelled else "")
        label.setBuddy(each.input)
        label.setToolTip(declared.help)
        form.addRow(label, each.column)
        return label

    def _binary_parts(self, check_delay_ms: int) -> tuple[QLabel, QTimer]:
        """The line under the binary's field that says what the check found, and the timer
        that runs the check once typing pauses."""
        status = QLabel()
        status.setObjectName("binary_status")
        status.setWordWrap(True)
        self._fields[BINARY].add_below(status)
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(check_delay_ms)
        timer.timeout.connect(self._start_check)
        return status, timer

    def _restart_parts(self) -> tuple[QLabel, QPushButton, QFrame]:
        label = QLabel()
        label.setObjectName("restart_label")
        label.setWordWrap(True)
        button = QPushButton("Restart server now")
        button.setObjectName("restart_button")
        button.setToolTip("Apply the changes and restart the server with them")
        button.clicked.connect(self._restart)
        note = QFrame()
        note.setObjectName("restart_note")
        note.setFrameShape(QFrame.Shape.StyledPanel)
        row = QHBoxLayout(note)
        row.addWidget(label, 1)
        row.addWidget(button)
        return label, button, note

    def _button_box(self) -> QDialogButtonBox:
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._ok)
        buttons.rejected.connect(self.reject)
        apply = buttons.button(QDialogButtonBox.StandardButton.Apply)
        assert apply is not None
        apply.clicked.connect(self.apply)
        return buttons

    def _button(self, which: QDialogButtonBox.StandardButton) -> QPushButton:
        button = self._buttons.button(which)
        assert button is not None
        return button

    # -- reading and checking --------------------------------------------------------------------

    def _read(self) -> tuple[Settings | None, dict[str, str]]:
        """The settings as the fields stand (None if any is bad), and why each bad one is."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, each in self._fields.items():
            values[name], problem = each.read()
            if problem:
                errors[name] = problem
        return (None if errors else dataclasses.replace(self._settings, **values)), errors

    def _refresh(self) -> None:
        new, errors = self._read()
        for name, each in self._fields.items():
            each.show_problem(errors.get(name))
        self._mark_pages(errors)
        self._button(QDialogButtonBox.StandardButton.Ok).setEnabled(new is not None)
        apply = self._button(QDialogButtonBox.StandardButton.Apply)
        apply.setEnabled(new is not None and new != self._settings)
        changes = (new or self._settings).restart_changes(self._server)
        changed = [declared.in_a_sentence() for declared in changes]
        if changed:
            self._restart_label.setText(f"Changes to {_join(changed)} need a server restart.")
        self._restart_note.setVisible(bool(changed))
        self._restart_button.setEnabled(new is not None)
        self._fit()

    def _mark_pages(self, errors: dict[str, str]) -> None:
        """A page with a bad field carries a warning sign, so that it is found from the other."""
        bad = {self.page_of(name) for name in errors}
        warning = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for index in range(len(PAGES)):
            self._tabs.setTabIcon(index, warning if index in bad else QIcon())
            self._tabs.setTabToolTip(index, "A setting here needs fixing" if index in bad else "")

    def _fit(self) -> None:
        """Grow to show every page whole with its messages (a window does not grow for wrapped
        labels by itself), as far as the screen allows; beyond that a page scrolls."""
        shown = self._tabs.currentWidget()
        if not self.isVisible() or not isinstance(shown, _Page):
            return
        pages = [self._tabs.widget(index) for index in range(self._tabs.count())]
        width, height = shown.viewport().width(), shown.viewport().height()
        wanted = max(page.content_height(width) for page in pages if isinstance(page, _Page))
        missing = wanted - height
        screen = self.screen().availableGeometry().height() - FRAME_ALLOWANCE
        if missing > 0 and self.height() < screen:
            self.resize(self.width(), min(self.height() + missing, screen))

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
        self._binary_status.setStyleSheet(QUIET_STYLE)
        self._binary_status.setText("Checking...")
        self._check_timer.start()

    def _start_check(self) -> None:
        if self._check is not None:
            self._check.cancel()
        path = str(self._fields[BINARY].read()[0])
        self._check = asyncio.ensure_future(self._run_check(path))

    async def _run_check(self, path: str) -> None:
        try:
            version = await self._checker(path)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._binary_status.setStyleSheet(ERROR_STYLE)
            self._binary_status.setText(str(error) or type(error).__name__)
        else:
            self._binary_status.setStyleSheet(_FOUND_STYLE)
            self._binary_status.setText(f"Found opencode {version}")
        self._fit()


class _Page(QScrollArea):
    """A page that scrolls only when the screen is too short for it: it asks for its whole
    content, where a scroll area otherwise asks for a fixed few lines."""

    def __init__(self, content: QWidget) -> None:
        super().__init__()
        self._content = content
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def content_height(self, width: int) -> int:
        """The height that shows all of the page at `width`."""
        wanted = self._content.heightForWidth(width)
        return wanted if wanted > 0 else self._content.sizeHint().height()

    def sizeHint(self) -> QSize:
        content = self._content.sizeHint()
        return QSize(content.width() + self._scrollbar_width(), content.height())

    def minimumSizeHint(self) -> QSize:
        """As narrow as the content allows (it never scrolls sideways), as short as a scroll
        area may be."""
        width = self._content.minimumSizeHint().width() + self._scrollbar_width()
        return QSize(width, super().minimumSizeHint().height())

    def _scrollbar_width(self) -> int:
        return self.verticalScrollBar().sizeHint().width()


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
