"""The front door's counters, for `status --json`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DoorStats:
    """The front door's counters, for `status --json`."""

    url: str | None = None
    clients: int = 0  # requests and streams open now
    streams: int = 0  # event streams open now
    streams_held: int = 0  # of those, waiting for a server
    requests_held: int = 0
    requests_relayed: int = 0
    last_hold_s: float | None = None  # the last time requests or streams waited for a server

    def to_json(self, enabled: bool) -> dict[str, Any]:
        return {
            "enabled": enabled,
            "url": self.url,
            "clients": self.clients,
            "streams": self.streams,
            "streams_held": self.streams_held,
            "requests_held": self.requests_held,
            "requests_relayed": self.requests_relayed,
            "last_hold_s": None if self.last_hold_s is None else round(self.last_hold_s, 2),
        }
