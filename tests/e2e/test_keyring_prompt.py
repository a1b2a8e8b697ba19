"""The keyring never freezes the app: the real app on a virtual desktop whose keyring asks the user
(a fresh gnome-keyring without --unlock: gcr-prompter's "Choose password for new keyring"), whose
prompt cannot show (no display for the prompter: "Prompt dismissed"), or whose backend does not
answer for a long time (tests/slow_keyring.py).

The icon and `status` answer while the keyring is still being asked, saying so; the server starts
with the keyring's password once it answers, or with a per-run one after keyring_timeout_s."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import REPO
from tests.desktop import DesktopError, VirtualDesktop
from tests.e2e.app_driver import AppDriver, opencode_on_port, wait_until
from tray.core.settings import Settings
from tray.engine.password import ACCOUNT, SERVICE

pytestmark = [pytest.mark.e2e, pytest.mark.server, pytest.mark.timeout(240)]

READ_SECRET_SERVICE = (
    "from keyring.backends.SecretService import Keyring\n"
    f"print(Keyring().get_password({SERVICE!r}, {ACCOUNT!r}))\n"
)


class Launch:
    """The app, started on `desk`, and when its icon and its command line first answered."""

    def __init__(self, driver: AppDriver, tmp_path: Path) -> None:
        self.driver = driver
        self.tmp_path = tmp_path
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        self.driver.start()

    def first_status(self) -> tuple[float, dict[str, Any]]:
        """Seconds from the start to `status --json` answering from the app, and that answer."""
        while True:
            code, out = self.driver.cli("status", "--json")
            if code != 3:
                return time.monotonic() - self.started, json.loads(out)
            assert self.driver.proc is not None
            assert self.driver.proc.poll() is None, "the app exited"

    def first_icon(self) -> float:
        wait_until(self._registered, "the tray icon", 30)
        return time.monotonic() - self.started

    def _registered(self) -> bool:
        try:
            self.driver.tray_item()
        except (AssertionError, DesktopError):
            return False
        return True

    def tooltip(self) -> str:
        service, path = self.driver.tray_item()
        return self.driver.desk.run(
            "gdbus", "call", "--session", "--dest", service, "--object-path", path,
            "--method", "org.freedesktop.DBus.Properties.Get",
            "org.kde.StatusNotifierItem", "ToolTip",
        )  # fmt: skip

    def server_password(self, pid: int) -> str:
        password: str = psutil.Process(pid).environ()["OPENCODE_SERVER_PASSWORD"]
        return password

    def logged(self) -> str:
        return self.driver.log.read_text(errors="replace")


def make_launch(
    desk: VirtualDesktop,
    tmp_path: Path,
    opencode_binary: str,
    free_port: int,
    keyring_timeout_s: float = 60.0,
) -> Launch:
    project = desk.home / "project"
    project.mkdir(exist_ok=True)
    chosen = Settings(
        opencode_path=opencode_binary,
        port=free_port,
        working_directory=str(project),
        notification_grace_s=0.0,
        keyring_timeout_s=keyring_timeout_s,
    )
    return Launch(AppDriver(desk, tmp_path, chosen), tmp_path)


@pytest.fixture
def cleanup() -> Iterator[list[Launch]]:
    launches: list[Launch] = []
    yield launches
    for launch in launches:
        launch.driver.kill()
        print(launch.logged()[-4000:])


def status_line(launch: Launch) -> str:
    labels: dict[str, int] = wait_until(launch.driver.menu_labels, "the tray menu")
    return next(label for label in labels if label.startswith(("Starting", "Connected")))


def test_a_keyring_that_asks_for_its_password(
    tmp_path: Path, opencode_binary: str, free_port: int, cleanup: list[Launch]
) -> None:
    with VirtualDesktop(tmp_path / "desk", keyring_locked=True) as desk:
        launch = make_launch(desk, tmp_path, opencode_binary, free_port, keyring_timeout_s=120)
        cleanup.append(launch)
        launch.start()
        status_after, status = launch.first_status()
        icon_after = launch.first_icon()
        wait_until(desk.keyring_prompt, "the keyring's prompt", 30)
        # The prompt is up and nobody has answered it: the app answers, and says what it waits for.
        status = launch.driver.status()
        assert status["state"] == "starting"
        assert status["cause"]["kind"] == "keyring_waiting"
        assert status["server"]["pid"] is None
        assert opencode_on_port(free_port) == []
        assert status_line(launch).startswith("Starting: waiting for the keyring")
        assert "waiting for the keyring" in launch.tooltip()
        desk.screenshot(tmp_path / "keyring-prompt.png")

        desk.answer_keyring_prompt()
        connected = launch.driver.wait_state("connected", timeout=60)
        assert connected["cause"] is None
        stored = desk.run(sys.executable, "-c", READ_SECRET_SERVICE).strip()
        assert launch.server_password(connected["server"]["pid"]) == stored
        assert "did not answer" not in launch.logged()
        assert "No keyring available" not in launch.logged()
        assert launch.driver.quit() == 0
    print(f"status answered after {status_after:.2f} s, icon after {icon_after:.2f} s")


def test_a_keyring_prompt_that_cannot_show(
    tmp_path: Path, opencode_binary: str, free_port: int, cleanup: list[Launch]
) -> None:
    with VirtualDesktop(tmp_path / "desk", keyring_locked=True, prompter_display=False) as desk:
        launch = make_launch(desk, tmp_path, opencode_binary, free_port)
        cleanup.append(launch)
        launch.start()
        connected = launch.driver.wait_state("connected", timeout=60)
        logged = launch.logged()
        assert "told the user: No keyring available (" in logged
        assert "dismissed" in logged.lower()
        assert logged.count("told the user: No keyring available") == 1
        # The per-run password is nowhere on disk.
        secret = launch.server_password(connected["server"]["pid"])
        assert not [p for p in desk.home.rglob("*") if p.is_file() and secret in _text(p)]
        assert launch.driver.quit() == 0


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def slow_keyring(launch: Launch, delay_s: float | None) -> Path:
    """The app's keyring is tests/slow_keyring.py, answering after `delay_s` (None: never)."""
    store = launch.tmp_path / "slow-keyring.json"
    launch.driver.env |= {
        "PYTHON_KEYRING_BACKEND": "tests.slow_keyring.SlowKeyring",
        "PYTHONPATH": str(REPO),
        "SLOW_KEYRING_FILE": str(store),
    }
    if delay_s is not None:
        launch.driver.env["SLOW_KEYRING_DELAY_S"] = str(delay_s)
    return store


