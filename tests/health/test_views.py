"""What people see of the server's health: the menu marks a stuck session, the tooltip and the
status window show memory, stuck turns, a restart waiting for idle and updates (offscreen)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMenu

from tests.factories import make_status
from tests.ui.test_menu import RECENT, Recorder
from tray.core import causes, present
from tray.core.server_health import HealthStatus, StuckTurn
from tray.ui import menu
from tray.ui.status_window import StatusWindow
from tray.ui.view_model import ViewModel

HEALTH = HealthStatus(
    memory_mb=850.0,
    memory_peak_mb=1200.0,
    memory_limit_mb=8192,
    stuck=(StuckTurn("ses_1", 400.0),),
    update_available="1.19.0",
    pending_restart=causes.binary_updated("1.18.33", "1.18.34", "/usr/bin/opencode"),
)
SHOWN = [
    "Memory 850 MB (peak 1.2 GB, limit 8 GB)",
    "Session ses_1 stuck: busy with no event for 10 min",
    "Restart when no session is busy: opencode 1.18.34 is on disk (running 1.18.33)",
    "opencode 1.19.0 is available",
]


def _recent_entries(model: ViewModel) -> list[str]:
    target = QMenu()
    menu.fill(target, model, Recorder())
    [recent] = [a for a in target.actions() if a.text() == "Recent sessions"]
    submenu = recent.menu()
    assert isinstance(submenu, QMenu)
    return [a.text() for a in submenu.actions()]


def test_the_menu_marks_a_stuck_session(qapp: object) -> None:
    stuck = ViewModel(make_status(health=HEALTH), recent_sessions=RECENT)
    [entry] = _recent_entries(stuck)
    assert entry.startswith("⚠ stuck — Fix the parser — proj, ")
    [plain] = _recent_entries(ViewModel(make_status(), recent_sessions=RECENT))
    assert plain.startswith("Fix the parser — proj, ")


def test_the_tooltip_and_the_status_window_show_the_health(qapp: object) -> None:
    status = make_status(health=HEALTH)
    assert present.tooltip(status).splitlines()[-4:] == SHOWN
    window = StatusWindow(Recorder(), ViewModel(status))
    window.show_model(ViewModel(status))
    details = window.findChild(QLabel, "details")
    assert isinstance(details, QLabel)
    assert details.text().splitlines()[-4:] == SHOWN
