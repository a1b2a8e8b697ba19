"""opencode 1.x: everything the app knows of what a 1.x server speaks.

Started with `opencode serve`, ready on its "listening on" line, Basic auth from
`OPENCODE_SERVER_PASSWORD`, healthy on `GET /global/health`. Events on `/event`
(`{"id","type","properties"}`) and `/global/event` (the same in a `payload` beside its
`directory` and `project`); the door also relays the `/api/...` streams (`{"id","type","data"}`,
`: heartbeat`). `decode` is the one reader of those events.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from tray.generations.events import (
    Activity,
    AwaitingUser,
    Connected,
    Heartbeat,
    Other,
    Scope,
    ServerEvent,
    SessionBusy,
    SessionChanged,
    SessionDeleted,
    SessionError,
    SessionIdle,
    SessionSummary,
    StreamFormat,
    UpdateAvailable,
)
from tray.generations.generation import Generation

PASSWORD_ENV = "OPENCODE_SERVER_PASSWORD"
USERNAME_ENV = "OPENCODE_SERVER_USERNAME"
HEALTH_PATH = "/global/health"
STREAM_PATH = "/global/event"
_LISTENING = re.compile(r"listening on (https?://\S+)")
_MAJOR = re.compile(r"^v?(\d+)\.")
_ACTIVITY = frozenset({"message.updated", "message.part.updated", "message.part.delta"})
_AWAITING = {"permission.asked": "permission", "question.asked": "question"}
_UNFINISHED_TOOL = ("running", "pending")


def speaks(version: str) -> bool:
    """opencode 1.x: the 2.x server API ("new contracts") changed the endpoints we use."""
    match = _MAJOR.match(version.strip())
    return match is not None and int(match.group(1)) == 1


def serve_args(binary: str, port: int) -> list[str]:
    return [binary, "serve", "--hostname", "127.0.0.1", "--port", str(port)]


def listening(line: str) -> str | None:
    """The URL in the server's "opencode server listening on URL" line."""
    match = _LISTENING.search(line)
    return match.group(1) if match else None


def health_version(body: Any) -> str | None:
    """The version in `{"healthy":true,"version":…}`; None for any other answer."""
    if not isinstance(body, dict) or not body.get("healthy") or "version" not in body:
        return None
    return str(body["version"])


def health_body(version: str | None) -> bytes:
    body = {"healthy": True, "version": version} if version else {"healthy": True}
    return json.dumps(body).encode()


# -- events ----------------------------------------------------------------------------------------


def session_id_of(properties: Mapping[str, Any]) -> str | None:
    """The session an event is about, wherever its type keeps the id."""
    direct = properties.get("sessionID")
    if isinstance(direct, str):
        return direct
    for key in ("info", "part"):
        nested = properties.get(key)
        if isinstance(nested, Mapping) and isinstance(nested.get("sessionID"), str):
            return str(nested["sessionID"])
    return None


def decode(fmt: StreamFormat, data: str | bytes) -> tuple[ServerEvent, Scope] | None:
    """The core event in one event's data on a stream of format `fmt`, and where it belongs;
    None when it is not an event. On `/global/event` the event sits in a `payload`."""
    try:
        item = json.loads(data)
    except ValueError:
        return None
    if not isinstance(item, dict):
        return None
    payload = item.get("payload", item) if fmt is StreamFormat.GLOBAL else item
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return None
    properties = payload.get("data" if fmt is StreamFormat.API else "properties")
    event = read(payload["type"], properties if isinstance(properties, dict) else {})
    return event, _scope(item) if fmt is StreamFormat.GLOBAL else Scope()


def _scope(item: Mapping[str, Any]) -> Scope:
    directory, project = item.get("directory"), item.get("project")
    return Scope(
        directory if isinstance(directory, str) else None,
        project if isinstance(project, str) else None,
    )


def read(type_: str, properties: Mapping[str, Any]) -> ServerEvent:
    """The core event a 1.x event of type `type_` is."""
    session = session_id_of(properties)
    if type_ == "server.connected":
        return Connected()
    if type_ == "server.heartbeat":
        return Heartbeat()
    if type_ in ("session.created", "session.updated", "session.deleted"):
        return _session_event(type_, properties, session)
    if type_ == "installation.update-available":
        version = properties.get("version")
        if isinstance(version, str) and version:
            return UpdateAvailable(version)
    if session is None:
        return Other(type_)
    return _turn_event(type_, properties, session)


