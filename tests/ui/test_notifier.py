"""The notifier against a real notification daemon (dunst on a virtual desktop), and its
fallback to the tray icon's messages when there is none."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QSystemTrayIcon

from tests.desktop import (
    NOTIFICATIONS,
    SECRETS,
    SNI_WATCHER,
    DesktopError,
    VirtualDesktop,
)
from tray.core.notice_pacing import MIN_SHOWN_S
from tray.core.notify_policy import CloseNotice, Notice, NoticeButton, ShowNotice
from tray.core.status import State
from tray.platform.identity import DISPLAY_NAME
from tray.ui import notifier as notifier_module
from tray.ui.notifier import Notifier

CRASHED = Notice(
    key="incident-100.0",
    title="opencode server down",
    body="Server killed by SIGSEGV: Bun crashed (Segmentation fault)\n"
    "Restarting in 4 s (attempt 2)",
    state=State.CRASHED,
    buttons=(NoticeButton.RESTART_SERVER, NoticeButton.SHOW_LOG),
    session="ses_resume_me",
)
STARTING = Notice(
    key=CRASHED.key,
    title="opencode server restarting",
    body="Server killed by SIGSEGV: Bun crashed (Segmentation fault)\nStarting the server again",
    state=State.STARTING,
    buttons=(NoticeButton.RESTART_SERVER, NoticeButton.SHOW_LOG),
    session="ses_resume_me",
)
RECOVERED = Notice(
    key=CRASHED.key,
    title="opencode server back",
    body="Reconnected after 12 s\nIt was: server killed by SIGSEGV",
    state=State.CONNECTED,
    session="ses_resume_me",
)
OTHER = Notice(
    key="incident-500.0",
    title="opencode connection lost",
    body="Event stream broke: <html> & more\nReconnecting in 2 s (attempt 1)",
    state=State.RECONNECTING,
    buttons=(NoticeButton.RESTART_SERVER,),
)


class Calls:
    """What the notifier called back, as futures a test can await."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Notice, NoticeButton | None]] = []
        self._next: asyncio.Future[tuple[str, Notice, NoticeButton | None]] | None = None

    def clicked(self, notice: Notice) -> None:
        self._record(("clicked", notice, None))

    def button(self, notice: Notice, button: NoticeButton) -> None:
        self._record(("button", notice, button))

    def _record(self, call: tuple[str, Notice, NoticeButton | None]) -> None:
        self.seen.append(call)
        if self._next is not None and not self._next.done():
            self._next.set_result(call)

    async def next(self) -> tuple[str, Notice, NoticeButton | None]:
        self._next = asyncio.get_running_loop().create_future()
        async with asyncio.timeout(5):
            return await self._next


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualDesktop]:
    with VirtualDesktop(tmp_path_factory.mktemp("desktop")) as desk:
        yield desk


@pytest.fixture
def desk(desktop: VirtualDesktop, monkeypatch: pytest.MonkeyPatch) -> VirtualDesktop:
    """The shared desktop with no notification left over; this process on its bus."""
    desktop.dunstctl("close-all")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", desktop.bus_address)
    return desktop


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
async def notifier(calls: Calls, desk: VirtualDesktop) -> AsyncIterator[Notifier]:
    notifier = Notifier(calls.clicked, calls.button)
    yield notifier
    await notifier.aclose()


# -- the real thing ------------------------------------------------------------------------------


@pytest.mark.e2e
async def test_a_notice_shows_in_the_daemon(notifier: Notifier, desk: VirtualDesktop) -> None:
    await notifier.apply([ShowNotice(OTHER)])
    assert not notifier.uses_fallback
    assert desk.notification_count() == 1
    desk.dunstctl("close")
    newest = desk.history()[0]
    assert newest["appname"] == DISPLAY_NAME
    assert newest["summary"] == OTHER.title
    assert newest["body"] == (
        "Event stream broke: &lt;html&gt; &amp; more\nReconnecting in 2 s (attempt 1)"
    )
    assert newest["timeout"] > 0  # not critical (see tests.desktop)
    assert newest["icon_path"].endswith("reconnecting.svg")


