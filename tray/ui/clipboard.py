"""Copying a secret: the clipboard forgets it after a while, unless something else has been copied
meanwhile (what KeePassXC does)."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QClipboard, QGuiApplication

CLEAR_AFTER_S = 30.0


class SecretClipboard:
    """`copy(secret)` puts it on the clipboard and clears it after `clear_after_s`, if it is still
    there; a new copy starts the wait again."""

    def __init__(self, clear_after_s: float = CLEAR_AFTER_S) -> None:
        self._secret: str | None = None
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(round(clear_after_s * 1000))
        self._timer.timeout.connect(self.forget)

    def copy(self, secret: str) -> None:
        _clipboard().setText(secret)
        self._secret = secret
        self._timer.start()

    def forget(self) -> None:
        """Clear the clipboard now if it still holds the secret (the timer does this; so may
        quitting)."""
        self._timer.stop()
        if self._secret is not None and _clipboard().text() == self._secret:
            _clipboard().clear()
        self._secret = None


def _clipboard() -> QClipboard:
    return QGuiApplication.clipboard()