def _turn_event(type_: str, properties: Mapping[str, Any], session: str) -> ServerEvent:
    """An event about the work in `session`."""
    if type_ == "session.status":
        status = properties.get("status")
        kind = status.get("type") if isinstance(status, Mapping) else None
        if kind == "idle":
            return SessionIdle(session)
        return SessionBusy(session) if kind in ("busy", "retry") else Activity(session)
    if type_ == "session.idle":
        return SessionIdle(session)
    if type_ == "session.error":
        return SessionError(session, _error_message(properties.get("error")))
    if type_ in _AWAITING:
        return AwaitingUser(session, _AWAITING[type_])
    return Activity(session) if type_ in _ACTIVITY else Other(type_, session)


def _session_event(type_: str, properties: Mapping[str, Any], session: str | None) -> ServerEvent:
    info = properties.get("info")
    found = summary(info) if isinstance(info, Mapping) else None
    if found is None:
        return Other(type_, session)
    if type_ == "session.deleted":
        return SessionDeleted(found.id, session)
    return SessionChanged(found, session)


def _error_message(error: Any) -> str:
    if not isinstance(error, Mapping):
        return ""
    data = error.get("data")
    message = data.get("message") if isinstance(data, Mapping) else None
    return str(message or error.get("name") or "")


# -- event streams as the front door holds them ---------------------------------------------------


def stream_format(method: str, path: str) -> StreamFormat | None:
    """The format of an event stream path the door holds; None for other requests."""
    if method.upper() != "GET":
        return None
    if path == "/event":
        return StreamFormat.INSTANCE
    if path == STREAM_PATH:
        return StreamFormat.GLOBAL
    if path == "/api/event" or (path.startswith("/api/session/") and path.endswith("/event")):
        return StreamFormat.API
    return None


