"""Which sessions are busy and which one the user worked in last, from stream events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tray.core.sessions import SessionActivity
from tray.generations.v1 import read, session_id_of

A, B = "ses_a", "ses_b"


def status(session: str, kind: str) -> dict[str, Any]:
    return {"sessionID": session, "status": {"type": kind}}


def feed(*events: tuple[str, Mapping[str, Any]]) -> SessionActivity:
    activity = SessionActivity()
    for type_, properties in events:
        activity.observe(read(type_, properties))
    return activity


@pytest.mark.parametrize(
    ("properties", "session"),
    [
        ({"sessionID": A}, A),
        ({"info": {"sessionID": A, "id": "msg_1"}}, A),
        ({"part": {"sessionID": A, "messageID": "msg_1"}}, A),
        ({"sessionID": 7, "info": {"sessionID": A}}, A),
        ({"info": "ses_x", "part": {"sessionID": A}}, A),
        ({"info": {"sessionID": None}}, None),
        ({"info": {"id": A}}, None),
        ({}, None),
    ],
)
def test_session_id_of(properties: Mapping[str, Any], session: str | None) -> None:
    assert session_id_of(properties) == session


@pytest.mark.parametrize(
    ("events", "busy"),
    [
        pytest.param([("session.status", status(A, "busy"))], (A,), id="busy"),
        pytest.param([("session.status", status(A, "retry"))], (A,), id="retry"),
        pytest.param(
            [("session.status", status(A, "busy")), ("session.status", status(A, "idle"))],
            (),
            id="busy-then-idle",
        ),
        pytest.param(
            [("session.status", status(A, "busy")), ("session.idle", {"sessionID": A})],
            (),
            id="busy-then-session.idle",
        ),
        pytest.param(
            [("session.status", status(B, "busy")), ("session.status", status(A, "retry"))],
            (A, B),
            id="sorted",
        ),
        pytest.param(
            [("session.status", status(A, "busy")), ("session.status", status(A, "weird"))],
            (A,),
            id="unknown-status-keeps",
        ),
        pytest.param(
            [("session.status", {"sessionID": A, "status": "busy"})], (), id="status-not-mapping"
        ),
        pytest.param(
            [
                ("session.status", status(A, "busy")),
                ("message.updated", {"info": {"sessionID": A}}),
            ],
            (A,),
            id="messages-keep-busy",
        ),
        pytest.param(
            [("session.status", status(A, "busy")), ("session.deleted", {"info": {"id": A}})],
            (),
            id="deleted-forgets",
        ),
    ],
)
def test_busy(events: list[tuple[str, Mapping[str, Any]]], busy: tuple[str, ...]) -> None:
    assert feed(*events).busy == busy


@pytest.mark.parametrize(
    ("type_", "properties"),
    [
        ("session.status", status(A, "idle")),
        ("session.idle", {"sessionID": A}),
        ("message.updated", {"info": {"sessionID": A, "role": "user"}}),
        ("message.part.updated", {"part": {"sessionID": A}}),
        ("message.part.delta", {"sessionID": A, "delta": "hi"}),
        ("permission.asked", {"sessionID": A, "id": "per_1"}),
        ("question.asked", {"sessionID": A, "id": "que_1"}),
    ],
)
def test_activity_marks_the_session_last_worked_in(
    type_: str, properties: Mapping[str, Any]
) -> None:
    activity = feed((type_, properties))
    assert activity.last_worked_in == A


@pytest.mark.parametrize(
    ("type_", "properties"),
    [
        ("server.heartbeat", {}),
        ("server.connected", {}),
        ("session.created", {"info": {"id": B, "sessionID": B}}),
        ("session.updated", {"info": {"id": B, "sessionID": B}}),
        ("session.error", {"sessionID": B}),
        ("message.updated", {"info": {"id": "msg_1"}}),
        ("session.deleted", {"info": "not a mapping"}),
        ("session.deleted", {"info": {"id": 5}}),
    ],
)
def test_other_events_change_nothing(type_: str, properties: Mapping[str, Any]) -> None:
    activity = feed(("session.status", status(A, "busy")), (type_, properties))
    assert (activity.last_worked_in, activity.busy) == (A, (A,))


def test_the_last_session_worked_in_follows_the_newest_activity() -> None:
    activity = SessionActivity()
    activity.observe(read("message.updated", {"info": {"sessionID": A}}))
    activity.observe(read("message.updated", {"info": {"sessionID": B}}))
    activity.observe(read("message.part.delta", {"sessionID": A}))
    assert activity.last_worked_in == A
    activity.observe(read("message.part.delta", {"sessionID": B}))
    assert activity.last_worked_in == B


def test_deleting_a_session_forgets_it_everywhere() -> None:
    activity = SessionActivity()
    activity.observe(read("session.status", status(A, "busy")))
    activity.observe(read("session.status", status(B, "busy")))
    activity.observe(read("session.deleted", {"info": {"id": A}}))
    assert (activity.last_worked_in, activity.busy) == (B, (B,))
    activity.observe(read("session.deleted", {"info": {"id": B}}))
    assert (activity.last_worked_in, activity.busy) == (None, ())


def test_replace_busy() -> None:
    activity = feed(("session.status", status(A, "busy")))
    activity.snapshot_asked()
    activity.replace_busy([B, "ses_c", B])
    assert activity.busy == (B, "ses_c")
    assert activity.last_worked_in == A
    activity.snapshot_asked()
    activity.replace_busy(())
    assert len(activity.busy) == 0


def test_what_the_stream_says_while_rest_is_asked_is_newer_than_its_answer() -> None:
    """A turn that starts or ends between the resync's question and REST's answer: the answer
    is older than the event, so the event stands (a turn REST missed must not be restarted
    into as if idle)."""
    activity = feed(("session.status", status(A, "busy")), ("session.status", status(B, "busy")))
    activity.snapshot_asked()
    activity.observe(read("session.idle", {"sessionID": A}))
    activity.observe(read("session.status", status("ses_c", "busy")))
    activity.observe(read("session.deleted", {"info": {"id": "ses_d"}}))
    activity.replace_busy([A, B, "ses_d"])  # as REST saw it when asked
    assert activity.busy == (B, "ses_c")
    activity.replace_busy([A])  # nothing heard since the last answer: REST's word stands
    assert list(activity.busy) == [A]
