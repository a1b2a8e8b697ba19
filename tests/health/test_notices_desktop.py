"""The health notices in a real notification daemon (dunst on a virtual desktop): a stuck turn
with Abort and Resume, an update with Update and restart; each button reaches the app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.desktop import VirtualDesktop, keep_for_readme
from tests.factories import make_status
from tests.ui.test_notifier import Calls, _dunst_window_shown
from tray.core.notify_policy import Notice, NoticeButton, NotifyPolicy, ShowNotice
from tray.core.server_health import HealthStatus, StuckTurn
from tray.core.settings import Settings
from tray.core.status import Status
from tray.ui.notifier import Notifier

pytestmark = pytest.mark.e2e

STUCK = make_status(now=1000.0, health=HealthStatus(stuck=(StuckTurn("ses_3f2a9c1b7e", 280.0),)))
UPDATE = make_status(version="1.18.33", health=HealthStatus(update_available="1.19.0"))


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VirtualDesktop]:
    with VirtualDesktop(tmp_path / "desk", tray=False) as desk:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", desk.bus_address)
        yield desk


@pytest.fixture
async def notifier(desk: VirtualDesktop) -> AsyncIterator[tuple[Notifier, Calls]]:
    calls = Calls()
    notifier = Notifier(calls.clicked, calls.button)
    yield notifier, calls
    await notifier.aclose()


def _notice(status: Status) -> Notice:
    decision = NotifyPolicy().decide(status, Settings(), status.now, None)
    [action] = decision.actions
    assert isinstance(action, ShowNotice)
    return action.notice


@pytest.mark.parametrize(
    ("status", "button", "shot"),
    [
        pytest.param(STUCK, NoticeButton.ABORT, "stuck-turn.png", id="stuck-abort"),
        pytest.param(STUCK, NoticeButton.RESUME, "stuck-turn.png", id="stuck-resume"),
        pytest.param(UPDATE, NoticeButton.UPDATE_AND_RESTART, "update.png", id="update"),
    ],
)
async def test_a_health_notice_shows_and_its_button_reaches_the_app(
    notifier: tuple[Notifier, Calls],
    desk: VirtualDesktop,
    status: Status,
    button: NoticeButton,
    shot: str,
) -> None:
    shower, calls = notifier
    notice = _notice(status)
    await shower.apply([ShowNotice(notice)])
    desk.wait_for(lambda: _dunst_window_shown(desk), "dunst to draw the notification")
    keep_for_readme(desk.screenshot(desk.workdir / shot))
    assert desk.notification_count() == 1
    pressed = calls.next()
    desk.choose_action(button.label)
    assert await pressed == ("button", notice, button)
