"""The app in this process, offscreen (no system tray), with the real server and no keyring:
the status window stands in for the tray, the command line answers, Quit stops the server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QLineEdit,
    QMessageBox,
    QPushButton,
)

from tests.engine.helpers import SHUTDOWN_S, START_S
from tests.support.waiting import wait_until
from tray.cli import arguments
from tray.core.settings import Settings
from tray.core.status import State
from tray.settings import file as settings_file
from tray.shell.app import App

pytestmark = [pytest.mark.server, pytest.mark.timeout(6 * START_S)]


@pytest.fixture
def make_app(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server_env: dict[str, str],
    opencode_binary: str,
    free_port: int,
) -> Callable[[], App]:
    """The app's constructor, with everything it touches in tmp_path (it needs a running loop)."""
    for key, value in server_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    settings_path = tmp_path / "settings.toml"
    settings_file.save(settings_path, Settings(opencode_path=opencode_binary, port=free_port))
    return lambda: App(arguments.parse([]), settings_path, tmp_path / "logs" / "opencode-tray.log")


async def test_without_a_tray_the_status_window_supervises(
    make_app: Callable[[], App], free_port: int
) -> None:
    app = make_app()
    running = asyncio.ensure_future(app.run())
    await wait_until(lambda: app.engine.status().state is State.CONNECTED, "connected", START_S)
    assert app.views.tray is None
    window = app.views.window
    assert window is not None
    assert window.isVisible()
    assert window.notice.isVisible()
    assert window.notice.text().startswith("No system tray was found")

    reply = await app.command_line.handle(["status", "--json"])
    data = json.loads(reply.output)
    assert (reply.code, data["state"], data["server"]["url"]) == (
        0,
        "connected",
        f"http://127.0.0.1:{free_port}",
    )
    reply = await app.command_line.handle(["frobnicate"])
    assert reply.code == 2
    assert "invalid choice" in reply.output

    # No keyring: a per-run password and a clear warning, and the app still works.
    warnings = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]
    assert any(w.text().startswith("No keyring available") for w in warnings), "shown, and stays"
    password = app.engine.launch.password
    assert not password.persistent
    assert password.warning is not None
    assert password.warning.startswith("No keyring available")
    assert password.value not in app.commands.diagnostics()

    # Rotation is explicit: a new password, the server restarted with it, connected again.
    old = app.engine.launch.password.value
    reply = await app.command_line.handle(["rotate-password"])
    assert reply.code == 1  # no keyring to keep it in: said so
    assert app.engine.launch.password.value != old
    await wait_until(
        lambda: app.engine.status().state is State.CONNECTED, "connected, rotated", START_S
    )

    await app.command_line.handle(["stop"])
    await wait_until(lambda: app.engine.status().pid is None, "the server stopped", SHUTDOWN_S)
    assert app.engine.status().state is State.STOPPED
    window.start_stop_button.click()
    await wait_until(
        lambda: app.engine.status().state is State.CONNECTED, "connected again", START_S
    )

    reply = await app.command_line.handle(["quit"])
    assert reply.code == 0
    assert await asyncio.wait_for(running, SHUTDOWN_S) == 0
    assert app.engine.status().pid is None


async def test_the_settings_dialog_compares_with_what_the_server_runs_with(
    make_app: Callable[[], App], tmp_path: Path
) -> None:
    """A launch setting applied asks for a restart; once the server has restarted by itself
    (killed here), it runs with it and the dialog stops asking."""
    app = make_app()
    running = asyncio.ensure_future(app.run())
    await wait_until(lambda: app.engine.status().state is State.CONNECTED, "connected", START_S)
    app.commands.open_settings()
    dialog = app.preferences.dialog
    assert dialog is not None
    folder = dialog.findChild(QLineEdit, "working_directory")
    assert isinstance(folder, QLineEdit)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder.setText(str(elsewhere))
    buttons = dialog.findChild(QDialogButtonBox)
    assert isinstance(buttons, QDialogButtonBox)
    buttons.button(QDialogButtonBox.StandardButton.Apply).click()
    restart = dialog.findChild(QPushButton, "restart_button")
    assert isinstance(restart, QPushButton)
    assert restart.isVisible(), "the folder reaches the server at its next start"

    pid = app.engine.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await wait_until(
        lambda: (s := app.engine.status()).state is State.CONNECTED and s.pid != pid,
        "restarted by the app",
        START_S,
    )
    assert app.engine.server_settings().working_directory == str(elsewhere)
    await wait_until(lambda: not restart.isVisible(), "the restart note gone", 5)

    await app.command_line.handle(["quit"])
    assert await asyncio.wait_for(running, SHUTDOWN_S) == 0
