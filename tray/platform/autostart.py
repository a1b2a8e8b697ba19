"""Start at login: an opt-in entry the OS reads, and whether the OS will really honour it.

Linux: an XDG autostart desktop entry. Windows: a value under HKCU's Run key. macOS: a
LaunchAgent. The entry starts the app with BACKGROUND_ARG. `is_enabled()` reads the OS each time,
so a change made outside the app (the desktop's startup settings, Task Manager) shows through.
"""

from __future__ import annotations

import os
import plistlib
import re
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol
from xml.parsers.expat import ExpatError

from tray.platform.identity import APP_ID, APP_NAME, BACKGROUND_ARG, DISPLAY_NAME, RUN_VALUE_NAME
from tray.platform.resources import app_icon_path

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
# Where Task Manager and Settings > Startup apps record an entry the user switched off.
STARTUP_APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"


def launch_command(executable: str | None = None, *, frozen: bool | None = None) -> list[str]:
    """How to start this app: the frozen executable, else the installed `opencode-tray` script
    next to the interpreter, else `python -m tray`."""
    exe = Path(executable or sys.executable).absolute()
    if frozen if frozen is not None else getattr(sys, "frozen", False):
        return [str(exe)]
    script = exe.with_name(APP_NAME + (".exe" if sys.platform == "win32" else ""))
    if script.is_file():
        return [str(script)]
    return [str(exe), "-m", "tray"]


class Autostart(ABC):
    @abstractmethod
    def is_enabled(self) -> bool:
        """Whether the OS will start the app at the next login."""

    @abstractmethod
    def enable(self, command: Sequence[str]) -> None:
        """Start `command` (see `launch_command`) with BACKGROUND_ARG at every login."""

    @abstractmethod
    def disable(self) -> None: ...

    def refresh(self, command: Sequence[str]) -> bool:
        """Point an enabled entry at `command`, in case the app moved. Returns `is_enabled()`."""
        if not self.is_enabled():
            return False
        self.enable(command)
        return True


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


# Linux and other freedesktop systems.


def xdg_autostart_file(env: Mapping[str, str] = os.environ, home: Path | None = None) -> Path:
    config = env.get("XDG_CONFIG_HOME", "")
    base = Path(config) if os.path.isabs(config) else (home or Path.home()) / ".config"
    return base / "autostart" / f"{APP_NAME}.desktop"


_EXEC_RESERVED = re.compile(r"""[\s"'\\><~|&;$*?#()`]""")


def _exec_arg(arg: str) -> str:
    """One argument of an Exec key, quoted by the Desktop Entry rules."""
    arg = arg.replace("%", "%%")
    if arg and not _EXEC_RESERVED.search(arg):
        return arg
    return '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'


def _string_value(value: str) -> str:
    """A desktop entry string value: backslash, newline, tab and return escaped."""
    escapes = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    return "".join(escapes.get(char, char) for char in value)


def exec_value(command: Sequence[str]) -> str:
    """The value of an Exec key that runs `command`."""
    return _string_value(" ".join(_exec_arg(arg) for arg in command))


def desktop_entry(command: Sequence[str]) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        f"Name={DISPLAY_NAME}\n"
        "Comment=Keep a local opencode server running\n"
        f"Exec={exec_value([*command, BACKGROUND_ARG])}\n"
        f"Icon={_string_value(str(app_icon_path()))}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def _desktop_entry_keys(text: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
        elif group == "Desktop Entry" and "=" in line:
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), value.strip())
    return keys


