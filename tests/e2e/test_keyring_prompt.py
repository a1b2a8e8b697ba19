"""The keyring never freezes the app: the real app on a virtual desktop whose keyring asks the user
(a fresh gnome-keyring without --unlock: gcr-prompter's "Choose password for new keyring"), whose
prompt cannot show (no display for the prompter: "Prompt dismissed"), or whose backend does not
answer for a long time (tests/slow_keyring.py).

The icon and `status` answer while the keyring is still being asked, saying so; the server starts
with the keyring's password once it answers, or with a per-run one after keyring_timeout_s."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.desktop import DesktopError, VirtualDesktop
from tests.e2e.app_driver import AppDriver
from tests.support.processes import alive
from tests.support.waiting import block_until
from tray.core.settings import Settings
from tray.engine.server_password import ACCOUNT, SERVICE, USERNAME

pytestmark = [pytest.mark.e2e, pytest.mark.server, pytest.mark.timeout(480)]

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
            code, out = self.driver.cli("status", "--json", timeout=60)
            if code != 3:
                return time.monotonic() - self.started, json.loads(out)
            assert self.driver.proc is not None
            assert self.driver.proc.poll() is None, "the app exited"

    def first_icon(self) -> float:
        block_until(self._registered, "the tray icon", 60)
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
    """Launches to kill (and whose log to print) when the test ends; a test's `with desktop`
    kills them first, so that no app sees its X server go away."""
    launches: list[Launch] = []
    yield launches
    end(launches)


def end(launches: list[Launch]) -> None:
    while launches:
        launch = launches.pop()
        launch.driver.kill()
        print(launch.logged()[-4000:])


@contextlib.contextmanager
def desktop(
    cleanup: list[Launch],
    workdir: Path,
    keyring_locked: bool = False,
    prompter_display: bool = True,
) -> Iterator[VirtualDesktop]:
    with VirtualDesktop(
        workdir, keyring_locked=keyring_locked, prompter_display=prompter_display
    ) as desk:
        try:
            yield desk
        finally:
            end(cleanup)


def health(url: str, password: str) -> int:
    """The status code of GET /global/health at `url` with this password."""
    return httpx.get(f"{url}/global/health", auth=(USERNAME, password), timeout=30).status_code


def status_line(launch: Launch) -> str:
    labels: dict[str, int] = block_until(launch.driver.menu_labels, "the tray menu", 30.0)
    return next(label for label in labels if label.startswith(("Starting", "Connected")))


def test_a_keyring_that_asks_for_its_password(
    tmp_path: Path, opencode_binary: str, free_port: int, cleanup: list[Launch]
) -> None:
    with desktop(cleanup, tmp_path / "desk", keyring_locked=True) as desk:
        launch = make_launch(desk, tmp_path, opencode_binary, free_port, keyring_timeout_s=120)
        cleanup.append(launch)
        launch.start()
        status_after, status = launch.first_status()
        icon_after = launch.first_icon()
        block_until(desk.keyring_prompt, "the keyring's prompt", 60)
        # The prompt is up and nobody has answered it: the app answers, and says what it waits for.
        status = launch.driver.status()
        assert status["state"] == "starting"
        assert status["cause"]["kind"] == "keyring_waiting"
        assert status["server"]["pid"] is None
        assert launch.driver.servers() == []
        assert status_line(launch).startswith("Starting: waiting for the keyring")
        assert "waiting for the keyring" in launch.tooltip()
        desk.screenshot(tmp_path / "keyring-prompt.png")

        desk.answer_keyring_prompt()
        connected = launch.driver.wait_state("connected", timeout=120)
        assert connected["cause"] is None
        stored = desk.run(sys.executable, "-c", READ_SECRET_SERVICE).strip()
        assert health(connected["server"]["url"], stored) == 200  # the keyring's password
        assert "did not answer" not in launch.logged()
        assert "No keyring available" not in launch.logged()
        assert launch.driver.quit(timeout=60) == 0
    print(f"status answered after {status_after:.2f} s, icon after {icon_after:.2f} s")


def test_a_keyring_prompt_that_cannot_show(
    tmp_path: Path, opencode_binary: str, free_port: int, cleanup: list[Launch]
) -> None:
    with desktop(cleanup, tmp_path / "desk", keyring_locked=True, prompter_display=False) as desk:
        launch = make_launch(desk, tmp_path, opencode_binary, free_port)
        cleanup.append(launch)
        launch.start()
        connected = launch.driver.wait_state("connected", timeout=120)
        logged = launch.logged()
        assert "told the user: No keyring available (" in logged
        assert "dismissed" in logged.lower()
        assert logged.count("told the user: No keyring available") == 1
        assert connected["server"]["pid"] is not None
        # keyrings.alt is installed beside the Secret Service: it did not get the password.
        assert not (desk.home / ".local/share/python_keyring").exists()
        assert launch.driver.quit(timeout=60) == 0


def slow_keyring(launch: Launch) -> tuple[Path, Path]:
    """The app's keyring is tests/slow_keyring.py, answering once the first path returned exists
    (never, if the test does not make it); the second is where it keeps passwords."""
    store = launch.tmp_path / "slow-keyring.json"
    opens = launch.tmp_path / "answer-now"
    launch.driver.env |= {
        "PYTHON_KEYRING_BACKEND": "tests.slow_keyring.SlowKeyring",
        "PYTHONPATH": str(REPO),
        "SLOW_KEYRING_FILE": str(store),
        "SLOW_KEYRING_GATE_FILE": str(opens),
    }
    return opens, store


def test_a_keyring_that_never_answers(
    tmp_path: Path, opencode_binary: str, free_port: int, cleanup: list[Launch]
) -> None:
    with desktop(cleanup, tmp_path / "desk") as desk:
        launch = make_launch(desk, tmp_path, opencode_binary, free_port, keyring_timeout_s=600)
        cleanup.append(launch)
        _, store = slow_keyring(launch)
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
        # It quits at once, killing its helpers still stuck in the keyring, and no server was
        # ever started.
        assert launch.driver.servers() == []
        stuck = launch.driver.keyring_helpers()
        assert stuck
        assert launch.driver.quit(timeout=60) == 0
        assert alive(stuck) == []
        assert "server (pid" not in launch.logged()
        assert not store.exists()
    print(f"status answered after {status_after:.2f} s, icon after {icon_after:.2f} s")


def test_a_keyring_that_answers_after_the_timeout(
    tmp_path: Path, opencode_binary: str, free_port: int, cleanup: list[Launch]
) -> None:
    with desktop(cleanup, tmp_path / "desk") as desk:
        launch = make_launch(desk, tmp_path, opencode_binary, free_port, keyring_timeout_s=1)
        cleanup.append(launch)
        opens, store = slow_keyring(launch)
        launch.start()
        first = launch.driver.wait_state("connected", timeout=120)
        opens.touch()  # the keyring answers now, long after the timeout
        block_until(store.exists, "the keyring to store the password", 60)
        stored = json.loads(store.read_text())[f"{SERVICE}/{ACCOUNT}"]
        # The running server keeps its per-run password (clients that have it keep working) ...
        time.sleep(1)
        still = launch.driver.status()
        assert (still["state"], still["server"]["pid"]) == ("connected", first["server"]["pid"])
        assert health(still["server"]["url"], stored) == 401
        # ... and the next start uses the keyring's.
        assert launch.driver.cli("restart")[0] == 0
        block_until(
            lambda: (
                (s := launch.driver.status())["state"] == "connected"
                and s["server"]["pid"] not in (None, first["server"]["pid"])
                and s
            ),
            "connected to a new server",
            60,
        )
        again = launch.driver.status()
        assert health(again["server"]["url"], stored) == 200
        told = "told the user: The keyring did not answer within 1 s"
        assert launch.logged().count(told) == 1
        assert launch.driver.quit(timeout=60) == 0
