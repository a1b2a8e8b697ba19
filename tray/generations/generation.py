"""What the app needs to know of a server generation: one `Generation` per major version."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tray.generations.events import Scope, ServerEvent, SessionSummary, StreamFormat


@dataclass(frozen=True)
class Generation:
    """What one server generation speaks; `v1.V1` is opencode 1.x."""

    name: str  # "1.x", as the unsupported-version cause names it
    speaks: Callable[[str], bool]  # does a server of this version string speak it?
    serve_args: Callable[[str, int], list[str]]  # (binary, port): the command that serves
    listening: Callable[[str], str | None]  # the URL in an output line saying it listens
    password_env: str  # the variable that carries the server password
    username_env: str  # the variable that names its user
    no_autoupdate_env: Mapping[str, str]  # what keeps the server from updating itself
    health_path: str  # GET: is it alive, and which version
    health_version: Callable[[Any], str | None]  # the version in a healthy answer's body
    health_body: Callable[[str | None], bytes]  # the door's answer standing in for the server
    stream_path: str  # the event stream the app reads
    # THE decoder: an event's data on a stream of that format, and where it belongs
    decode: Callable[[StreamFormat, str | bytes], tuple[ServerEvent, Scope] | None]
    stream_format: Callable[[str, str], StreamFormat | None]  # (method, path) of a stream
    heartbeat: Callable[[StreamFormat, str], bytes]  # (format, event id): the door's heartbeat
    turn_end: Callable[[StreamFormat, str, Scope, str, Callable[[], str]], list[bytes]]
    #   (format, session, scope, message, new event id): the end of a turn a crash killed
    turn_end_markers: tuple[bytes, ...]  # in every event that may change which turn runs
    resync: Callable[[StreamFormat, str | None, str], list[bytes]]  # (fmt, directory, id)
    sessions_path: Callable[[str], str]  # the session list of a directory ("": the server's)
    busy_path: str
    session_path: Callable[[str], str]
    messages_path: Callable[[str], str]
    pending_paths: Mapping[str, str]  # "permission" / "question": what waits for the user
    abort_path: Callable[[str], str]
    prompt: Callable[[str, str], tuple[str, Any]]  # (session, text): (path, JSON body)
    summary: Callable[[Mapping[str, Any]], SessionSummary | None]  # an item of the list
    interrupted: Callable[[Sequence[Mapping[str, Any]]], bool]  # its messages: killed mid-turn?
    web_url: Callable[[str, str, str, str, str], str]  # (base, user, password, dir, session)
    attach: Callable[[str, str, str, str], list[str]]  # (binary, url, session, directory)
