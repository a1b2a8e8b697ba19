"""Every menu entry does what it says, and the menu follows the state (offscreen)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from tests.factories import crashed_status, make_status
from tray.core.resume import Condition, SessionReport, SessionSummary
from tray.core.status import State
from tray.ui import menu
from tray.ui.status_window import StatusWindow
from tray.ui.tray_icon import TrayIcon
from tray.ui.view_model import ViewModel


class Recorder:
    """A `Commands` that writes down what was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def _note(self, name: str, arg: object = None) -> None:
        self.calls.append((name, arg))

    def restart_server(self) -> None:
        self._note("restart_server")

    def stop_server(self) -> None:
        self._note("stop_server")

    def start_server(self) -> None:
        self._note("start_server")

    def resume_last(self) -> None:
        self._note("resume_last")

    def resume(self, session_id: str) -> None:
        self._note("resume", session_id)

    def continue_session(self, session_id: str) -> None:
        self._note("continue_session", session_id)

    def open_in_browser(self) -> None:
        self._note("open_in_browser")

    def copy_url(self) -> None:
        self._note("copy_url")

    def copy_password(self) -> None:
        self._note("copy_password")

    def open_log_folder(self) -> None:
        self._note("open_log_folder")

    def copy_diagnostics(self) -> None:
        self._note("copy_diagnostics")

    def open_settings(self) -> None:
        self._note("open_settings")

    def set_start_at_login(self, enabled: bool) -> None:
        self._note("set_start_at_login", enabled)

    def quit(self) -> None:
        self._note("quit")


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


def test_the_menu_is_rebuilt_when_it_is_about_to_show(qapp: object) -> None:
    models = [ViewModel(make_status()), ViewModel(make_status(State.STOPPED))]
    icon = TrayIcon(Recorder(), lambda: models[0])
    assert "Stop server" in _actions(icon.menu)
    models[0] = models[1]
    icon.menu.aboutToShow.emit()
    assert "Start server" in _actions(icon.menu)
    icon.refresh()  # what a published status does
    assert icon.icon.toolTip() == (
        "opencode: Stopped by you\nhttp://127.0.0.1:4096 (opencode 1.18.33)"
    )


def test_the_status_window_stands_in_for_the_tray(qapp: object) -> None:
    recorder = Recorder()
    window = StatusWindow(recorder, lambda: ViewModel(crashed_status()))
    window.stand_in_for_the_tray()
    window.show()
    assert window.notice.isVisible()
    window.restart_button.click()
    window.start_stop_button.click()
    assert recorder.calls == [("restart_server", None), ("stop_server", None)]
    window.close()
    assert not window.isVisible(), "closing hides: the app keeps supervising"
