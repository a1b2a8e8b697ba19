"""The views the app shows: the tray icon, or the status window standing in for it, each
handed a fresh `ViewModel` when the status changes, when it opens, and while its times move.

The status window is made when first shown (most desktops have a tray). Times stay current
without waking the app often: every `VISIBLE_TICK_S` while the status window is shown, when
the tooltip's text next changes otherwise (each second of a countdown; its coarse uptime at
most once a minute), and not at all while nothing moves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QSystemTrayIcon

from tray.ui.tray_icon import TrayIcon
from tray.ui.view_model import Commands, ViewModel

if TYPE_CHECKING:
    from tray.ui.status_window import StatusWindow

TRAY_POLL_S = 0.5
VISIBLE_TICK_S = 1.0

log = logging.getLogger(__name__)


class Views:
    """`model()` builds the model of this moment; `show` puts the views up."""

    def __init__(self, model: Callable[[], ViewModel]) -> None:
        self._model = model
        self._commands: Commands | None = None
        self.tray: TrayIcon | None = None
        self.window: StatusWindow | None = None
        self._tick = QTimer()
        self._tick.timeout.connect(self._times_moved)

    async def show(self, commands: Commands, wait_for_tray_s: float) -> None:
        """The tray icon, once there is a tray (at login the panel may come up after us; wait up
        to `wait_for_tray_s`), or else the status window in its place."""
        self._commands = commands
        while not QSystemTrayIcon.isSystemTrayAvailable() and wait_for_tray_s > 0:
            await asyncio.sleep(TRAY_POLL_S)
            wait_for_tray_s -= TRAY_POLL_S
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = TrayIcon(commands, self._model())
            self.tray.activated.connect(self.show_window)
            self.tray.menu_opening.connect(self.refresh)
            self.tray.show()
            log.info("tray icon shown")
        else:
            log.warning("no system tray available: showing the status window instead")
            self._status_window().stand_in_for_the_tray()
            self.show_window()

    @property
    def tray_icon(self) -> QSystemTrayIcon | None:
        return self.tray.icon if self.tray is not None else None

    @property
    def tick_s(self) -> float | None:
        """How often the views are handed a fresh model while nothing else changes."""
        return self._tick.interval() / 1000 if self._tick.isActive() else None

    def show_window(self) -> None:
        window = self._status_window()
        window.show()
        window.raise_()
        window.activateWindow()

    def refresh(self) -> None:
        self.push(self._model())

    def push(self, model: ViewModel) -> None:
        """Hand `model` to every view that shows it now."""
        if self.tray is not None:
            self.tray.show_model(model)
        self._show_in_window(model)

    def _times_moved(self) -> None:
        """Only the times changed: the tooltip and a shown window follow, the menu is left
        alone until it opens (rebuilding it sends its whole layout to the panel)."""
        model = self._model()
        if self.tray is not None:
            self.tray.show_tooltip(model)
        self._show_in_window(model)

    def _show_in_window(self, model: ViewModel) -> None:
        window_shown = self.window is not None and self.window.isVisible()
        if self.window is not None and window_shown:
            self.window.show_model(model)
        moves_in = model.tooltip_changes_in() if self.tray is not None else None
        if window_shown:
            self._tick_every(VISIBLE_TICK_S)
        elif moves_in is not None:
            self._tick_every(moves_in)  # when its text next changes, and then again
        else:
            self._tick.stop()

    def hide(self) -> None:
        self._tick.stop()
        if self.tray is not None:
            self.tray.hide()

    def _tick_every(self, seconds: float) -> None:
        if not self._tick.isActive() or self._tick.interval() != round(seconds * 1000):
            self._tick.start(round(seconds * 1000))

    def _status_window(self) -> StatusWindow:
        if self.window is None:
            from tray.ui.status_window import StatusWindow  # noqa: PLC0415 (rarely used: load late)

            assert self._commands is not None, "show() first"
            self.window = StatusWindow(self._commands, self._model())
            self.window.visibility_changed.connect(lambda _shown: self.refresh())
        return self.window
