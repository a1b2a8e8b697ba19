"""'Copy diagnostics': what a bug report needs, with every secret removed."""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from datetime import datetime

import PySide6

from tray import __version__
from tray.core import present
from tray.core.settings import Settings
from tray.core.status import Status

_SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "KEY", "AUTH")


def _redacted_env(env: Mapping[str, str]) -> dict[str, str]:
    return {
        k: "«redacted»" if any(w in k.upper() for w in _SECRET_WORDS) else v for k, v in env.items()
    }


def build(
    status: Status,
    settings: Settings,
    server_output: Iterable[str],
    wall: Callable[[float], float],
    secrets: Iterable[str],
) -> str:
    """A plain-text report; `secrets` are scrubbed from every line, whatever produced it."""
    settings_lines = []
    for key, value in asdict(settings).items():
        shown = _redacted_env(value) if key == "extra_env" else value
        settings_lines.append(f"  {key} = {shown!r}")
    incidents = []
    for incident in status.incidents[-20:]:
        opened = datetime.fromtimestamp(wall(incident.opened_at)).isoformat(timespec="seconds")
        outcome = "ongoing" if incident.is_open else "recovered" if incident.recovered else "ended"
        took = present.duration(incident.duration(status.now))
        incidents.append(f"  {opened} {outcome} after {took}: {incident.cause.text}")
    text = "\n".join(
        [
            f"opencode-tray {__version__}",
            f"Python {sys.version.split()[0]}, PySide6 {PySide6.__version__}",
            f"OS: {platform.platform()}",
            f"State: {present.status_line(status)}",
            f"Server: {status.url} opencode {status.version} pid {status.pid}",
            f"Restarts: {status.restarts}",
            "Settings:",
            *settings_lines,
            "Recent incidents:",
            *(incidents or ["  none"]),
            "Server output (last lines):",
            *(f"  {line}" for line in server_output),
        ]
    )
    for secret in secrets:
        if secret:
            text = text.replace(secret, "«redacted»")
    return text
