"""opencode 1.x as the app reads it: the one decoder of its events, and what it speaks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tray import generations
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
    session_of,
)
from tray.generations.v1 import V1, decode, read

S = "ses_a"
INFO = {"id": S, "title": "T", "directory": "/w", "time": {"updated": 5}}
SUMMARY = SessionSummary(S, "T", "/w", 5.0)


def status(kind: Any) -> dict[str, Any]:
    return {"sessionID": S, "status": {"type": kind}}


@pytest.mark.parametrize(
    ("type_", "properties", "event"),
    [
        ("server.connected", {}, Connected()),
        ("server.heartbeat", {}, Heartbeat()),
        ("session.status", status("busy"), SessionBusy(S)),
        ("session.status", status("retry"), SessionBusy(S)),
        ("session.status", status("idle"), SessionIdle(S)),
        ("session.status", status("weird"), Activity(S)),
        ("session.status", {"sessionID": S, "status": "busy"}, Activity(S)),
        ("session.status", {"status": {"type": "busy"}}, Other("session.status")),
        ("session.idle", {"sessionID": S}, SessionIdle(S)),
        (
            "session.error",
            {"sessionID": S, "error": {"name": "APIError", "data": {"message": "boom"}}},
            SessionError(S, "boom"),
        ),
        (
            "session.error",
            {"sessionID": S, "error": {"name": "APIError"}},
            SessionError(S, "APIError"),
        ),
        ("session.error", {"sessionID": S}, SessionError(S, "")),
        ("session.error", {"error": {"name": "APIError"}}, Other("session.error")),
        ("session.created", {"sessionID": S, "info": INFO}, SessionChanged(SUMMARY, S)),
        ("session.updated", {"info": INFO}, SessionChanged(SUMMARY)),
        ("session.updated", {"info": {"id": 5}}, Other("session.updated")),
        ("session.deleted", {"info": INFO}, SessionDeleted(S)),
        ("session.deleted", {"info": "x", "sessionID": S}, Other("session.deleted", S)),
        ("message.updated", {"info": {"sessionID": S, "id": "msg_1"}}, Activity(S)),
        ("message.part.updated", {"part": {"sessionID": S}}, Activity(S)),
        ("message.part.delta", {"sessionID": S, "delta": "x"}, Activity(S)),
        ("message.updated", {"info": {"id": "msg_1"}}, Other("message.updated")),
        ("permission.asked", {"sessionID": S, "id": "per_1"}, AwaitingUser(S, "permission")),
        ("question.asked", {"sessionID": S, "id": "que_1"}, AwaitingUser(S, "question")),
        ("installation.update-available", {"version": "1.19.0"}, UpdateAvailable("1.19.0")),
        ("installation.update-available", {"version": ""}, Other("installation.update-available")),
        ("installation.update-available", {}, Other("installation.update-available")),
        ("todo.updated", {"sessionID": S}, Other("todo.updated", S)),
        ("some.future.event", {}, Other("some.future.event")),
    ],
)
def test_read(type_: str, properties: dict[str, Any], event: ServerEvent) -> None:
    assert read(type_, properties) == event


def test_session_of_names_the_session_of_any_event_about_one() -> None:
    assert session_of(read("session.created", {"sessionID": S, "info": INFO})) == S
    assert session_of(read("session.created", {"info": INFO})) is None
    assert session_of(read("todo.updated", {"sessionID": S})) == S
    assert session_of(read("installation.update-available", {"version": "9"})) is None
    assert session_of(Heartbeat()) is None


def data(item: Any) -> str:
    return json.dumps(item)


def test_decode_each_format() -> None:
    event = {"id": "evt_1", "type": "session.idle", "properties": {"sessionID": S}}
    wrapped = {"directory": "/w", "project": "p", "payload": event}
    assert decode(StreamFormat.GLOBAL, data(wrapped)) == (SessionIdle(S), Scope("/w", "p"))
    assert decode(StreamFormat.GLOBAL, data(event)) == (SessionIdle(S), Scope())
    assert decode(StreamFormat.INSTANCE, data(event)) == (SessionIdle(S), Scope())
    api = {"id": "evt_1", "type": "session.idle", "data": {"sessionID": S}}
    assert decode(StreamFormat.API, data(api)) == (SessionIdle(S), Scope())
    assert decode(StreamFormat.INSTANCE, data(api)) == (Other("session.idle"), Scope())
    odd = {"directory": 5, "payload": {"type": "server.heartbeat", "properties": "x"}}
    assert decode(StreamFormat.GLOBAL, data(odd)) == (Heartbeat(), Scope())


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1]", '"text"', "{}", data({"type": 5}), data({"payload": "x"}), b"\xff{"],
)
def test_decode_garbage_is_no_event(raw: str | bytes) -> None:
    assert decode(StreamFormat.GLOBAL, raw) is None


def test_what_it_speaks() -> None:
    assert generations.for_version("1.18.33") is V1
    assert generations.for_version("2.2.5") is None
    assert V1.serve_args("oc", 0) == ["oc", "serve", "--hostname", "127.0.0.1", "--port", "0"]
    assert V1.listening("opencode server listening on http://127.0.0.1:4096") == (
        "http://127.0.0.1:4096"
    )
    assert V1.listening("Warning: OPENCODE_SERVER_PASSWORD is not set") is None
    assert V1.health_version({"healthy": True, "version": "1.18.33"}) == "1.18.33"
    assert V1.health_version({"healthy": False, "version": "1.18.33"}) is None
    assert V1.health_version("<html>") is None
    assert V1.sessions_path("") == "/session"
    assert V1.sessions_path("/a b") == "/session?directory=%2Fa+b"
    assert V1.session_path("a/b") == "/session/a%2Fb"
    assert V1.prompt(S, "go") == (
        f"/session/{S}/prompt_async",
        {"parts": [{"type": "text", "text": "go"}]},
    )


def test_the_doors_events_decode_as_what_they_stand_for() -> None:
    ids = iter(["evt_1", "evt_2", "evt_3"])
    ended = V1.turn_end(StreamFormat.GLOBAL, S, Scope("/w"), "gone", lambda: next(ids))
    decoded = [decode(StreamFormat.GLOBAL, raw.removeprefix(b"data: ")) for raw in ended]
    assert decoded == [
        (SessionError(S, "gone"), Scope("/w")),
        (SessionIdle(S), Scope("/w")),
        (SessionIdle(S), Scope("/w")),
    ]
    assert all(any(marker in raw for marker in V1.turn_end_markers) for raw in ended)
    [resync] = V1.resync(StreamFormat.GLOBAL, "/w", "evt_9")
    assert decode(StreamFormat.GLOBAL, resync.removeprefix(b"data: ")) == (
        Other("server.instance.disposed"),
        Scope("/w"),
    )
    assert V1.resync(StreamFormat.INSTANCE, "/w", "evt_9") == []
    beat = V1.heartbeat(StreamFormat.GLOBAL, "evt_1").removeprefix(b"data: ")
    assert decode(StreamFormat.GLOBAL, beat) == (Heartbeat(), Scope())
