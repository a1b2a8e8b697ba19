"""The desktop's application menu entry for an app installed with pip or pipx (freedesktop.org
desktops): `opencode-tray install-menu-entry` writes it, `uninstall-menu-entry` takes it away.

A pip or pipx install runs no code of the app's, and neither does its uninstall: so the entry is
a command the user runs (and undoes), never a side effect of a first start. The frozen builds'
installers make their own entries. The entry starts the installed script by its absolute path
(pipx's ~/.local/bin is often not on a desktop session's PATH) and names the app icon, copied into
the user's hicolor icon theme.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from tray.platform.autostart import exec_value, launch_command
from tray.platform.identity import APP_ID, APP_NAME
from tray.platform.resources import loaded_resource, resource_path


def data_home(env: Mapping[str, str] = os.environ, home: Path | None = None) -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or not absolute (the spec's rule)."""
    data = env.get("XDG_DATA_HOME", "")
    return Path(data) if os.path.isabs(data) else (home or Path.home()) / ".local" / "share"


def entry_file(data: Path) -> Path:
    """Named by the app id: the desktop file id notifications and the menu know the app by."""
    return data / "applications" / f"{APP_ID}.desktop"


def _icons(data: Path) -> dict[Path, Path]:
    """Each app icon the resources hold -> where it goes in the user's hicolor theme."""
    theme = data / "icons" / "hicolor"
    found = {
        png: theme / png.parent.parent.name / "apps" / png.name
        for png in sorted(resource_path("icons", "hicolor").glob(f"*/apps/{APP_NAME}.png"))
    }
    found[loaded_resource("icons", f"{APP_NAME}.svg")] = (
        theme / "scalable" / "apps" / f"{APP_NAME}.svg"
    )
    return found


def entry_text(command: list[str]) -> str:
    """The launcher entry of resources/, starting `command`."""
    template = loaded_resource(f"{APP_NAME}.desktop").read_text(encoding="utf-8")
    exec_line = f"Exec={exec_value(command)}"
    lines = [exec_line if line.startswith("Exec=") else line for line in template.splitlines()]
    return "\n".join(lines) + "\n"


def write(data: Path, command: list[str]) -> list[Path]:
    """Write the entry and its icons under `data`; the files written."""
    written = []
    for source, target in _icons(data).items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    entry = entry_file(data)
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(entry_text(command), encoding="utf-8")
    return [entry, *written]


def remove(data: Path) -> list[Path]:
    """Remove what `write` wrote under `data`; the files that were there."""
    removed = []
    for target in [entry_file(data), *_icons(data).values()]:
        if target.is_file():
            target.unlink()
            removed.append(target)
    return removed


def run(*, install: bool) -> int:
    """`install-menu-entry` (or `uninstall-menu-entry`): prints what it did."""
    if sys.platform in ("win32", "darwin"):
        print("The menu entry is for freedesktop.org desktops (Linux, BSD)", file=sys.stderr)
        return 2
    data = data_home()
    if install:
        files = write(data, launch_command())
        print(f"Added {APP_NAME} to the application menu: {files[0]}")
    else:
        files = remove(data)
        print(f"Removed {len(files)} files" if files else "No menu entry to remove")
    for path in files:
        print(f"  {path}")
    return 0
