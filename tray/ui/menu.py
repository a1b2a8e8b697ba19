"""The app's menu, built anew from each `ViewModel` the view holding it is handed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from tray.core import present
from tray.generations.events import SessionSummary
from tray.ui.view_model import Commands, ViewModel

STATUS_CHARS = 90
RECENT_SHOWN = 10


def _elide(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _recent_label(session: SessionSummary, now_wall: float, stuck: bool = False) -> str:
    project = Path(session.directory).name or session.directory
    ago = present.duration(max(0.0, now_wall - session.updated_ms / 1000))
    marker = "⚠ stuck — " if stuck else ""
    return f"{marker}{_elide(session.title or session.id, 50)} — {project}, {ago} ago"


def contents(model: ViewModel) -> tuple[object, ...]:
    """Everything of `model` that `fill` shows, as it would show it now: a menu whose contents
    are unchanged is not built again (each rebuild sends its whole layout to the panel)."""
    status = model.status
    interrupted = model.interrupted
    now_wall = time.time()
    stuck = set(status.health.stuck_sessions)
    return (
        present.status_line(status),
        model.server_running,
        model.can_resume,
        status.url is not None,
        status.last_worked_in_report,
        interrupted.id if interrupted is not None else None,
        model.start_at_login,
        tuple(
            (session.id, _recent_label(session, now_wall, session.id in stuck))
            for session in model.recent_sessions[:RECENT_SHOWN]
        ),
    )


def fill(menu: QMenu, model: ViewModel, commands: Commands) -> None:
    """Replace the menu's entries with ones that match `model`."""
    menu.clear()
    status = menu.addAction(_elide(present.status_line(model.status), STATUS_CHARS))
    status.setEnabled(False)
    status.setToolTip(present.status_line(model.status))
    menu.addSeparator()
    _add(menu, "Restart server", commands.restart_server)
    if model.server_running:
        _add(menu, "Stop server", commands.stop_server)
    else:
        _add(menu, "Start server", commands.start_server)
    _sessions(menu, model, commands)
    menu.addSeparator()
    _add(menu, "Open in browser", commands.open_in_browser, model.can_resume)
    _add(menu, "Copy server URL", commands.copy_url, model.status.url is not None)
    _add(menu, "Copy password", commands.copy_password)
    _add(menu, "Connect a client…", commands.connect_client)
    menu.addSeparator()
    _add(menu, "Open log folder", commands.open_log_folder)
    _add(menu, "Copy diagnostics", commands.copy_diagnostics)
    menu.addSeparator()
    _add(menu, "Settings…", commands.open_settings)
    login = menu.addAction("Start at login")
    login.setCheckable(True)
    login.setChecked(model.start_at_login)
    login.toggled.connect(commands.set_start_at_login)
    menu.addSeparator()
    _add(menu, "Quit", commands.quit)


def _add(menu: QMenu, text: str, slot: Callable[[], None], enabled: bool = True) -> QAction:
    action = menu.addAction(text)
    action.triggered.connect(slot)
    action.setEnabled(enabled)
    return action


def _sessions(menu: QMenu, model: ViewModel, commands: Commands) -> None:
    """Resume the last session (and continue its turn), or one of the recent ones."""
    last = model.status.last_worked_in_report
    resume_text = "Resume last session"
    if last is not None:
        resume_text += f": {_elide(last.title or last.id, 40)} ({last.condition.label})"
    _add(menu, resume_text, commands.resume_last, model.can_resume)
    interrupted = model.interrupted
    if interrupted is not None:
        _add(
            menu,
            "Continue the interrupted turn",
            lambda: commands.continue_session(interrupted.id),
            model.can_resume,
        )
    recent = menu.addMenu("Recent sessions")
    now_wall = time.time()
    stuck = set(model.status.health.stuck_sessions)
    for session in model.recent_sessions[:RECENT_SHOWN]:
        action = recent.addAction(_recent_label(session, now_wall, session.id in stuck))
        action.triggered.connect(lambda _=False, sid=session.id: commands.resume(sid))
        action.setEnabled(model.can_resume)
    if not model.recent_sessions:
        recent.addAction("No sessions yet").setEnabled(False)
