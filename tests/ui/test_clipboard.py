"""Copy password: the clipboard forgets the password after a while, only if it still holds it."""

from __future__ import annotations

import asyncio
import time

from PySide6.QtGui import QGuiApplication

from tests.engine.helpers import poll
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
    await poll(lambda: text() == "", 10, "the clipboard cleared")


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
    await poll(lambda: text() == "", 10, "the clipboard cleared")
    # Cleared a whole wait after the second copy (Qt's coarse timers may fire 5 % early), not
    # when the first copy's wait ran out.
    assert time.monotonic() - again >= wait * 0.94


def test_forget_clears_at_once_and_only_the_secret() -> None:
    clipboard = SecretClipboard()
    clipboard.copy("s3cret")
    clipboard.forget()
    assert text() == ""
    QGuiApplication.clipboard().setText("mine")
    clipboard.forget()
    assert text() == "mine"
