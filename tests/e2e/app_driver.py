"""Drives the real app in a child process on a `VirtualDesktop`: its command line, its tray
menu (over the StatusNotifierItem's D-Bus menu, as the panel does) and its notifications."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from tests.desktop import VirtualDesktop
from tests.support.processes import alive
from tests.support.waiting import block_until
from tray.core.settings import Settings
from tray.engine import keyring_helper
from tray.settings import file as settings_file

WATCHER = ("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher")
_MENU_ITEM = re.compile(r"\((\d+), \{[^{}]*'label': <'([^']*)'>")


def project_settings(
    desk: VirtualDesktop, opencode_binary: str, port: int, **more: Any
) -> Settings:
    """Settings for an app that runs `opencode_binary` on `port` in a new project folder of the
    desktop's home (`more`: other settings)."""
    project = desk.home / "project"
    project.mkdir()
    return Settings(
        opencode_path=opencode_binary, port=port, working_directory=str(project), **more
    )


def _cmdline(process: psutil.Process) -> list[str]:
    with contextlib.suppress(psutil.Error):
        return process.cmdline()
    return []


class AppDriver:
    def __init__(
        self,
        desk: VirtualDesktop,
        workdir: Path,
        settings: Settings,
        command: Sequence[str] = (sys.executable, "-m", "tray"),
    ) -> None:
        """`command` starts the app: by default this checkout's; say, an installed script."""
        self.desk = desk
        self.command = list(command)
        self.workdir = workdir
        self.opened = workdir / "opened.txt"
        bin_dir = workdir / "bin"
        bin_dir.mkdir()
        # Qt opens URLs with xdg-open: this one writes down what the app asked for.
        fake_open = bin_dir / "xdg-open"
        fake_open.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{self.opened}"\n')
        fake_open.chmod(0o755)
        self.env = desk.env | {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "npm_config_offline": "true",
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
        }
        config = desk.home / ".config" / "opencode-tray" / "settings.toml"
        settings_file.save(config, settings)
        self.log = workdir / "app.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> None:
        """Start the app with `args` (say, --background)."""
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*self.command, *args], env=self.env, cwd=self.workdir, stdout=log, stderr=log
            )

    def cli(self, *args: str, timeout: float = 20.0) -> tuple[int, str]:
        done = subprocess.run(
            [*self.command, *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return done.returncode, done.stdout

    def servers(self) -> list[psutil.Process]:
        """The app's opencode servers, found as its children (behind the front door they
        listen on private ports, so not by the public one)."""
        if self.proc is None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            children = psutil.Process(self.proc.pid).children(recursive=True)
            return [p for p in children if "serve" in _cmdline(p)]
        return []

    def keyring_helpers(self) -> list[psutil.Process]:
        """The app's keyring helper processes still running."""
        if self.proc is None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            children = psutil.Process(self.proc.pid).children()
            return alive([p for p in children if keyring_helper.FLAG in _cmdline(p)])
        return []

    def status(self) -> dict[str, Any]:
        _code, out = self.cli("status", "--json")
        data: dict[str, Any] = json.loads(out)
        return data

    def wait_state(self, state: str, timeout: float = 30.0) -> dict[str, Any]:
        found: dict[str, Any] = block_until(
            lambda: (s := self.status())["state"] == state and s, f"state {state}", timeout
        )
        return found

    def quit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.cli("quit")
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    # -- the tray menu, as the panel sees it -------------------------------------------------------

    def tray_item(self) -> tuple[str, str]:
        """The app's StatusNotifierItem: its bus name and object path."""
        out = self.desk.run(
            "gdbus", "call", "--session", "--dest", WATCHER[0], "--object-path", WATCHER[1],
            "--method", "org.freedesktop.DBus.Properties.Get",
            "org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems",
        )  # fmt: skip
        items = re.findall(r"'([^']+)'", out)
        assert items, f"no tray item registered: {out}"
        service, _, path = items[-1].partition("/")
        return service, "/" + path if path else "/StatusNotifierItem"

    def _menu_path(self) -> tuple[str, str]:
        service, path = self.tray_item()
        out = self.desk.run(
            "gdbus", "call", "--session", "--dest", service, "--object-path", path,
            "--method", "org.freedesktop.DBus.Properties.Get",
            "org.kde.StatusNotifierItem", "Menu",
        )  # fmt: skip
        menu = re.search(r"objectpath '([^']+)'", out)
        assert menu, out
        return service, menu.group(1)

    def menu_labels(self) -> dict[str, int]:
        service, menu = self._menu_path()
        self.desk.run(
            "gdbus", "call", "--session", "--dest", service, "--object-path", menu,
            "--method", "com.canonical.dbusmenu.AboutToShow", "0",
        )  # fmt: skip
        layout = self.desk.run(
            "gdbus", "call", "--session", "--dest", service, "--object-path", menu,
            "--method", "com.canonical.dbusmenu.GetLayout", "--", "0", "-1", "[]",
        )  # fmt: skip
        return {label: int(item) for item, label in _MENU_ITEM.findall(layout)}

    def click_menu(self, label: str) -> None:
        service, menu = self._menu_path()
        item = self.menu_labels()[label]
        self.desk.run(
            "gdbus", "call", "--session", "--dest", service, "--object-path", menu,
            "--method", "com.canonical.dbusmenu.Event", str(item), "clicked", "<0>", "0",
        )  # fmt: skip

    def window_titles(self) -> list[str]:
        try:
            ids = self.desk.run("xdotool", "search", "--onlyvisible", "--name", ".").split()
        except Exception:
            return []
        return [self.desk.run("xdotool", "getwindowname", wid).strip() for wid in ids]
