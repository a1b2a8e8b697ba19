"""What the views show and what they may ask for: data in, commands out.

Views (tray icon, status window) get a `ViewModel` and call `Commands`; they never reach the
engine, processes or HTTP themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tray.core.resume import Condition, SessionReport, SessionSummary
from tray.core.status import State, Status


@dataclass(frozen=True)
class ViewModel:
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
        """The last session, when the server died in the middle of its turn."""
        last = self.status.last_worked_in_report
        return last if last is not None and last.condition is Condition.INTERRUPTED else None


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
    def open_log_folder(self) -> None: ...
    def copy_diagnostics(self) -> None: ...
    def open_settings(self) -> None: ...
    def set_start_at_login(self, enabled: bool) -> None: ...
    def quit(self) -> None: ...