@pytest.mark.e2e
async def test_a_notice_replaces_the_one_with_its_key_in_place(
    notifier: Notifier, desk: VirtualDesktop
) -> None:
    before = {item["id"] for item in desk.history()}
    await notifier.apply([ShowNotice(CRASHED)])
    await notifier.apply([ShowNotice(STARTING)])
    assert desk.notification_count() == 1
    await notifier.apply([ShowNotice(OTHER)])
    assert desk.notification_count() == 2
    await notifier.apply([ShowNotice(RECOVERED), CloseNotice(OTHER.key)])
    assert desk.notification_count() == 1
    desk.dunstctl("close")
    new = [item for item in desk.history() if item["id"] not in before]
    # Two notifications in all, one per key: the daemon replaced the first one where it was.
    assert [item["summary"] for item in new] == [RECOVERED.title, OTHER.title]
    assert new[0]["body"] == "Reconnected after 12 s\nIt was: server killed by SIGSEGV"


@pytest.mark.e2e
async def test_a_notice_stays_a_second_on_screen_before_it_changes(
    notifier: Notifier, desk: VirtualDesktop
) -> None:
    loop = asyncio.get_running_loop()
    await notifier.apply([ShowNotice(CRASHED)])
    shown_at = loop.time()
    await notifier.apply([ShowNotice(STARTING)])  # the policy spaces these; here none did
    assert loop.time() - shown_at >= MIN_SHOWN_S
    replaced_at = loop.time()
    await notifier.apply([CloseNotice(STARTING.key), ShowNotice(OTHER)])
    assert loop.time() - replaced_at >= MIN_SHOWN_S
    await notifier.apply([ShowNotice(RECOVERED)])
    assert desk.notification_count() == 2


@pytest.mark.e2e
async def test_a_notice_closed_by_the_user_comes_back_as_a_new_one(
    notifier: Notifier, desk: VirtualDesktop
) -> None:
    await notifier.apply([ShowNotice(CRASHED)])
    desk.dunstctl("close")
    await asyncio.sleep(0.2)  # dunst's NotificationClosed arrives
    first = desk.history()[0]["id"]
    await notifier.apply([ShowNotice(STARTING)])
    assert desk.notification_count() == 1
    desk.dunstctl("close")
    newest = desk.history()[0]
    assert (newest["summary"], newest["id"] != first) == (STARTING.title, True)


@pytest.mark.e2e
async def test_posted_decisions_run_in_order(notifier: Notifier, desk: VirtualDesktop) -> None:
    notifier.post([ShowNotice(CRASHED)])
    notifier.post([ShowNotice(STARTING)])
    assert notifier.post([]) is None
    last = notifier.post([ShowNotice(RECOVERED)])
    assert last is not None
    await last
    assert desk.notification_count() == 1
    desk.dunstctl("close")
    assert desk.history()[0]["summary"] == RECOVERED.title


@pytest.mark.e2e
async def test_a_critical_notice_is_critical(notifier: Notifier, desk: VirtualDesktop) -> None:
    failed = Notice("incident-1.0", "opencode server gave up", "x", State.FAILED, critical=True)
    await notifier.apply([ShowNotice(failed)])
    desk.dunstctl("close")
    assert desk.history()[0]["timeout"] == 0  # critical (see tests.desktop)


@pytest.mark.e2e
async def test_closing_what_the_user_closed_already_is_fine(
    notifier: Notifier, desk: VirtualDesktop
) -> None:
    await notifier.apply([ShowNotice(CRASHED)])
    desk.dunstctl("close")
    await asyncio.sleep(0.2)  # dunst's NotificationClosed arrives
    await notifier.apply([CloseNotice(CRASHED.key), ShowNotice(STARTING)])
    assert desk.notification_count() == 1
    await notifier.apply([CloseNotice(STARTING.key), CloseNotice("never-shown")])
    assert desk.notification_count() == 0


@pytest.mark.e2e
async def test_a_click_resumes_the_session(
    notifier: Notifier, desk: VirtualDesktop, calls: Calls
) -> None:
    await notifier.apply([ShowNotice(CRASHED), ShowNotice(STARTING)])
    clicked = calls.next()
    desk.click_notification()
    assert await clicked == ("clicked", STARTING, None)
    assert STARTING.session == "ses_resume_me"
    assert desk.notification_count() == 0


