"""App start -> tray icon shown: the real app (`python -m tray`) on a virtual desktop with an
SNI tray, timed until its StatusNotifierItem is registered with the tray, and until it reports
`connected` (polled through `opencode-tray status --json`, so within about 0.3 s).

    .venv/bin/python benchmarks/tray_startup.py [--runs N] [--binary PATH]
"""

from __future__ import annotations

import sys
import time
from functools import partial

from appbench import app, desktop
from benchlib import machine, parser, table

from tests.desktop import DesktopError
from tests.e2e.app_driver import AppDriver

POLL_S = 0.01


def registered(driver: AppDriver) -> bool:
    try:
        driver.tray_item()
    except (AssertionError, DesktopError):
        return False
    return True


def gone(driver: AppDriver) -> bool:
    return not registered(driver)


def main() -> int:
    options = parser("App start -> tray icon shown.", runs=5).parse_args()
    icon: list[float] = []
    connected: list[float] = []
    with desktop("tray-startup-") as (desk, root):
        for run in range(options.runs + 1):  # the first one warms the caches up, unmeasured
            driver = app(desk, root / f"run{run}", options.binary)
            started = time.monotonic()
            driver.start()
            try:
                desk.wait_for(partial(registered, driver), "the tray icon", 30)
                shown = time.monotonic() - started
                driver.wait_state("connected", timeout=60)
                up = time.monotonic() - started
            finally:
                driver.quit()
            desk.wait_for(partial(gone, driver), "the icon to go", 10)
            if run:
                icon.append(shown)
                connected.append(up)
                print(f"  run {run}: icon after {shown:.2f} s", file=sys.stderr)
    print(f"\n{machine()}")
    table(
        f"app start, {options.runs} runs after a warm-up (seconds)",
        [("start -> tray icon registered", icon), ("start -> connected (polled)", connected)],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
