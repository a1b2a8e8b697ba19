"""The README's screenshot of the Connect a client… window, with realistic values and the password
hidden (a fresh random one, never shown):

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x900x24" .venv/bin/python \\
        -m tests.ui.connect_window_screenshot resources/screenshots/connect-window.png
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLineEdit, QPlainTextEdit

from tray.engine.server_password import generate
from tray.ui.connect_window import ConnectActions, ConnectDetails, ConnectWindow

SETTLE_MS = 800  # the window mapped and painted


def main(path: str, tab: int = 0) -> None:
    app = QApplication([])
    secret = generate()
    window = ConnectWindow(
        ConnectDetails("http://127.0.0.1:4096", "opencode", lambda: secret, browser_signs_in=True),
        ConnectActions(copy=lambda _text: None, copy_secret=lambda _text: None,
                       open_in_browser=lambda: None),
    )  # fmt: skip
    window.tabs.setCurrentIndex(tab)
    window.show()

    def shoot() -> None:
        shown = [field.text() for field in window.findChildren(QLineEdit)]
        shown += [text.toPlainText() for text in window.findChildren(QPlainTextEdit)]
        if any(secret in text for text in shown):
            raise SystemExit("the password is visible: no screenshot")
        window.grab().save(path)
        app.quit()

    QTimer.singleShot(SETTLE_MS, shoot)
    app.exec()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