@pytest.mark.e2e
@pytest.mark.parametrize("button", list(NoticeButton))
async def test_a_button_reaches_the_app(
    notifier: Notifier, desk: VirtualDesktop, calls: Calls, button: NoticeButton
) -> None:
    every_button = replace(CRASHED, buttons=tuple(NoticeButton))
    await notifier.apply([ShowNotice(every_button)])
    pressed = calls.next()
    desk.choose_action(button.label)
    assert await pressed == ("button", every_button, button)


def _dunst_window_shown(desk: VirtualDesktop) -> bool:
    try:
        return bool(desk.run("xdotool", "search", "--onlyvisible", "--classname", "dunst").split())
    except DesktopError:  # xdotool exits 1 when it finds nothing
        return False


@pytest.mark.e2e
async def test_a_mouse_click_on_the_notification(
    notifier: Notifier, desk: VirtualDesktop, calls: Calls
) -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("needs xdotool")
    await notifier.apply([ShowNotice(CRASHED)])
    clicked = calls.next()
    desk.wait_for(lambda: _dunst_window_shown(desk), "dunst to draw the notification")
    desk.run("xdotool", "mousemove", "800", "80", "click", "1")
    assert await clicked == ("clicked", CRASHED, None)


@pytest.mark.e2e
async def test_closing_the_notifier_takes_its_notifications_down(
    notifier: Notifier, desk: VirtualDesktop
) -> None:
    await notifier.apply([ShowNotice(CRASHED), ShowNotice(OTHER)])
    notifier.post([ShowNotice(RECOVERED)])
    await notifier.aclose()
    assert desk.notification_count() == 0


@pytest.mark.e2e
async def test_the_notification_on_screen(
    notifier: Notifier, desk: VirtualDesktop, tmp_path: Path
) -> None:
    await notifier.apply([ShowNotice(CRASHED)])
    desk.wait_for(lambda: _dunst_window_shown(desk), "dunst to draw the notification")
    shot = QImage(str(desk.screenshot(tmp_path / "notification.png")))
    assert (shot.width(), shot.height()) == (1024, 768)
    inside = shot.pixelColor(800, 60)  # dunst's top-right corner, below the tray bar
    background = shot.pixelColor(300, 400)
    assert inside != background


@pytest.mark.e2e
async def test_no_daemon_on_the_bus_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: Calls
) -> None:
    with VirtualDesktop(tmp_path, tray=False, notifications=False) as bare:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bare.bus_address)
        tray = RecordingTray()
        notifier = Notifier(calls.clicked, calls.button, tray)
        await notifier.apply([ShowNotice(CRASHED)])
        assert notifier.uses_fallback
        assert tray.messages == [(CRASHED.title, CRASHED.body)]
        await notifier.aclose()


# -- without a notification service --------------------------------------------------------------


class RecordingTray(QSystemTrayIcon):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str]] = []
        self.icons: list[QSystemTrayIcon.MessageIcon] = []

    def showMessage(  # type: ignore[override]
        self, title: str, body: str, icon: QSystemTrayIcon.MessageIcon, msecs: int
    ) -> None:
        self.messages.append((title, body))
        self.icons.append(icon)


@pytest.fixture
def no_bus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")


