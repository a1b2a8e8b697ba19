"""The settings in effect: read from the file (start at login from the OS), changed from the
dialog or the menu, saved, and handed to the engine.

The engine holds the settings in effect (`engine.settings()`) and knows the ones the
running server was started with (`engine.server_settings()`): nothing here keeps a copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tray.core.settings import Settings
from tray.engine.engine import Engine
from tray.engine.version_check import check_binary
from tray.platform import autostart
from tray.settings import file as settings_file

if TYPE_CHECKING:
    from tray.ui.settings_dialog import SettingsDialog

log = logging.getLogger(__name__)


def load(path: Path) -> tuple[Settings, list[str]]:
    """The settings in `path` and what was wrong with the file. Whether the app starts at login
    is the OS's to say, not the file's."""
    loaded = settings_file.load(path)
    settings = replace(loaded.settings, start_at_login=autostart.is_enabled())
    return settings, list(loaded.warnings)


class Preferences:
    """`warn(text)` tells the user what went wrong; new settings reach the rest of the app in
    the engine's next snapshot."""

    def __init__(self, engine: Engine, path: Path, warn: Callable[[str], None]) -> None:
        self._engine = engine
        self._path = path
        self._warn = warn
        self.dialog: SettingsDialog | None = None
        self._dialog_server: Settings | None = None  # what the open dialog compares with

    @property
    def settings(self) -> Settings:
        return self._engine.settings()

    def open_dialog(self) -> None:
        if self.dialog is None:
            from tray.ui.settings_dialog import SettingsDialog  # noqa: PLC0415 (rare: load late)

            self._dialog_server = self._engine.server_settings()
            self.dialog = SettingsDialog(
                self.settings, server_settings=self._dialog_server, checker=check_binary
            )
            self.dialog.applied.connect(self.apply)
            self.dialog.restart_requested.connect(self._engine.restart)
            self.dialog.finished.connect(self._dialog_closed)
            self.dialog.open()
        self.dialog.raise_()
        self.dialog.activateWindow()

    def server_may_have_restarted(self) -> None:
        """Tell an open dialog when the server now runs with other settings (a restart, manual
        or automatic), so that it stops asking for a restart."""
        started_with = self._engine.server_settings()
        if self.dialog is not None and started_with != self._dialog_server:
            self._dialog_server = started_with
            self.dialog.set_server_settings(started_with)

    def apply(self, settings: Settings) -> None:
        previous = self.settings
        try:
            settings_file.save(self._path, settings)
        except OSError as error:
            self._warn(f"Could not save the settings to {self._path}: {error}")
        if settings.start_at_login != previous.start_at_login:
            self._write_autostart(settings.start_at_login)
        if self._engine.apply_settings(settings):
            log.info("settings applied; launch settings take effect at the next server restart")

    def set_start_at_login(self, enabled: bool) -> None:
        self.apply(replace(self.settings, start_at_login=enabled))

    def _write_autostart(self, enabled: bool) -> None:
        try:
            if enabled:
                autostart.enable(autostart.launch_command())
            else:
                autostart.disable()
        except OSError as error:
            self._warn(f"Could not change start at login: {error}")

    def _dialog_closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
            self.dialog = None
