"""The views are handed fresh models: their times stay current while they are shown, and the
app does not wake up for them while nothing is shown (offscreen: no tray)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from tests.factories import make_status
from tests.ui.test_menu import Recorder
from tray.core.status import State, Status
from tray.shell.views import VISIBLE_TICK_S, Views
from tray.ui.view_model import ViewModel


async def test_the_status_window_keeps_its_times_current_while_shown(qtbot: QtBot) -> None:
    clock = {"now": 1000.0}  # connected since 880: up 2 min
    views = Views(lambda: ViewModel(make_status(now=clock["now"])))
    await views.show(Recorder(), wait_for_tray_s=0.0)
    window = views.window
    assert window is not None, "no tray offscreen: the window stands in"
    details = window.findChild(QLabel, "details")
    assert isinstance(details, QLabel)
    assert "Up 2 min" in details.text().split("\n")
    assert views.tick_s == VISIBLE_TICK_S

    clock["now"] += 5
    qtbot.waitUntil(lambda: "Up 2 min 5 s" in details.text().split("\n"), timeout=10_000)

    window.hide()
    assert views.tick_s is None, "nothing shown: no wakeups for the views"
    clock["now"] += 60
    window.show()
    assert "Up 3 min 5 s" in details.text().split("\n"), "fresh as soon as it shows again"
    window.hide()


@pytest.mark.parametrize("state", [State.STOPPED, State.FAILED])
async def test_a_hidden_window_without_a_tray_is_not_fed(qtbot: QtBot, state: State) -> None:
    views = Views(lambda: ViewModel(make_status(state)))
    await views.show(Recorder(), wait_for_tray_s=0.0)
    assert views.window is not None
    views.window.hide()
    views.refresh()
    assert views.tick_s is None


@pytest.mark.parametrize(
    ("status", "changes_in"),
    [
        (make_status(now=1005.0), 55.0),  # up 2 min 5 s: "Up 2 min" until 3 min
        (make_status(now=890.0), 10.0),  # up 10 s
        (make_status(State.CRASHED, next_retry_at=1003.0), 1.0),  # a countdown
        (make_status(State.STOPPED, ready_at=None), None),
        (make_status(State.FAILED, ready_at=None), None),
    ],
)
def test_the_tooltip_is_fed_only_when_its_text_moves(
    status: Status, changes_in: float | None
) -> None:
    assert ViewModel(status).tooltip_changes_in() == pytest.approx(changes_in)
