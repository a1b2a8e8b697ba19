"""Opens what the user works in: the web app in the browser, or a terminal with `opencode attach`.

The terminal is the platform's unless Settings names a command (a template where `{command}`
stands for the attach command; without it the attach command is appended). The server password
reaches `opencode attach` through the environment, never through argv.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from tray.generations.v1 import V1

# Linux terminals in order of preference, each with how it takes a command to run.
_LINUX_TERMINALS = (
    ("x-terminal-emulator", "x-terminal-emulator -e {command}"),
    ("gnome-terminal", "gnome-terminal -- {command}"),
    ("konsole", "konsole -e {command}"),
    ("xfce4-terminal", "xfce4-terminal -x {command}"),
    ("xterm", "xterm -e {command}"),
)

log = logging.getLogger(__name__)


class LaunchError(Exception):
    """Nothing could be opened; the message says why and what to do."""


def open_url(url: str) -> None:
    if not QDesktopServices.openUrl(QUrl(url)):
        raise LaunchError("no web browser could be opened: set one as your default browser")


def default_terminal_template() -> str | None:
    """The platform's terminal as a template, or None when none is found."""
    if sys.platform == "win32":
        return 'cmd /c start "opencode" cmd /k {command}'
    if sys.platform == "darwin":
        return "open -a Terminal {command}"
    for program, template in _LINUX_TERMINALS:
        if shutil.which(program):
            return template
    return None


async def open_terminal(argv: list[str], env: Mapping[str, str]) -> None:
    """Start the terminal command, detached from the app; it lives on when the app quits."""
    if sys.platform == "darwin" and argv[:3] == ["open", "-a", "Terminal"]:
        argv = ["open", "-a", "Terminal", _command_file(argv[3:], env)]
    log.info("opening a terminal: %s", shlex.join(argv))
    try:
        await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=sys.platform != "win32",
        )
    except OSError as error:
        raise LaunchError(
            f"could not start the terminal ({argv[0]}: {error.strerror or error}): "
            "set a terminal command in Settings"
        ) from error


def _command_file(command: list[str], env: Mapping[str, str]) -> str:
    """macOS Terminal runs files, not argv: a private script that deletes itself."""
    password = env.get(V1.password_env, "")
    fd, path = tempfile.mkstemp(suffix=".command")
    with os.fdopen(fd, "w") as script:
        script.write(
            "#!/bin/sh\n"
            f'rm -f "$0"\nexport {V1.password_env}={shlex.quote(password)}\n'
            f"exec {shlex.join(command)}\n"
        )
    Path(path).chmod(stat.S_IRWXU)
    return path
