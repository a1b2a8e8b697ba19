"""Copy password: the clipboard forgets the password after a while, only if it still holds it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from PySide6.QtGui import QGuiApplication

from tests.support.waiting import wait_until
from tray.core.door.phases import Credentials
from tray.engine.engine import Engine
from tray.engine.password_source import PasswordSource
from tray.runtime.tasks import Tasks
from tray.shell.commands import AppCommands
from tray.shell.preferences import Preferences
from tray.ui.boxes import Boxes
from tray.ui.clipboard import CLEAR_AFTER_S, SecretClipboard

SHORT_S = 0.2


def text() -> str:
    return QGuiApplication.clipboard().text()


def test_the_default_wait_is_thirty_seconds() -> None:
    assert CLEAR_AFTER_S == 30.0


async def test_a_copied_secret_is_cleared_after_the_wait() -> None:
    clipboard = SecretClipboard(SHORT_S)
    clipboard.copy("s3cret")
    assert text() == "s3cret"
    await wait_until(lambda: text() == "", "the clipboard cleared", 10)


async def test_something_copied_since_is_left_alone() -> None:
    clipboard = SecretClipboard(SHORT_S)
    clipboard.copy("s3cret")
    QGuiApplication.clipboard().setText("the user's own text")
    await asyncio.sleep(SHORT_S * 3)
    assert text() == "the user's own text"


async def test_copying_again_starts_the_wait_again() -> None:
    wait = 0.5
    clipboard = SecretClipboard(wait)
    clipboard.copy("first")
    await asyncio.sleep(0.3)
    clipboard.copy("second")
    again = time.monotonic()
    await wait_until(lambda: text() == "", "the clipboard cleared", 10)
    # Cleared a whole wait after the second copy (Qt's coarse timers may fire 5 % early), not
    # when the first copy's wait ran out.
    assert time.monotonic() - again >= wait * 0.94


def test_forget_clears_at_once_and_only_the_secret(qapp: object) -> None:
    clipboard = SecretClipboard()
    clipboard.copy("s3cret")
    clipboard.forget()
    assert text() == ""
    QGuiApplication.clipboard().setText("mine")
    clipboard.forget()
    assert text() == "mine"


def test_quitting_clears_a_copied_password(qapp: object) -> None:
    """What `App.run` calls last: the password copied from the menu leaves with the app."""
    snapshot = SimpleNamespace(credentials=Credentials("opencode", "s3cret"))
    engine = SimpleNamespace(snapshot=lambda: snapshot)
    commands = AppCommands(
        cast(Engine, engine),
        cast(Preferences, None),
        boxes=cast(Boxes, None),
        tasks=cast(Tasks, None),
        log_path=Path("opencode-tray.log"),
        quit=lambda: None,
        passwords=cast(PasswordSource, None),
        browser_url=lambda page: page,
    )
    commands.copy_password()
    assert text() == "s3cret"
    commands.close()
    assert text() == ""
