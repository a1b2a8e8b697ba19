"""Server-sent events as the opencode servers write them: an event's JSON in each stream's
format, its text, and its frame on the wire (`data: <json>` and a blank line)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def event(kind: str, **properties: Any) -> dict[str, Any]:
    """An event as `/event` carries it (and `/global/event` in its payload)."""
    return {"type": kind, "properties": properties}


def global_event(kind: str, **properties: Any) -> dict[str, Any]:
    """An event as `/global/event` carries it."""
    return {"payload": event(kind, **properties)}


def text(item: Mapping[str, Any]) -> str:
    """An event's JSON as the server writes it: compact, on one line."""
    return json.dumps(item, separators=(",", ":"))


def frame(data: Mapping[str, Any] | str) -> bytes:
    """One event on the wire; `data` is an event, or the text to send as it is."""
    line = data if isinstance(data, str) else text(data)
    return f"data: {line}\n\n".encode()