@pytest.mark.usefixtures("no_bus")
async def test_without_a_bus_the_tray_icon_shows_the_notices(
    calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    tray = RecordingTray()
    notifier = Notifier(calls.clicked, calls.button, tray)
    with caplog.at_level(logging.WARNING, logger="tray.ui.notifier"):
        await notifier.apply([ShowNotice(CRASHED)])
        await notifier.apply([ShowNotice(STARTING), ShowNotice(RECOVERED)])
    assert notifier.uses_fallback
    assert tray.messages == [(n.title, n.body) for n in (CRASHED, STARTING, RECOVERED)]
    assert tray.icons == [
        QSystemTrayIcon.MessageIcon.Warning,
        QSystemTrayIcon.MessageIcon.Warning,
        QSystemTrayIcon.MessageIcon.Information,
    ]
    warnings = [r.getMessage() for r in caplog.records if r.name == "tray.ui.notifier"]
    assert len(warnings) == 1
    assert warnings[0].startswith("Desktop notifications unavailable (")
    assert warnings[0].endswith("using the tray icon's messages")


@pytest.mark.usefixtures("no_bus")
async def test_a_click_on_the_tray_message_resumes_the_newest_notice(calls: Calls) -> None:
    tray = RecordingTray()
    notifier = Notifier(calls.clicked, calls.button, tray)
    tray.messageClicked.emit()
    assert calls.seen == []
    await notifier.apply([ShowNotice(CRASHED), ShowNotice(OTHER)])
    tray.messageClicked.emit()
    assert calls.seen == [("clicked", OTHER, None)]
    await notifier.apply([CloseNotice(CRASHED.key)])
    tray.messageClicked.emit()
    assert len(calls.seen) == 2
    await notifier.apply([CloseNotice(OTHER.key)])
    tray.messageClicked.emit()
    assert len(calls.seen) == 2


@pytest.mark.usefixtures("no_bus")
async def test_a_failing_callback_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(notice: Notice) -> None:
        raise ValueError(notice.key)

    tray = RecordingTray()
    notifier = Notifier(broken, lambda notice, button: None, tray)
    await notifier.apply([ShowNotice(CRASHED)])
    with caplog.at_level(logging.ERROR, logger="tray.ui.notifier"):
        tray.messageClicked.emit()
    assert "A notification callback failed" in caplog.text
    assert "ValueError: incident-100.0" in caplog.text


@pytest.mark.usefixtures("no_bus")
async def test_without_a_bus_or_a_tray_the_log_has_the_notice(
    calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(calls.clicked, calls.button)
    with caplog.at_level(logging.INFO, logger="tray.ui.notifier"):
        await notifier.apply([ShowNotice(CRASHED)])
    assert "using the log only" in caplog.text
    assert f"{CRASHED.title}: {CRASHED.body.replace(chr(10), ' / ')}" in caplog.text


# -- the virtual desktop itself ------------------------------------------------------------------


@pytest.mark.e2e
def test_the_desktop_comes_up_whole_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with VirtualDesktop(tmp_path, keyring=True) as desk:
        pids = desk.pids
        assert all(desk.has_owner(name) for name in (NOTIFICATIONS, SNI_WATCHER, SECRETS))
        assert desk.tray_host_registered()
        assert desk.env["DISPLAY"] == desk.display
        assert "QT_QPA_PLATFORM" not in desk.env
        runtime = Path(desk.env["XDG_RUNTIME_DIR"])
        assert runtime.is_dir()
    assert len(pids) == 6
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not runtime.exists()


@pytest.mark.e2e
def test_the_desktop_keyring_is_unlocked(tmp_path: Path) -> None:
    script = (
        "from keyring.backends.SecretService import Keyring\n"
        "k = Keyring()\n"
        "k.set_password('opencode-tray', 'server', 's3cret')\n"
        "print(k.get_password('opencode-tray', 'server'))\n"
    )
    with VirtualDesktop(tmp_path, tray=False, notifications=False, keyring=True) as desk:
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=desk.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    assert done.stdout == "s3cret\n"


# -- desktop-notifier, the Windows and macOS way (here against dunst) -----------------------------


@pytest.mark.e2e
async def test_desktop_notifier_clicks_reach_the_notice_shown(
    desk: VirtualDesktop, calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows and macOS replace by identifier, which cannot be tried here (desktop-notifier's
    D-Bus backend always sends a new notification); its click and button handling can."""
    monkeypatch.setattr(notifier_module, "FREEDESKTOP", False)
    notifier = Notifier(calls.clicked, calls.button)
    try:
        await notifier.apply([ShowNotice(CRASHED)])
        assert not notifier.uses_fallback
        pressed = calls.next()
        desk.choose_action(NoticeButton.SHOW_LOG.label)
        assert await pressed == ("button", CRASHED, NoticeButton.SHOW_LOG)
        desk.dunstctl("close-all")
        await notifier.apply([ShowNotice(OTHER)])
        clicked = calls.next()
        desk.click_notification()
        assert await clicked == ("clicked", OTHER, None)
    finally:
        await notifier.aclose()
    assert desk.notification_count() == 0