class XdgAutostart(Autostart):
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or xdg_autostart_file()

    def is_enabled(self) -> bool:
        try:
            keys = _desktop_entry_keys(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        # Desktops switch an entry off by setting Hidden (the spec) or the GNOME key.
        return (
            bool(keys.get("Exec"))
            and keys.get("Hidden", "false").lower() != "true"
            and keys.get("X-GNOME-Autostart-enabled", "true").lower() != "false"
        )

    def enable(self, command: Sequence[str]) -> None:
        _write_atomically(self.path, desktop_entry(command).encode("utf-8"))

    def disable(self) -> None:
        self.path.unlink(missing_ok=True)


# Windows.


class Registry(Protocol):
    """The HKEY_CURRENT_USER operations start at login needs; `key` is a subkey path."""

    def get(self, key: str, name: str) -> str | bytes | None:
        """A string or binary value, or None when the key or value is missing."""

    def set_string(self, key: str, name: str, value: str) -> None: ...

    def delete(self, key: str, name: str) -> None:
        """Remove a value; a missing key or value is not an error."""


class WindowsRun(Autostart):
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def is_enabled(self) -> bool:
        command = self.registry.get(RUN_KEY, RUN_VALUE_NAME)
        if not isinstance(command, str) or not command.strip():
            return False
        # Absent, or a first byte of 2 or 6: allowed. An odd first byte: switched off by the user.
        approval = self.registry.get(STARTUP_APPROVED_KEY, RUN_VALUE_NAME)
        return not (isinstance(approval, bytes) and approval and approval[0] & 1)

    def enable(self, command: Sequence[str]) -> None:
        line = subprocess.list2cmdline([*command, BACKGROUND_ARG])
        self.registry.set_string(RUN_KEY, RUN_VALUE_NAME, line)
        self.registry.delete(STARTUP_APPROVED_KEY, RUN_VALUE_NAME)

    def disable(self) -> None:
        self.registry.delete(RUN_KEY, RUN_VALUE_NAME)
        self.registry.delete(STARTUP_APPROVED_KEY, RUN_VALUE_NAME)


if sys.platform == "win32":
    import winreg

    class WinRegistry:
        """The real HKEY_CURRENT_USER."""

        def get(self, key: str, name: str) -> str | bytes | None:
            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key) as handle:
                    value, kind = winreg.QueryValueEx(handle, name)
            except FileNotFoundError:
                return None
            if kind in (winreg.REG_SZ, winreg.REG_EXPAND_SZ):
                return str(value)
            if kind == winreg.REG_BINARY:
                return bytes(value)
            return None

        def set_string(self, key: str, name: str, value: str) -> None:
            with winreg.CreateKey(winreg.HKEY_CURRENT_USER, key) as handle:
                winreg.SetValueEx(handle, name, 0, winreg.REG_SZ, value)

        def delete(self, key: str, name: str) -> None:
            try:
                with winreg.OpenKey(
                    winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_SET_VALUE
                ) as handle:
                    winreg.DeleteValue(handle, name)
            except FileNotFoundError:
                return


# macOS.


def launch_agent_file(home: Path | None = None) -> Path:
    return (home or Path.home()) / "Library" / "LaunchAgents" / f"{APP_ID}.plist"


class LaunchAgent(Autostart):
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or launch_agent_file()

    def is_enabled(self) -> bool:
        try:
            with self.path.open("rb") as file:
                agent = plistlib.load(file)
        except (OSError, ValueError, ExpatError):
            return False
        return (
            isinstance(agent, dict)
            and bool(agent.get("ProgramArguments"))
            and agent.get("Disabled") is not True
        )

    def enable(self, command: Sequence[str]) -> None:
        agent = {
            "Label": APP_ID,
            "ProgramArguments": [*command, BACKGROUND_ARG],
            "RunAtLoad": True,
            "ProcessType": "Interactive",
            "LimitLoadToSessionType": "Aqua",
            # Shows the app's name, not the executable's, in System Settings > Login Items.
            "AssociatedBundleIdentifiers": [APP_ID],
        }
        _write_atomically(self.path, plistlib.dumps(agent, fmt=plistlib.FMT_XML))

    def disable(self) -> None:
        self.path.unlink(missing_ok=True)


def for_platform() -> Autostart:
    if sys.platform == "win32":
        return WindowsRun(WinRegistry())
    if sys.platform == "darwin":
        return LaunchAgent()
    return XdgAutostart()


# This platform's entry, for the app.


def is_enabled() -> bool:
    return for_platform().is_enabled()


def enable(command: Sequence[str]) -> None:
    for_platform().enable(command)


def disable() -> None:
    for_platform().disable()


def refresh(command: Sequence[str]) -> bool:
    """Call on every start: keeps an enabled entry pointing at this copy of the app."""
    return for_platform().refresh(command)
