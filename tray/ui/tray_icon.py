"""The tray icon: one icon per state, a tooltip that says why, and the menu."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from tray.core import present
from tray.core.status import State
from tray.resources import icon_path
from tray.ui import menu
from tray.ui.view_model import Commands, ViewModel


def state_icon(state: State) -> QIcon:
    return QIcon(str(icon_path(state.value)))


class TrayIcon(QObject):
    """Shows the latest `ViewModel`; a left click asks for the status window."""

    activated = Signal()

    def __init__(self, commands: Commands, model: Callable[[], ViewModel]) -> None:
        super().__init__()
        self._commands = commands
        self._model = model
        self._menu = QMenu()
        self._menu.aboutToShow.connect(self._rebuild)
        self.icon = QSystemTrayIcon(self)
        self.icon.setContextMenu(self._menu)
        self.icon.activated.connect(self._on_activated)
        self._state: State | None = None
        self.refresh()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    @property
    def menu(self) -> QMenu:
        return self._menu

    def refresh(self) -> None:
        model = self._model()
        state = model.status.state
        if state is not self._state:
            self.icon.setIcon(state_icon(state))
            self._state = state
        self.icon.setToolTip(present.tooltip(model.status))
        menu.fill(self._menu, model, self._commands)

    def _rebuild(self) -> None:
        menu.fill(self._menu, self._model(), self._commands)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.activated.emit()
