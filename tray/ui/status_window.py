"""A small window with the same status and controls as the tray: shown when there is no system
tray (plain GNOME, offscreen), and on a left click on the tray icon."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tray.core import present
from tray.platform.identity import DISPLAY_NAME
from tray.ui import menu
from tray.ui.tray_icon import state_icon
from tray.ui.view_model import Commands, ViewModel

ICON_PX = 48
NO_TRAY = (
    "No system tray was found: this window stands in for the tray icon. Closing it keeps "
    "opencode running; use Quit to stop everything."
)


class StatusWindow(QWidget):
    """Shows the `ViewModel` it is handed; `visibility_changed(shown)` tells when it shows and
    hides, so that whoever feeds it knows when its times need to move."""

    visibility_changed = Signal(bool)

    def __init__(self, commands: Commands, model: ViewModel) -> None:
        super().__init__()
        self._commands = commands
        self._model = model
        self.setWindowTitle(DISPLAY_NAME)
        self.setMinimumWidth(460)
        self._icon = QLabel()
        self._state = QLabel()
        self._state.setObjectName("state")
        self._state.setStyleSheet("font-size: 15px; font-weight: 600")
        self._details = QLabel()
        self._details.setObjectName("details")
        self._details.setWordWrap(True)
        self._details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice = QLabel(NO_TRAY)
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: palette(mid)")
        self.notice.setVisible(False)
        self.restart_button = QPushButton("Restart server")
        self.restart_button.clicked.connect(commands.restart_server)
        self.start_stop_button = QPushButton()
        self.start_stop_button.clicked.connect(self._start_or_stop)
        self._more = QMenu(self)
        self._more.aboutToShow.connect(self._fill_more)
        self._lay_out()
        self.show_model(model)

    def _lay_out(self) -> None:
        more_button = QPushButton("More")
        more_button.setMenu(self._more)
        head = QHBoxLayout()
        head.addWidget(self._icon)
        head.addWidget(self._state, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.restart_button)
        buttons.addWidget(self.start_stop_button)
        connect_button = QPushButton("Connect a client…")
        connect_button.clicked.connect(self._commands.connect_client)
        buttons.addWidget(connect_button)
        buttons.addStretch(1)
        buttons.addWidget(more_button)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self._details)
        layout.addWidget(self.notice)
        layout.addLayout(buttons)

    def stand_in_for_the_tray(self) -> None:
        """There is no system tray: say so."""
        self.notice.setVisible(True)

    def show_model(self, model: ViewModel) -> None:
        self._model = model
        status = model.status
        self._icon.setPixmap(state_icon(status.state).pixmap(ICON_PX, ICON_PX))
        self._state.setText(present.state_line(status))
        self._details.setText("\n".join(present.details(status)) or "No server details yet.")
        self.start_stop_button.setText("Stop server" if model.server_running else "Start server")

    def _fill_more(self) -> None:
        menu.fill(self._more, self._model, self._commands)

    def _start_or_stop(self) -> None:
        if self._model.server_running:
            self._commands.stop_server()
        else:
            self._commands.start_server()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.visibility_changed.emit(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.visibility_changed.emit(False)

    def closeEvent(self, event: QCloseEvent) -> None:
        event.ignore()
        self.hide()
