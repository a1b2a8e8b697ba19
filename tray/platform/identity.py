"""Names the app is known by to the OS. Installers and packaging read these: change with care."""

from __future__ import annotations

APP_NAME = "opencode-tray"
DISPLAY_NAME = "opencode tray"
# Reverse-DNS id: macOS bundle id and notification identity, Linux desktop file name.
APP_ID = "io.github.opencode_tray"
# Windows: the mutex the app holds while running (installer.iss AppMutex must equal it).
WINDOWS_MUTEX = "opencode-tray-running"
# Windows: the value under HKCU\Software\Microsoft\Windows\CurrentVersion\Run for start at login.
RUN_VALUE_NAME = "opencode-tray"
# Command-line argument for a start at login: no window, no nagging.
BACKGROUND_ARG = "--background"
