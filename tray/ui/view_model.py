"""What the views show and what they may ask for: data in, commands out.

Views (tray icon, menu, status window) are handed a `ViewModel` and call `Commands`; they never
reach the engine, the OS, processes or HTTP themselves, and never ask for data: it is pushed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tray.core import present
from tray.core.resume import Condition, SessionReport
from tray.core.status import State, Status
from tray.generations.events import SessionSummary

STUCK_TICK_S = 10.0  # a stuck turn's "no event for N" in the tooltip


@dataclass(frozen=True)
class ViewModel:
    """One status with what goes beside it: the recent sessions and whether the app starts at
    login (as the app last set or read it)."""

    status: Status
    recent_sessions: tuple[SessionSummary, ...] = ()
    start_at_login: bool = False

    @property
    def server_running(self) -> bool:
        return self.status.state not in (State.STOPPED, State.FAILED)

    @property
    def can_resume(self) -> bool:
        return self.status.state is State.CONNECTED

    @property
    def interrupted(self) -> SessionReport | None:
        """The session last worked in, when the server died in the middle of its turn."""
        last = self.status.last_worked_in_report
        return last if last is not None and last.condition is Condition.INTERRUPTED else None

    @property
    def counting_down(self) -> bool:
        """A retry is due: the texts count down the seconds to it."""
        return self.status.next_retry_at is not None

    def tooltip_changes_in(self) -> float | None:
        """Seconds until the tooltip's text moves on by itself (a countdown, a stuck turn's
        silence, the coarse uptime), or None while it stays as it is."""
        status = self.status
        if self.counting_down:
            return 1.0
        if status.health.stuck:
            return STUCK_TICK_S
        if status.state is State.CONNECTED and status.uptime_s is not None:
            return present.coarse_uptime_changes_in(status.uptime_s)
        return None


class Commands(Protocol):
    def restart_server(self) -> None: ...
    def stop_server(self) -> None: ...
    def start_server(self) -> None: ...
    def resume_last(self) -> None: ...
    def resume(self, session_id: str) -> None: ...
    def continue_session(self, session_id: str) -> None: ...
    def open_in_browser(self) -> None: ...
    def copy_url(self) -> None: ...
    def copy_password(self) -> None: ...
    def connect_client(self) -> None: ...
    def open_log_folder(self) -> None: ...
    def copy_diagnostics(self) -> None: ...
    def open_settings(self) -> None: ...
    def set_start_at_login(self, enabled: bool) -> None: ...
    def quit(self) -> None: ...
