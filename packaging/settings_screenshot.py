"""The settings dialog as a user first sees it, for README: the default settings, the binary found.

    xvfb-run -a -s "-screen 0 1024x768x24" .venv/bin/python packaging/settings_screenshot.py [dir]

Run it on a real X display (xcb, not offscreen) with a fresh HOME, so that nothing of this
machine shows. It opens the dialog with `Settings()` (port 4096, empty paths showing what empty
means) and the app's own binary check, waits until it has found the binary, and saves each page
as Qt draws it (QWidget.grab): settings-dialog.png (General) and settings-dialog-advanced.png,
into resources/screenshots unless a folder is given. Look at both before committing them.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication, QLabel, QTabWidget

from tray.core.settings import Settings
from tray.engine.version_check import check_binary
from tray.platform.resources import resource_path
from tray.ui.settings_dialog import PAGES, SettingsDialog

CHECK_WAIT_S = 30.0
SHOTS = {"General": "settings-dialog.png", "Advanced": "settings-dialog-advanced.png"}


async def patient_check(path: str) -> str:
    """The app's binary check, with room for a loaded machine (`--version` can take seconds)."""
    return await check_binary(path, timeout_s=CHECK_WAIT_S)


async def shoot(folder: Path) -> list[Path]:
    dialog = SettingsDialog(Settings(), checker=patient_check, check_delay_ms=0)
    dialog.show()
    status = dialog.findChild(QLabel, "binary_status")
    pages = dialog.findChild(QTabWidget, "pages")
    assert status is not None
    assert pages is not None
    for _ in range(int(CHECK_WAIT_S / 0.1) + 50):
        await asyncio.sleep(0.1)
        if status.text() != "Checking...":
            break
    if not status.text().startswith("Found opencode"):
        raise SystemExit(f"the binary check did not find opencode: {status.text()}")
    saved = []
    for index, title in enumerate(PAGES):
        pages.setCurrentIndex(index)
        await asyncio.sleep(0.3)  # drawn, and grown to fit if it had to
        path = folder / SHOTS[title]
        if not dialog.grab().save(str(path)):
            raise SystemExit(f"cannot write {path}")
        saved.append(path)
    dialog.reject()
    return saved


def main(argv: list[str]) -> None:
    if os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb" or not os.environ.get("DISPLAY"):
        raise SystemExit("run this on an X display, e.g. under xvfb-run (see the docstring)")
    folder = Path(argv[1]) if len(argv) > 1 else resource_path("screenshots")
    app = QApplication(argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        for path in loop.run_until_complete(shoot(folder)):
            print(path)


if __name__ == "__main__":
    main(sys.argv)
