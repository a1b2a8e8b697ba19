"""What each part of the app costs in memory as it loads: RSS after each step, in the order the
app loads them, in a fresh interpreter (`python -X importtime` gives the times).

    .venv/bin/python benchmarks/import_cost.py

The steps up to `tray.shell.app` are what every app run holds; the last ones load only when
first used (the first notice, a window opened), and the keyring helper's only in its own
short-lived process. The idle app's RSS is `benchmarks/idle_cost.py`'s.
"""

from __future__ import annotations

import os
import subprocess
import sys

from benchlib import machine

STEPS = [
    ("Python itself", "pass"),
    ("asyncio (and ssl, which it loads)", "import asyncio"),
    ("PySide6 QtCore", "import PySide6.QtCore"),
    ("PySide6 QtGui, QtWidgets, QtNetwork", "import PySide6.QtWidgets, PySide6.QtNetwork"),
    ("QApplication", "from PySide6.QtWidgets import QApplication; qapp = QApplication([])"),
    ("qasync", "import qasync"),
    ("httpx, httpx-sse", "import httpx, httpx_sse"),
    ("the first httpx client", "httpx.AsyncClient()"),
    ("psutil", "import psutil"),
    ("the front door (llhttp, by httptools, on both sides)", "import tray.frontdoor.threaded"),
    ("tray.shell.app (the app's own modules)", "import tray.shell.app"),
    ("first used: notifications (dbus-fast)", "import tray.ui.notifier"),
    (
        "first used: the windows",
        "import tray.ui.settings_dialog, tray.ui.status_window, tray.ui.connect_window",
    ),
    ("first WebSocket: the door's tunnel (wsproto)", "import tray.frontdoor.websocket"),
    ("helper only: keyring and its backends", "import tray.engine.keyring_store"),
    ("helper only: the Secret Service backend", "import secretstorage"),
]

CHILD = """
import sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
for code in sys.argv[1:]:
    exec(code)
    print(rss(), flush=True)
"""


def main() -> int:
    env = os.environ | {"QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *(code for _, code in STEPS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    after = [float(line) for line in done.stdout.split()]
    print(f"\n{machine()}\n")
    print(f"{'step':48} {'RSS after':>10} {'added':>8}")
    before = 0.0
    for (name, _), rss in zip(STEPS, after, strict=True):
        print(f"{name:48} {rss:>10.1f} {rss - before:>8.1f}")
        before = rss
    print("(MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
