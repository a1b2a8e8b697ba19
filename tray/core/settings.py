"""The user's settings: plain values with defaults, and the supervisor policy they imply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from tray.core.supervisor import Policy

DEFAULT_PORT = 4096


class ResumeTarget(Enum):
    BROWSER = "browser"
    TERMINAL = "terminal"


@dataclass(frozen=True)
class Settings:
    # server
    opencode_path: str = ""  # empty: `opencode` on PATH, else the project-local install
    port: int = DEFAULT_PORT  # 0: any free port
    working_directory: str = ""  # empty: the user's home
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # timeouts, seconds
    startup_timeout_s: float = 60.0
    heartbeat_timeout_s: float = 25.0
    reconnect_max_s: float = 30.0
    restart_backoff_min_s: float = 1.0
    restart_backoff_max_s: float = 60.0
    crash_loop_limit: int = 5
    crash_loop_window_s: float = 300.0
    hung_restart_after_s: float = 60.0
    stop_grace_s: float = 5.0
    notification_grace_s: float = 5.0
    # behaviour
    start_server_with_app: bool = True
    start_at_login: bool = False
    notify_incidents: bool = True
    notify_recovered: bool = True
    notify_session_finished: bool = False
    resume_target: ResumeTarget = ResumeTarget.BROWSER
    terminal_command: str = ""  # empty: the platform's terminal

    def needs_restart(self, previous: Settings) -> bool:
        """Whether going from `previous` to these settings only takes effect after a restart."""
        return any(getattr(self, name) != getattr(previous, name) for name in _LAUNCH_FIELDS)

    def policy(self) -> Policy:
        return Policy(
            startup_timeout_s=self.startup_timeout_s,
            heartbeat_timeout_s=self.heartbeat_timeout_s,
            reconnect_max_s=self.reconnect_max_s,
            restart_min_s=self.restart_backoff_min_s,
            restart_max_s=self.restart_backoff_max_s,
            crash_loop_limit=self.crash_loop_limit,
            crash_loop_window_s=self.crash_loop_window_s,
            hung_restart_after_s=self.hung_restart_after_s,
            stop_grace_s=self.stop_grace_s,
        )


# What the server process is started with; the rest applies at once.
_LAUNCH_FIELDS = ("opencode_path", "port", "working_directory", "extra_env")
