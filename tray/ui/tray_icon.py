"""The tray icon: one icon per state, a tooltip that says why, and the menu."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from tray.core import present
from tray.core.status import State
from tray.platform.resources import icon_path
from tray.ui import menu
from tray.ui.view_model import Commands, ViewModel


def state_icon(state: State) -> QIcon:
    return QIcon(str(icon_path(state.value)))


class TrayIcon(QObject):
    """Shows the `ViewModel` it is handed. A left click emits `activated` (show the status
    window); the menu about to open emits `menu_opening` (a fresh model is welcome then)."""

    activated = Signal()
    menu_opening = Signal()

    def __init__(self, commands: Commands, model: ViewModel) -> None:
        super().__init__()
        self._commands = commands
        self._menu = QMenu()
        self._menu.aboutToShow.connect(self.menu_opening)
        self.icon = QSystemTrayIcon(self)
        self.icon.setContextMenu(self._menu)
        self.icon.activated.connect(self._on_activated)
        self._state: State | None = None
        self._menu_layout: tuple[menu.Item, ...] | None = None
        self.show_model(model)

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    @property
    def menu(self) -> QMenu:
        return self._menu

    def show_model(self, model: ViewModel) -> None:
        state = model.status.state
        if state is not self._state:
            self.icon.setIcon(state_icon(state))
            self._state = state
        self.show_tooltip(model)
        shown = menu.layout(model)
        if shown != self._menu_layout:
            menu.show_layout(self._menu, shown, self._commands)
            self._menu_layout = shown

    def show_tooltip(self, model: ViewModel) -> None:
        """Only the tooltip (its times moved on): the icon and the menu stay as they are."""
        tooltip = present.tooltip(model.status, coarse=True)
        if tooltip != self.icon.toolTip():  # an unchanged one would still be sent to the panel
            self.icon.setToolTip(tooltip)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.activated.emit()
