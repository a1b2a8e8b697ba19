"""App start with a keyring that does not answer -> `status` answers and the tray icon shows.

The real app (`python -m tray`) on a virtual desktop with an SNI tray, its keyring
tests/slow_keyring.py never answering (keyring_timeout_s 600), against the same app with the
desktop's unlocked gnome-keyring answering at once. Timed from the launch to the first
`opencode-tray status --json` the app answers (not "not_running"; this includes that command's
own start, about 0.45 s here) and, in another start, to its StatusNotifierItem registered with the
tray.

    .venv/bin/python benchmarks/keyring_startup.py [--runs N] [--binary PATH]
"""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path

from appbench import desktop
from benchlib import REPO, free_port, machine, parser, table

from tests.desktop import DesktopError, VirtualDesktop
from tests.e2e.app_driver import AppDriver
from tray.core.settings import Settings

POLL_S = 0.01


def registered(driver: AppDriver) -> bool:
    try:
        driver.tray_item()
    except (AssertionError, DesktopError):
        return False
    return True


def gone(driver: AppDriver) -> bool:
    return not registered(driver)


def answering(driver: AppDriver) -> bool:
    return driver.cli("status", "--json")[0] != 3


def make(desk: VirtualDesktop, workdir: Path, binary: str, blocked: bool) -> AppDriver:
    """An app (not started yet); `blocked`: its keyring never answers."""
    project = desk.home / "project"
    project.mkdir(exist_ok=True)
    workdir.mkdir(parents=True)
    settings = Settings(
        opencode_path=binary,
        port=free_port(),
        working_directory=str(project),
        keyring_timeout_s=600.0,
    )
    driver = AppDriver(desk, workdir, settings)
    if blocked:
        driver.env |= {
            "PYTHON_KEYRING_BACKEND": "tests.slow_keyring.SlowKeyring",
            "PYTHONPATH": str(REPO),
        }
    return driver


def main() -> int:
    options = parser("App start with a blocked keyring -> status and icon.", runs=5).parse_args()
    rows: dict[str, list[float]] = {}
    with desktop("keyring-startup-") as (desk, root):
        for run in range(options.runs + 1):  # the first one warms the caches up, unmeasured
            for kind in ("blocked", "answering"):
                # One start for each: `status` runs a whole `opencode-tray status` process
                # after another, which on two cores slows the app it waits for.
                for what, ready in (("status answers", answering), ("tray icon", registered)):
                    workdir = root / f"{kind}{run}-{what}"
                    driver = make(desk, workdir, options.binary, kind == "blocked")
                    started = time.monotonic()
                    driver.start()
                    try:
                        desk.wait_for(partial(ready, driver), what, 60)
                        took = time.monotonic() - started
                    finally:
                        driver.quit()
                    desk.wait_for(partial(gone, driver), "the icon to go", 10)
                    if run:
                        rows.setdefault(f"{kind}: start -> {what}", []).append(took)
                        print(f"  run {run} {kind}: {what} {took:.2f} s", file=sys.stderr)
    print(f"\n{machine()}")
    table(f"app start, {options.runs} runs after a warm-up (seconds)", list(rows.items()))
    blocked_icon = sorted(rows["blocked: start -> tray icon"])
    answering_icon = sorted(rows["answering: start -> tray icon"])
    ratio = blocked_icon[len(blocked_icon) // 2] / answering_icon[len(answering_icon) // 2]
    print(f"\nicon, blocked keyring / answering keyring (medians): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