def encode(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def wrap(
    fmt: StreamFormat, kind: str, properties: Mapping[str, Any], scope: Scope, new_id: str
) -> bytes:
    """An event of type `kind` exactly as the server writes it on a stream of format `fmt`."""
    if fmt is StreamFormat.API:
        return encode({"id": new_id, "type": kind, "data": dict(properties)})
    event = {"id": new_id, "type": kind, "properties": dict(properties)}
    if fmt is StreamFormat.INSTANCE:
        return encode(event)
    envelope: dict[str, Any] = {}
    if scope.directory is not None:
        envelope["directory"] = scope.directory
    if scope.project is not None:
        envelope["project"] = scope.project
    envelope["payload"] = event
    return encode(envelope)


def heartbeat(fmt: StreamFormat, new_id: str) -> bytes:
    """A heartbeat exactly as the server writes it on that stream."""
    if fmt is StreamFormat.API:
        return b": heartbeat\n\n"
    return wrap(fmt, "server.heartbeat", {}, Scope(), new_id)


# Only events with one of these can change which turns run (the door's cheap test).
TURN_MARKERS = (b'"session.status"', b'"session.idle"', b'"session.error"', b'"session.deleted"')


def turn_end(
    fmt: StreamFormat, session: str, scope: Scope, message: str, new_id: Callable[[], str]
) -> list[bytes]:
    """What the server sends at the end of a failed turn: `session.error` with `message`,
    `session.status` idle, `session.idle`."""
    error = {"name": "UnknownError", "data": {"message": message}}
    return [
        wrap(fmt, kind, props, scope, new_id())
        for kind, props in (
            ("session.error", {"sessionID": session, "error": error}),
            ("session.status", {"sessionID": session, "status": {"type": "idle"}}),
            ("session.idle", {"sessionID": session}),
        )
    ]


def resync(fmt: StreamFormat, directory: str | None, new_id: str) -> list[bytes]:
    """What tells a client of a new server to resync: `server.instance.disposed`, the event on
    which the TUI (and the web app, for that directory) re-bootstraps, on `/global/event`.
    On `/event` the server ends the stream right after it, so a client may take it for the
    end; there (and on the `/api` stream) the new server's own `server.connected` is the
    resync."""
    if fmt is not StreamFormat.GLOBAL:
        return []
    props = {"directory": directory} if directory else {}
    return [wrap(fmt, "server.instance.disposed", props, Scope(directory), new_id)]


# -- REST ------------------------------------------------------------------------------------------


def _session(session_id: str) -> str:
    return f"/session/{quote(session_id, safe='')}"


def sessions_path(directory: str) -> str:
    """GET: the sessions of `directory` ("": the server's folder), newest first."""
    return "/session" + (f"?{urlencode({'directory': directory})}" if directory else "")


def messages_path(session_id: str) -> str:
    return _session(session_id) + "/message"


def abort_path(session_id: str) -> str:
    return _session(session_id) + "/abort"


def prompt(session_id: str, text: str) -> tuple[str, Any]:
    """POST: the server starts the turn and answers at once."""
    return _session(session_id) + "/prompt_async", {"parts": [{"type": "text", "text": text}]}


def summary(info: Mapping[str, Any]) -> SessionSummary | None:
    """A session of GET /session (or of a session event); None when it has no id."""
    session_id = info.get("id")
    if not isinstance(session_id, str):
        return None
    times = info.get("time")
    updated = times.get("updated") if isinstance(times, Mapping) else None
    return SessionSummary(
        id=session_id,
        title=str(info.get("title") or ""),
        directory=str(info.get("directory") or ""),
        updated_ms=float(updated) if isinstance(updated, int | float) else 0.0,
    )


def interrupted(messages: Sequence[Mapping[str, Any]]) -> bool:
    """The last assistant message never completed, or a tool part was left running."""
    assistant = [m for m in messages if _info(m).get("role") == "assistant"]
    if not assistant:
        return False
    last = assistant[-1]
    times = _info(last).get("time")
    if not isinstance(times, Mapping) or not times.get("completed"):
        return True
    for part in last.get("parts") or ():
        state = part.get("state") if isinstance(part, Mapping) else None
        if isinstance(state, Mapping) and state.get("status") in _UNFINISHED_TOOL:
            return True
    return False


def _info(message: Mapping[str, Any]) -> Mapping[str, Any]:
    info = message.get("info")
    return info if isinstance(info, Mapping) else {}


# -- reopening a session -----------------------------------------------------------------------


def auth_token(username: str, password: str) -> str:
    """The web app's `?auth_token=`: base64 of 'user:password'."""
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def web_url(
    base: str, username: str, password: str, directory: str = "", session_id: str = ""
) -> str:
    """The web app's page for a session (or its home), carrying auth so the browser won't ask.

    The web app routes `/<base64url(directory), unpadded>/session/<id>` and drops auth_token
    from the address bar once it has read it.
    """
    path = ""
    if directory and session_id:
        encoded = base64.urlsafe_b64encode(directory.encode()).decode().rstrip("=")
        path = f"{encoded}/session/{session_id}"
    return f"{base.rstrip('/')}/{path}?auth_token={quote(auth_token(username, password))}"


def attach(binary: str, url: str, session_id: str, directory: str) -> list[str]:
    """`opencode attach`; the password travels in the environment (PASSWORD_ENV), never argv."""
    words = [binary, "attach", url, "--session", session_id]
    return [*words, "--dir", directory] if directory else words


V1 = Generation(
    name="1.x",
    speaks=speaks,
    serve_args=serve_args,
    listening=listening,
    password_env=PASSWORD_ENV,
    username_env=USERNAME_ENV,
    # The app restarts the server onto a new binary when no session is busy; opencode's
    # own auto-update would change it under a busy one.
    no_autoupdate_env={"OPENCODE_DISABLE_AUTOUPDATE": "1"},
    health_path=HEALTH_PATH,
    health_version=health_version,
    health_body=health_body,
    stream_path=STREAM_PATH,
    decode=decode,
    stream_format=stream_format,
    heartbeat=heartbeat,
    turn_end=turn_end,
    turn_end_markers=TURN_MARKERS,
    resync=resync,
    sessions_path=sessions_path,
    busy_path="/session/status",
    session_path=_session,
    messages_path=messages_path,
    pending_paths={"permission": "/permission", "question": "/question"},
    abort_path=abort_path,
    prompt=prompt,
    summary=summary,
    interrupted=interrupted,
    web_url=web_url,
    attach=attach,
)