def test_a_keyring_that_never_answers(
    tmp_path: Path, opencode_binary: str, free_port: int, cleanup: list[Launch]
) -> None:
    with VirtualDesktop(tmp_path / "desk") as desk:
        launch = make_launch(desk, tmp_path, opencode_binary, free_port, keyring_timeout_s=600)
        cleanup.append(launch)
        store = slow_keyring(launch, None)
        launch.start()
        status_after, status = launch.first_status()
        icon_after = launch.first_icon()
        assert status["state"] == "starting"
        assert status["cause"]["kind"] == "keyring_waiting"
        assert "600 s" in status["cause"]["text"]
        assert launch.driver.cli("status")[0] == 1
        assert status_line(launch).startswith("Starting: waiting for the keyring")
        assert "waiting for the keyring" in launch.tooltip()
        # Rotating asks the same stuck keyring: the command line still gets an answer.
        code, out = launch.driver.cli("rotate-password", timeout=60)
        assert code == 1
        assert out.startswith("The keyring did not answer within 10 s: the password is unchanged")
        # It quits at once, its keyring thread still stuck, and no server was ever started.
        assert launch.driver.quit(timeout=20) == 0
        assert opencode_on_port(free_port) == []
        assert "server (pid" not in launch.logged()
        assert not store.exists()
    print(f"status answered after {status_after:.2f} s, icon after {icon_after:.2f} s")


def test_a_keyring_that_answers_after_the_timeout(
    tmp_path: Path, opencode_binary: str, free_port: int, cleanup: list[Launch]
) -> None:
    with VirtualDesktop(tmp_path / "desk") as desk:
        launch = make_launch(desk, tmp_path, opencode_binary, free_port, keyring_timeout_s=1)
        cleanup.append(launch)
        store = slow_keyring(launch, 8)
        launch.start()
        first = launch.driver.wait_state("connected", timeout=60)
        per_run = launch.server_password(first["server"]["pid"])
        wait_until(store.exists, "the keyring to store the password", 60)
        stored = json.loads(store.read_text())[f"{SERVICE}/{ACCOUNT}"]
        assert stored != per_run
        # The running server keeps its password (clients that have it keep working) ...
        time.sleep(1)
        still = launch.driver.status()
        assert (still["state"], still["server"]["pid"]) == ("connected", first["server"]["pid"])
        assert launch.server_password(first["server"]["pid"]) == per_run
        # ... and the next start uses the keyring's.
        assert launch.driver.cli("restart")[0] == 0
        wait_until(
            lambda: (
                (s := launch.driver.status())["state"] == "connected"
                and s["server"]["pid"] not in (None, first["server"]["pid"])
                and s
            ),
            "connected to a new server",
            60,
        )
        again = launch.driver.status()
        assert launch.server_password(again["server"]["pid"]) == stored
        told = "told the user: The keyring did not answer within 1 s"
        assert launch.logged().count(told) == 1
        assert launch.driver.quit() == 0
