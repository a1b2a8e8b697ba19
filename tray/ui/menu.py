"""The app's menu, built anew from each `ViewModel` the view holding it is handed.

`layout(model)` says what the menu shows, as plain data; `fill` builds a `QMenu` from it. A view
compares layouts to build a menu again only when it changes (each rebuild sends its whole layout
to the panel).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtWidgets import QMenu

from tray.core import present
from tray.generations.events import SessionSummary
from tray.ui.view_model import Commands, ViewModel

STATUS_CHARS = 90
RECENT_SHOWN = 10


@dataclass(frozen=True)
class Entry:
    """One menu entry. `slot` picks the command it runs; a checkable entry's command takes the
    new state. Entries compare by what they show and the session they act on."""

    text: str
    slot: Callable[[Commands], Callable[..., None]] | None = field(default=None, compare=False)
    enabled: bool = True
    tooltip: str | None = None
    session: str | None = None
    checked: bool | None = None  # None: not checkable


@dataclass(frozen=True)
class Submenu:
    title: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Separator:
    pass


SEPARATOR = Separator()
Item = Entry | Submenu | Separator


def _elide(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _recent_label(session: SessionSummary, now_wall: float, stuck: bool = False) -> str:
    project = Path(session.directory).name or session.directory
    ago = present.duration(max(0.0, now_wall - session.updated_ms / 1000))
    marker = "⚠ stuck — " if stuck else ""
    return f"{marker}{_elide(session.title or session.id, 50)} — {project}, {ago} ago"


def layout(model: ViewModel) -> tuple[Item, ...]:
    """What the menu shows for `model`, in order."""
    status_line = present.status_line(model.status)
    running = model.server_running
    return (
        Entry(_elide(status_line, STATUS_CHARS), enabled=False, tooltip=status_line),
        SEPARATOR,
        Entry("Restart server", lambda c: c.restart_server),
        Entry("Stop server", lambda c: c.stop_server)
        if running
        else Entry("Start server", lambda c: c.start_server),
        *_sessions(model),
        SEPARATOR,
        Entry("Open in browser", lambda c: c.open_in_browser, model.can_resume),
        Entry("Copy server URL", lambda c: c.copy_url, model.status.url is not None),
        Entry("Copy password", lambda c: c.copy_password),
        Entry("Connect a client…", lambda c: c.connect_client),
        SEPARATOR,
        Entry("Open log folder", lambda c: c.open_log_folder),
        Entry("Copy diagnostics", lambda c: c.copy_diagnostics),
        SEPARATOR,
        Entry("Settings…", lambda c: c.open_settings),
        Entry("Start at login", lambda c: c.set_start_at_login, checked=model.start_at_login),
        SEPARATOR,
        Entry("Quit", lambda c: c.quit),
    )


def _sessions(model: ViewModel) -> tuple[Item, ...]:
    """Resume the last session (and continue its turn), or one of the recent ones."""
    last = model.status.last_worked_in_report
    resume_text = "Resume last session"
    if last is not None:
        resume_text += f": {_elide(last.title or last.id, 40)} ({last.condition.label})"
    items: list[Item] = [Entry(resume_text, lambda c: c.resume_last, model.can_resume)]
    interrupted = model.interrupted
    if interrupted is not None:
        sid = interrupted.id
        items.append(
            Entry(
                "Continue the interrupted turn",
                lambda c: lambda: c.continue_session(sid),
                model.can_resume,
                session=sid,
            )
        )
    items.append(Submenu("Recent sessions", _recent(model)))
    return tuple(items)


def _recent(model: ViewModel) -> tuple[Entry, ...]:
    if not model.recent_sessions:
        return (Entry("No sessions yet", enabled=False),)
    now_wall = time.time()
    stuck = set(model.status.health.stuck_sessions)
    return tuple(
        Entry(
            _recent_label(session, now_wall, session.id in stuck),
            _resume(session.id),
            model.can_resume,
            session=session.id,
        )
        for session in model.recent_sessions[:RECENT_SHOWN]
    )


def _resume(session_id: str) -> Callable[[Commands], Callable[[], None]]:
    return lambda commands: lambda: commands.resume(session_id)


def fill(menu: QMenu, model: ViewModel, commands: Commands) -> None:
    """Replace the menu's entries with ones that match `model`."""
    show_layout(menu, layout(model), commands)


def show_layout(menu: QMenu, items: tuple[Item, ...], commands: Commands) -> None:
    """Replace the menu's entries with `items`."""
    menu.clear()
    _add_items(menu, items, commands)


def _add_items(menu: QMenu, items: tuple[Item, ...], commands: Commands) -> None:
    for item in items:
        if isinstance(item, Separator):
            menu.addSeparator()
        elif isinstance(item, Submenu):
            _add_items(menu.addMenu(item.title), item.entries, commands)
        else:
            _add(menu, item, commands)


def _add(menu: QMenu, entry: Entry, commands: Commands) -> None:
    action = menu.addAction(entry.text)
    action.setEnabled(entry.enabled)
    if entry.tooltip is not None:
        action.setToolTip(entry.tooltip)
    slot = entry.slot(commands) if entry.slot is not None else None
    if entry.checked is not None:
        action.setCheckable(True)
        action.setChecked(entry.checked)
        if slot is not None:
            action.toggled.connect(slot)
    elif slot is not None:
        action.triggered.connect(slot)
