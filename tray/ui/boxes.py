"""Message boxes that never block the loop: each is opened, not exec'd, and held until it
closes (they have no parent window to hold them)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox

from tray.platform.identity import DISPLAY_NAME

log = logging.getLogger(__name__)


class Boxes:
    def __init__(self) -> None:
        self._open: set[QMessageBox] = set()

    def warn(self, text: str) -> None:
        log.warning("told the user: %s", text)
        self._show(QMessageBox(QMessageBox.Icon.Warning, DISPLAY_NAME, text))

    def ask(self, question: str, yes: str, no: str, on_yes: Callable[[], None]) -> None:
        """Ask `question`; `on_yes` runs if the user picks `yes` (the default button)."""
        box = QMessageBox(QMessageBox.Icon.Question, DISPLAY_NAME, question)
        go = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(no, QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(go)
        go.clicked.connect(on_yes)
        self._show(box)

    def _show(self, box: QMessageBox) -> None:
        self._open.add(box)
        box.finished.connect(lambda _result: self._open.discard(box))
        box.open()
