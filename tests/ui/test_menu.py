"""Every menu entry does what it says, and the menu follows the state (offscreen)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from tests.factories import crashed_status, make_status
from tray.core.resume import Condition, SessionReport
from tray.core.server_health import HealthStatus
from tray.core.status import State
from tray.generations.events import SessionSummary
from tray.ui import menu
from tray.ui.status_window import StatusWindow
from tray.ui.tray_icon import TrayIcon
from tray.ui.view_model import Commands, ViewModel


class Recorder:
    """A `Commands` that writes down what was asked: any command, with its argument if any."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        """The command `name` of `Commands`, taking what it takes (Qt passes a signal's
        arguments only to a slot that accepts them)."""
        if name.startswith("_"):
            raise AttributeError(name)
        if len(inspect.signature(getattr(Commands, name)).parameters) > 1:
            return lambda arg: self.calls.append((name, arg))
        return lambda: self.calls.append((name, None))


RECENT = (SessionSummary("ses_1", "Fix the parser", "/home/u/proj", 1_700_000_000_000.0),)
INTERRUPTED = SessionReport("ses_1", "Fix the parser", "/home/u/proj", Condition.INTERRUPTED)


def _actions(target: QMenu) -> dict[str, QAction]:
    return {a.text(): a for a in target.actions() if not a.isSeparator()}


def _filled(model: ViewModel) -> tuple[QMenu, Recorder]:
    target, recorder = QMenu(), Recorder()
    menu.fill(target, model, recorder)
    return target, recorder


@pytest.mark.parametrize(
    ("label", "call"),
    [
        ("Restart server", ("restart_server", None)),
        ("Stop server", ("stop_server", None)),
        ("Resume last session", ("resume_last", None)),
        ("Open in browser", ("open_in_browser", None)),
        ("Copy server URL", ("copy_url", None)),
        ("Copy password", ("copy_password", None)),
        ("Connect a client…", ("connect_client", None)),
        ("Open log folder", ("open_log_folder", None)),
        ("Copy diagnostics", ("copy_diagnostics", None)),
        ("Settings…", ("open_settings", None)),
        ("Start at login", ("set_start_at_login", True)),
        ("Quit", ("quit", None)),
    ],
)
def test_each_entry_sends_its_command(qapp: object, label: str, call: tuple[str, object]) -> None:
    target, recorder = _filled(ViewModel(make_status()))
    _actions(target)[label].trigger()
    assert recorder.calls == [call]


def test_status_line_is_first_and_disabled(qapp: object) -> None:
    target, _ = _filled(ViewModel(crashed_status()))
    first = target.actions()[0]
    assert first.text() == "Crashed, restarting in 4 s (attempt 2): server killed by SIGKILL: boom"
    assert not first.isEnabled()


def test_a_stopped_server_offers_start_and_cannot_resume(qapp: object) -> None:
    target, recorder = _filled(ViewModel(make_status(State.STOPPED)))
    entries = _actions(target)
    assert "Stop server" not in entries
    entries["Start server"].trigger()
    assert recorder.calls == [("start_server", None)]
    assert not entries["Resume last session"].isEnabled()
    assert not entries["Open in browser"].isEnabled()


def test_recent_sessions_resume_the_one_picked(qapp: object) -> None:
    target, recorder = _filled(ViewModel(make_status(), recent_sessions=RECENT))
    submenu = _actions(target)["Recent sessions"].menu()
    assert isinstance(submenu, QMenu)
    (entry,) = submenu.actions()
    assert entry.text().startswith("Fix the parser — proj, ")
    entry.trigger()
    assert recorder.calls == [("resume", "ses_1")]


def test_no_sessions_yet(qapp: object) -> None:
    target, _ = _filled(ViewModel(make_status()))
    submenu = _actions(target)["Recent sessions"].menu()
    assert isinstance(submenu, QMenu)
    assert [(a.text(), a.isEnabled()) for a in submenu.actions()] == [("No sessions yet", False)]


def test_an_interrupted_session_is_shown_as_such_and_offers_continue(qapp: object) -> None:
    target, recorder = _filled(ViewModel(make_status(last_worked_in_report=INTERRUPTED)))
    entries = _actions(target)
    assert "Resume last session: Fix the parser (interrupted)" in entries
    entries["Continue the interrupted turn"].trigger()
    assert recorder.calls == [("continue_session", "ses_1")]


def test_the_tray_shows_the_model_pushed_and_asks_for_a_fresh_one_when_its_menu_opens(
    qapp: object,
) -> None:
    icon = TrayIcon(Recorder(), ViewModel(make_status()))
    assert "Stop server" in _actions(icon.menu)
    icon.menu_opening.connect(lambda: icon.show_model(ViewModel(make_status(State.STOPPED))))
    icon.menu.aboutToShow.emit()
    assert "Start server" in _actions(icon.menu)
    assert icon.icon.toolTip() == (
        "opencode: Stopped by you\nhttp://127.0.0.1:4096 (opencode 1.18.33)"
    )


def test_the_status_window_stands_in_for_the_tray(qapp: object) -> None:
    recorder = Recorder()
    window = StatusWindow(recorder, ViewModel(crashed_status()))
    window.stand_in_for_the_tray()
    window.show()
    assert window.notice.isVisible()
    window.restart_button.click()
    window.start_stop_button.click()
    assert recorder.calls == [("restart_server", None), ("stop_server", None)]
    window.close()
    assert not window.isVisible(), "closing hides: the app keeps supervising"


def test_the_menu_is_built_again_only_when_what_it_shows_changed(qapp: object) -> None:
    """A new memory reading (every health check) changes the tooltip, not the menu: the menu's
    layout is not sent to the panel again for it."""
    icon = TrayIcon(Recorder(), ViewModel(make_status()))
    first = list(icon.menu.actions())
    icon.show_model(ViewModel(make_status(health=HealthStatus(memory_mb=321.0))))
    assert list(icon.menu.actions()) == first
    assert "Memory 321 MB" in icon.icon.toolTip()
    icon.show_model(ViewModel(make_status(State.STOPPED)))
    assert list(icon.menu.actions()) != first
    assert "Start server" in _actions(icon.menu)
