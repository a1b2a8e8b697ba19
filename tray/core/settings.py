"""The user's settings, each declared once, and the supervisor policy they imply.

To add a setting, add one field to `Settings` below, `name: type = setting(default, Setting(...))`,
and use it (`settings.name`). Its type says its kind (str, int, float seconds, bool, an Enum,
Mapping[str, str]); the `Setting` says where it lives in the file, its dialog box and label, its
help line, its range, and whether the server must restart for it. The settings file
(`tray/settings/file.py`), the dialog (`tray/ui/settings_dialog.py`), `needs_restart` and the
value checks are all generated from these fields; `tests/core/test_settings.py` checks a new one.
A setting whose group is Advanced shows on the dialog's Advanced page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import get_type_hints

from tray.core.server_health import HealthPolicy
from tray.core.setting import (
    DECLARATION,
    RESERVED_ENV,
    Browse,
    Group,
    Section,
    Setting,
    kind_of,
    setting,
)
from tray.core.supervisor import Policy

DEFAULT_PORT = 4096
MAX_PORT = 65535
MAX_CRASH_LOOP_LIMIT = 1000
MAX_MEMORY_MB = 1024 * 1024
HEARTBEAT_INTERVAL_S = 10.0  # the server sends a heartbeat event this often


class ResumeTarget(Enum):
    BROWSER = "browser"
    TERMINAL = "terminal"


@dataclass(frozen=True)
class Settings:
    """Every setting with its default; the file writes them section by section in this order,
    the dialog box by box (`Group`'s order) in this order."""

    opencode_path: str = setting(
        "",
        Setting(
            Section.SERVER,
            Group.SERVER,
            "opencode binary",
            "The opencode binary; empty: `opencode` on PATH, else the project-local install.",
            restart=True,
            placeholder="opencode on PATH, else the project-local install",
            browse=Browse.FILE,
        ),
    )
    port: int = setting(
        DEFAULT_PORT,
        Setting(
            Section.SERVER,
            Group.SERVER,
            "Port",
            "Port the server listens on (127.0.0.1 only); 0: any free port.",
            maximum=MAX_PORT,
            restart=True,
            note="0: any free port",
        ),
    )
    front_door: bool = setting(
        True,
        Setting(
            Section.SERVER,
            Group.SERVER,
            "Front door: clients keep their connection while the server restarts",
            "The app listens on the port and runs the server on a private one behind it; off: "
            "the server listens on the port itself.",
            restart=True,
            called="the front door",
        ),
    )
    working_directory: str = setting(
        "",
        Setting(
            Section.SERVER,
            Group.SERVER,
            "Working folder",
            "Folder the server runs in; empty: your home folder.",
            restart=True,
            placeholder="your home folder",
            browse=Browse.FOLDER,
        ),
    )
    extra_env: Mapping[str, str] = setting(
        {},
        Setting(
            Section.SERVER,
            Group.SERVER,
            "Extra environment",
            f'Extra environment for the server, NAME = "value"; not {RESERVED_ENV} '
            "(the app sets it).",
            key="env",
            restart=True,
            note="One NAME=value per line.",
            placeholder="NAME=value, one per line",
        ),
    )
    startup_timeout_s: float = setting(
        60.0,
        Setting(
            Section.TIMEOUTS,
            Group.PROCESS,
            "Startup timeout",
            "Seconds the server may take to start and answer before it counts as failed.",
            above_minimum=True,
        ),
    )
    keyring_timeout_s: float = setting(
        60.0,
        Setting(
            Section.TIMEOUTS,
            Group.PROCESS,
            "Keyring wait",
            "Seconds to wait for the keyring (it may be asking you to unlock it) before the "
            "server starts with a password for this run only.",
            above_minimum=True,
        ),
    )
    heartbeat_timeout_s: float = setting(
        25.0,
        Setting(
            Section.TIMEOUTS,
            Group.CONNECTION,
            "Stalled after silence of",
            "Seconds without any event before the connection counts as stalled; more than 10.",
            minimum=HEARTBEAT_INTERVAL_S,
            above_minimum=True,
            reason=f"the server sends a heartbeat every {HEARTBEAT_INTERVAL_S:g} s",
        ),
    )
    reconnect_max_s: float = setting(
        30.0,
        Setting(
            Section.TIMEOUTS,
            Group.CONNECTION,
            "Longest reconnect wait",
            "Longest wait between two attempts to reconnect to the server.",
            above_minimum=True,
        ),
    )
    restart_backoff_min_s: float = setting(
        1.0,
        Setting(
            Section.TIMEOUTS,
            Group.RESTARTS,
            "First restart after",
            "Wait before the first automatic restart after a crash; doubles with each crash.",
            above_minimum=True,
        ),
    )
    restart_backoff_max_s: float = setting(
        60.0,
        Setting(
            Section.TIMEOUTS,
            Group.RESTARTS,
            "Longest restart wait",
            "Longest wait between two automatic restarts.",
            above_minimum=True,
        ),
    )
    crash_loop_limit: int = setting(
        5,
        Setting(
            Section.TIMEOUTS,
            Group.RESTARTS,
            "Stop restarting after",
            "This many crashes within crash_loop_window_s stop the automatic restarts.",
            minimum=1,
            maximum=MAX_CRASH_LOOP_LIMIT,
            unit="crashes",
        ),
    )
    crash_loop_window_s: float = setting(
        300.0,
        Setting(
            Section.TIMEOUTS,
            Group.RESTARTS,
            "Crashes counted within",
            "The window, in seconds, in which crash_loop_limit crashes count as a crash loop.",
            above_minimum=True,
        ),
    )
    hung_restart_after_s: float = setting(
        60.0,
        Setting(
            Section.TIMEOUTS,
            Group.CONNECTION,
            "Restart a hung server after",
            "Seconds a server that runs but does not answer gets before it is restarted.",
            above_minimum=True,
        ),
    )
    memory_limit_mb: int = setting(
        8192,
        Setting(
            Section.BEHAVIOUR,
            Group.RESTARTS,
            "Restart the server above",
            "Restart the server when its processes use more than this many MB of memory, at the "
            "next moment no session is busy; 0: never.",
            maximum=MAX_MEMORY_MB,
            unit="MB",
            note="0: never",
        ),
    )
    memory_grace_s: float = setting(
        900.0,
        Setting(
            Section.TIMEOUTS,
            Group.RESTARTS,
            "Busy sessions may delay that for",
            "Seconds a restart for memory waits for busy sessions to finish; then it goes ahead.",
        ),
    )
    request_hang_s: float = setting(
        60.0,
        Setting(
            Section.TIMEOUTS,
            Group.CONNECTION,
            "Restart when a request hangs for",
            "Seconds a health request may go unanswered while the event stream goes on before "
            "the server counts as wedged and is restarted.",
            above_minimum=True,
        ),
    )
    health_interval_s: float = setting(
        30.0,
        Setting(
            Section.TIMEOUTS,
            Group.CONNECTION,
            "Check memory and requests every",
            "Seconds between two looks at the server's memory, a health request and the binary.",
            above_minimum=True,
        ),
    )
    stop_grace_s: float = setting(
        5.0,
        Setting(
            Section.TIMEOUTS,
            Group.PROCESS,
            "Time to exit before a kill",
            "Seconds the server gets to exit on its own before it is killed.",
        ),
    )
    start_server_with_app: bool = setting(
        True,
        Setting(
            Section.BEHAVIOUR,
            Group.STARTUP,
            "Start the server with the app",
            "Start the server when the app starts.",
        ),
    )
    start_at_login: bool = setting(
        False,
        Setting(
            Section.BEHAVIOUR,
            Group.STARTUP,
            "Start at login",
            "Start the app when you log in.",
        ),
    )
    notify_incidents: bool = setting(
        True,
        Setting(
            Section.BEHAVIOUR,
            Group.NOTIFICATIONS,
            "Notify when the server disconnects or crashes",
            "Notify when the server disconnects or crashes.",
        ),
    )
    notify_recovered: bool = setting(
        True,
        Setting(
            Section.BEHAVIOUR,
            Group.NOTIFICATIONS,
            "Notify when the server has recovered",
            "Notify when the server is back.",
        ),
    )
    notify_session_finished: bool = setting(
        False,
        Setting(
            Section.BEHAVIOUR,
            Group.NOTIFICATIONS,
            "Notify about sessions that finished while disconnected",
            "Notify about sessions that finished while the app was disconnected.",
        ),
    )
    notification_grace_s: float = setting(
        5.0,
        Setting(
            Section.TIMEOUTS,
            Group.NOTIFICATIONS,
            "Wait before notifying",
            "Seconds a disconnection may last before it is notified "
            "(a quick recovery stays quiet).",
        ),
    )
    stuck_after_s: float = setting(
        600.0,
        Setting(
            Section.TIMEOUTS,
            Group.NOTIFICATIONS,
            "A busy turn is stuck after",
            "Seconds a busy session may go without any event before it is called stuck and "
            "you are offered to abort it.",
            above_minimum=True,
        ),
    )
    resume_target: ResumeTarget = setting(
        ResumeTarget.BROWSER,
        Setting(
            Section.BEHAVIOUR,
            Group.RESUME,
            "Resume sessions in",
            "Where Resume opens a session: "
            + " or ".join(f'"{target.value}"' for target in ResumeTarget)
            + ".",
        ),
    )
    terminal_command: str = setting(
        "",
        Setting(
            Section.BEHAVIOUR,
            Group.RESUME,
            "Terminal command",
            "Terminal to resume sessions in; empty: the platform's terminal.",
            placeholder="the platform's terminal",
        ),
    )

    def needs_restart(self, previous: Settings) -> bool:
        """Whether going from `previous` to these settings only takes effect after a restart."""
        return bool(self.restart_changes(previous))

    def restart_changes(self, previous: Settings) -> list[Setting]:
        """The settings that differ from `previous` and reach the server only when it restarts."""
        return [
            declared
            for name, declared in SETTINGS.items()
            if declared.restart and getattr(self, name) != getattr(previous, name)
        ]

    def health_policy(self) -> HealthPolicy:
        return HealthPolicy(
            memory_limit_mb=self.memory_limit_mb,
            memory_grace_s=self.memory_grace_s,
            stuck_after_s=self.stuck_after_s,
            request_hang_s=self.request_hang_s,
            interval_s=self.health_interval_s,
        )

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


def validate(name: str, value: object) -> str | None:
    """Why `value` cannot be the setting `name` ("must be ..."), or None when it can."""
    return SETTINGS[name].problem(value)


def problems(settings: Settings) -> dict[str, str]:
    """Every field of `settings` that breaks its rule, with the reason."""
    found = {name: validate(name, getattr(settings, name)) for name in SETTINGS}
    return {name: problem for name, problem in found.items() if problem}


def _declarations() -> dict[str, Setting]:
    """Each field's `Setting`, completed with what the field itself says."""
    hints = get_type_hints(Settings)
    defaults = Settings()
    table: dict[str, Setting] = {}
    for each in fields(Settings):
        declared: Setting = each.metadata[DECLARATION]
        kind, choices = kind_of(hints[each.name])
        table[each.name] = replace(
            declared,
            name=each.name,
            key=declared.key or each.name,
            kind=kind,
            default=getattr(defaults, each.name),
            choices=choices,
        )
    return table


SETTINGS: dict[str, Setting] = _declarations()  # by field name, in declaration order
