"""The front door's decisions, in every server state; no sockets, time passed in."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import replace
from typing import Any

import pytest

from tests.core.driver import Driver
from tests.support.sse import frame
from tray.core import causes
from tray.core.backoff import Backoff, restart_delay
from tray.core.door.auth import (
    COOKIE_NAME,
    LOGIN_TTL_S,
    AuthKind,
    BrowserLogins,
    authenticate,
    check_auth_token,
    check_basic,
    cookie_header,
    login_target,
    needs_credentials,
    strip_query,
)
from tray.core.door.errors import Refuse, body_too_large, doing, too_many_connections, unauthorized
from tray.core.door.phases import Credentials, Phase, ServerView, Upstream, phase_of
from tray.core.door.requests import (
    HEALTH_HOLD_S,
    SETTLE_S,
    Answer,
    Forward,
    Hold,
    Pending,
    decide_request,
    health_answer,
    is_health_probe,
)
from tray.core.door.stats import DoorStats
from tray.core.door.streams import HEARTBEAT_S, HeldStream, sse_data
from tray.core.messages import Spawn
from tray.core.sse import EventSplitter
from tray.core.status import State
from tray.core.supervisor import Policy
from tray.generations.events import StreamFormat
from tray.generations.v1 import V1

A = Upstream("http://127.0.0.1:5001", Credentials("opencode", "private-a"))
B = Upstream("http://127.0.0.1:5002", Credentials("opencode", "private-b"))
PUBLIC = Credentials("opencode", "public")
KILLED = causes.process_exited(-9, ())
READY = ServerView(State.CONNECTED, A, None, "1.18.33")
DOWN = ServerView(State.CRASHED, None, KILLED, "1.18.33")
FAILED = ServerView(State.FAILED, None, causes.crash_loop(5, 300.0, KILLED))
STOPPED = ServerView(State.STOPPED, None)


def counter() -> Any:
    numbers = itertools.count()
    return lambda _n: f"t{next(numbers)}"


def get(path: str = "/session", at: float = 0.0, limit: float = 60.0) -> Pending:
    return Pending("GET", path, at, limit)


def post(path: str = "/session", at: float = 0.0) -> Pending:
    return Pending("POST", path, at, 60.0)


def message(refusal: Any) -> str:
    assert isinstance(refusal, Refuse)
    body = json.loads(refusal.body())
    assert set(body) == {"name", "data"}
    text: str = body["data"]["message"]
    return text


def decoded(raw: bytes) -> dict[str, Any]:
    item = json.loads(sse_data(raw))
    assert isinstance(item, dict)
    return item


# -- phases ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        (State.CONNECTED, Phase.READY),
        (State.RECONNECTING, Phase.READY),
        (State.STARTING, Phase.RECOVERING),
        (State.STALLED, Phase.RECOVERING),
        (State.CRASHED, Phase.RECOVERING),
        (State.FAILED, Phase.CLOSED),
        (State.STOPPED, Phase.CLOSED),
    ],
)
def test_every_state_has_a_phase(state: State, phase: Phase) -> None:
    assert phase_of(state) is phase
    assert ServerView(state, A).phase is phase


def test_ready_without_an_upstream_is_recovering() -> None:
    assert ServerView(State.CONNECTED, None).phase is Phase.RECOVERING


def test_a_new_server_whose_projects_are_not_loaded_yet_holds_requests() -> None:
    loading = ServerView(State.CONNECTED, A, None, "1.18.33", loaded=False)
    assert loading.phase is Phase.RECOVERING
    assert decide_request(post(), loading, 0.0) == Hold(60.0)
    assert decide_request(post(), replace(loading, loaded=True), 0.0) == Forward(A)


# -- requests --------------------------------------------------------------------------------------


def test_ready_forwards() -> None:
    assert decide_request(get(), READY, 0.0) == Forward(A)
    assert decide_request(post(), ServerView(State.RECONNECTING, A), 0.0) == Forward(A)


@pytest.mark.parametrize("state", [State.STARTING, State.CRASHED, State.STALLED])
def test_recovering_holds_until_the_hold_limit(state: State) -> None:
    view = ServerView(state, None if state is not State.STALLED else A, KILLED)
    assert decide_request(get(at=1.0), view, 5.0) == Hold(61.0)
    refused = decide_request(get(at=1.0), view, 61.0)
    assert isinstance(refused, Refuse)
    assert refused.status == 503
    assert "not ready within 60 s" in message(refused)
    assert KILLED.text in message(refused)


def test_a_held_request_is_forwarded_once_ready() -> None:
    pending = get(at=0.0)
    assert isinstance(decide_request(pending, DOWN, 1.0), Hold)
    assert decide_request(pending, ServerView(State.CONNECTED, B), 2.0) == Forward(B)


@pytest.mark.parametrize("view", [FAILED, STOPPED])
def test_closed_refuses_at_once_naming_the_cause_and_what_the_app_does(view: ServerView) -> None:
    refused = decide_request(post(), view, 0.0)
    assert isinstance(refused, Refuse)
    assert (refused.status, refused.name) == (503, "ServerUnavailableError")
    text = message(refused)
    assert "POST /session was not sent" in text
    assert doing(view) in text
    if view.cause is not None:
        assert view.cause.text in text
    assert ("retry-after", "1") in refused.headers


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (State.FAILED, "gave up"),
        (State.STOPPED, "stopped from the tray"),
        (State.STALLED, "stopped answering"),
        (State.CRASHED, "restarting it"),
        (State.STARTING, "restarting it"),
        (State.CONNECTED, "checking"),
        (State.RECONNECTING, "checking"),
    ],
)
def test_what_the_app_does_is_said_for_every_state(state: State, words: str) -> None:
    assert words in doing(ServerView(state, None))


def test_the_health_probe_is_held_briefly_then_answered_by_the_door() -> None:
    probe = get("/global/health", at=10.0)
    assert decide_request(probe, DOWN, 11.0) == Hold(10.0 + HEALTH_HOLD_S)
    answer = decide_request(probe, DOWN, 10.0 + HEALTH_HOLD_S)
    assert answer == Answer(200, b'{"healthy": true, "version": "1.18.33"}')
    assert decide_request(probe, READY, 11.0) == Forward(A)
    assert is_health_probe("HEAD", "/global/health")
    assert not is_health_probe("POST", "/global/health")
    unknown = health_answer(ServerView(State.STARTING, None))
    assert json.loads(unknown.body) == {"healthy": True}


def test_the_health_probe_of_a_stopped_server_is_refused() -> None:
    assert isinstance(decide_request(get("/global/health"), STOPPED, 0.0), Refuse)


# -- a forward that failed -------------------------------------------------------------------------


def test_an_idempotent_request_is_retried_once_on_the_new_server() -> None:
    failed = get(at=0.0).failed(A, 1.0, "reset", sent=True)
    assert decide_request(failed, DOWN, 1.1) == Hold(61.0)
    assert decide_request(failed, ServerView(State.CONNECTED, B), 3.0) == Forward(B)


def test_a_retry_on_a_server_that_still_looks_ready_waits_to_settle() -> None:
    failed = get().failed(A, 1.0, "reset", sent=True)
    assert decide_request(failed, READY, 1.2) == Hold(1.0 + SETTLE_S)
    assert decide_request(failed, READY, 1.0 + SETTLE_S) == Forward(A)


def test_the_retry_has_its_own_hold_limit() -> None:
    failed = get().failed(A, 10.0, "reset", sent=True)
    refused = decide_request(failed, DOWN, 70.0)
    assert "retry timed out" in message(refused)


def test_a_second_failure_is_a_503() -> None:
    twice = get().failed(A, 1.0, "reset", sent=True).failed(B, 2.0, "reset again", sent=True)
    refused = decide_request(twice, ServerView(State.CONNECTED, B), 5.0)
    assert "GET /session was cut off (reset again)" in message(refused)


def test_a_post_in_flight_gets_503_with_the_cause_once_known() -> None:
    failed = post().failed(A, 1.0, "Connection reset by peer", sent=True)
    assert decide_request(failed, READY, 1.1) == Hold(1.0 + SETTLE_S)
    refused = decide_request(failed, DOWN, 1.2)
    text = message(refused)
    assert "POST /session was cut off (Connection reset by peer)" in text
    assert KILLED.text in text
    assert "restarting it" in text


def test_a_request_that_never_reached_the_server_is_retried_until_the_limit() -> None:
    unsent = post().failed(A, 1.0, "could not connect", sent=False)
    assert decide_request(unsent, ServerView(State.CONNECTED, B), 2.0) == Forward(B)
    again = unsent.failed(A, 3.0, "could not connect", sent=False).failed(A, 5.0, "x", False)
    assert decide_request(again, READY, 5.5) == Hold(5.0 + SETTLE_S)
    assert decide_request(again, READY, 6.0) == Forward(A)
    assert decide_request(again, DOWN, 5.5) == Hold(65.0)
    assert "retry timed out" in message(decide_request(again, DOWN, 65.0))


def test_a_failed_request_is_refused_when_the_app_gives_up() -> None:
    failed = get().failed(A, 1.0, "reset", sent=True)
    assert "not sent" in message(decide_request(failed, FAILED, 2.0))


# -- event streams ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "fmt"),
    [
        ("GET", "/event", StreamFormat.INSTANCE),
        ("GET", "/global/event", StreamFormat.GLOBAL),
        ("GET", "/api/event", StreamFormat.API),
        ("GET", "/api/session/ses_1/event", StreamFormat.API),
        ("POST", "/event", None),
        ("GET", "/session", None),
        ("GET", "/events", None),
    ],
)
def test_stream_paths(method: str, path: str, fmt: StreamFormat | None) -> None:
    assert V1.stream_format(method, path) is fmt


def test_heartbeats_are_in_the_servers_own_format() -> None:
    instance = decoded(V1.heartbeat(StreamFormat.INSTANCE, "evt_1"))
    assert instance == {"id": "evt_1", "type": "server.heartbeat", "properties": {}}
    wrapped = decoded(V1.heartbeat(StreamFormat.GLOBAL, "evt_2"))
    assert wrapped == {"payload": {"id": "evt_2", "type": "server.heartbeat", "properties": {}}}
    assert V1.heartbeat(StreamFormat.API, "evt_3") == b": heartbeat\n\n"


def status_event(fmt: StreamFormat, session: str, kind: str, directory: str = "/w") -> bytes:
    props: dict[str, Any] = {"sessionID": session, "status": {"type": kind}}
    if fmt is StreamFormat.GLOBAL:
        payload = {"id": "e", "type": "session.status", "properties": props}
        return frame({"directory": directory, "project": "p1", "payload": payload})
    key = "data" if fmt is StreamFormat.API else "properties"
    return frame({"id": "e", "type": "session.status", key: props})


@pytest.mark.parametrize("fmt", list(StreamFormat))
def test_turns_a_dead_server_left_busy_are_ended_on_the_stream(fmt: StreamFormat) -> None:
    stream = HeldStream(fmt, None, token=counter())
    stream.subscribed(A)
    for raw in (
        status_event(fmt, "ses_busy", "busy"),
        status_event(fmt, "ses_retry", "retry"),
        status_event(fmt, "ses_done", "busy"),
        status_event(fmt, "ses_done", "idle"),
    ):
        assert stream.relay(raw, 1.0) == [raw]
    assert stream.server_gone(READY) == []  # the same server: nothing ended
    ended = [decoded(raw) for raw in stream.server_gone(DOWN)]
    assert stream.server_gone(DOWN) == []  # once

    def unwrap(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if fmt is StreamFormat.GLOBAL:
            assert (item["directory"], item["project"]) == ("/w", "p1")
            item = item["payload"]
        return item["type"], item["data" if fmt is StreamFormat.API else "properties"]

    kinds = [unwrap(item) for item in ended]
    assert [k for k, _ in kinds] == ["session.error", "session.status", "session.idle"] * 2
    assert {p["sessionID"] for _, p in kinds} == {"ses_busy", "ses_retry"}
    error = kinds[0][1]["error"]
    assert error["name"] == "UnknownError"
    assert KILLED.text in error["data"]["message"]
    assert kinds[1][1]["status"] == {"type": "idle"}


def test_session_idle_and_deleted_end_a_busy_turn_too() -> None:
    stream = HeldStream(StreamFormat.INSTANCE, None, token=counter())
    stream.subscribed(A)
    stream.relay(status_event(StreamFormat.INSTANCE, "s1", "busy"), 0.0)
    stream.relay(status_event(StreamFormat.INSTANCE, "s2", "busy"), 0.0)
    stream.relay(frame({"type": "session.idle", "properties": {"sessionID": "s1"}}), 0.0)
    stream.relay(frame({"type": "session.deleted", "properties": {"info": {"id": "s2"}}}), 0.0)
    assert stream.turns.busy == {}


@pytest.mark.parametrize("fmt", list(StreamFormat))
def test_every_event_of_a_block_counts(fmt: StreamFormat) -> None:
    """A block of many events (a burst read at once) is relayed whole, and each of its events
    changes what is busy as it would alone."""
    stream = HeldStream(fmt, None, token=counter())
    stream.subscribed(A)
    delta = frame({"type": "message.part.delta", "properties": {"sessionID": "s1"}})
    block = b"".join(
        [
            status_event(fmt, "s1", "busy"),
            delta,
            status_event(fmt, "s2", "busy"),
            status_event(fmt, "s1", "idle"),
            delta,
            status_event(fmt, "s3", "busy"),
        ]
    )
    assert stream.relay(block, 0.0) == [block]
    assert set(stream.turns.busy) == {"s2", "s3"}


def test_a_resync_goes_right_after_the_first_event_of_a_block() -> None:
    stream = HeldStream(StreamFormat.GLOBAL, "/w", token=counter())
    stream.subscribed(A)
    first = frame({"type": "server.connected", "properties": {}})
    stream.relay(first, 0.0)
    stream.subscribed(B)
    more = frame({"payload": {"type": "message.updated", "properties": {}}})
    out = stream.relay(first + more + more, 1.0)
    assert out[0] == first
    assert decoded(out[1])["payload"]["type"] == "server.instance.disposed"
    assert out[2:] == [more + more]


def test_a_resync_waits_for_a_whole_event_past_a_piece_of_an_oversized_one() -> None:
    stream = HeldStream(StreamFormat.GLOBAL, "/w", token=counter())
    stream.subscribed(A)
    stream.relay(frame({"type": "server.connected", "properties": {}}), 0.0)
    stream.subscribed(B)
    assert stream.relay(b"data: a piece", 1.0) == [b"data: a piece"]
    out = stream.relay(b" ends\n\n", 2.0)
    assert out[0] == b" ends\n\n"
    assert decoded(out[1])["payload"]["type"] == "server.instance.disposed"


@pytest.mark.parametrize(
    "raw",
    [
        b": comment\n\n",
        b"data: not json session.status\n\n",
        b'data: ["session.status"]\n\n',
        frame({"type": "session.status", "properties": "x"}),
        frame({"type": "session.status", "properties": {"status": {"type": "busy"}}}),
        frame({"payload": "session.status"}),
    ],
)
def test_garbage_is_relayed_and_changes_nothing(raw: bytes) -> None:
    fmt = StreamFormat.GLOBAL if b"payload" in raw else StreamFormat.INSTANCE
    stream = HeldStream(fmt, None, token=counter())
    assert stream.relay(raw, 0.0) == [raw]
    assert stream.turns.busy == {}


def test_a_new_server_is_announced_after_its_first_event() -> None:
    fmt = StreamFormat.GLOBAL
    stream = HeldStream(fmt, "/w", token=counter())
    stream.subscribed(A)
    first = frame({"type": "server.connected", "properties": {}})
    assert stream.relay(first, 0.0) == [first]  # the first server: nothing to resync
    stream.subscribed(A)  # the same server again (its stream ended): nothing either
    assert stream.relay(first, 1.0) == [first]
    stream.subscribed(B)
    out = stream.relay(first, 2.0)
    assert out[0] == first
    resync = decoded(out[1])
    assert resync["directory"] == "/w"
    resync = resync["payload"]
    assert resync["type"] == "server.instance.disposed"
    assert resync["properties"] == {"directory": "/w"}
    assert stream.relay(first, 3.0) == [first]


def test_a_resync_stays_due_until_the_new_server_delivers() -> None:
    """A subscription the new server answered and then left silent is made again: the resync
    is sent after the first event of the one that delivers."""
    stream = HeldStream(StreamFormat.GLOBAL, "/w", token=counter())
    stream.subscribed(A)
    first = frame({"type": "server.connected", "properties": {}})
    stream.relay(first, 0.0)
    stream.subscribed(B)  # silent: given up
    stream.subscribed(B)
    out = stream.relay(first, 1.0)
    assert [decoded(raw)["payload"]["type"] for raw in out[1:]] == ["server.instance.disposed"]
    assert stream.relay(first, 2.0) == [first]


def test_a_stream_opened_while_down_gets_no_resync() -> None:
    stream = HeldStream(StreamFormat.INSTANCE, None, token=counter())
    stream.subscribed(B)
    raw = frame({"type": "server.connected", "properties": {}})
    assert stream.relay(raw, 0.0) == [raw]


@pytest.mark.parametrize("fmt", [StreamFormat.INSTANCE, StreamFormat.API])
def test_instance_and_v2_streams_resync_on_the_new_servers_own_event(fmt: StreamFormat) -> None:
    """The server ends `/event` after `server.instance.disposed`: not sent there."""
    stream = HeldStream(fmt, "/w", token=counter())
    stream.subscribed(A)
    raw = frame({"type": "server.connected", "data": {}})
    stream.relay(raw, 0.0)
    stream.subscribed(B)
    assert stream.relay(raw, 1.0) == [raw]


def test_heartbeats_only_while_the_server_is_away_or_silent() -> None:
    stream = HeldStream(StreamFormat.INSTANCE, None, token=counter())
    assert stream.heartbeat_due(READY, upstream_live=True, now=100.0) is None
    assert stream.heartbeat_due(DOWN, upstream_live=False, now=100.0) is not None
    assert stream.heartbeat_due(DOWN, upstream_live=False, now=105.0) is None
    assert stream.next_heartbeat_at() == 100.0 + HEARTBEAT_S
    stalled = ServerView(State.STALLED, A)
    assert stream.heartbeat_due(stalled, upstream_live=True, now=110.0) is not None
    stream.relay(b"data: {}\n\n", 115.0)
    assert stream.heartbeat_due(READY, upstream_live=False, now=124.0) is None
    assert stream.heartbeat_due(READY, upstream_live=False, now=125.0) is not None


# -- splitting the body into events ---------------------------------------------------------------


def test_the_splitter_gives_whole_events_whatever_the_chunks() -> None:
    body = b"data: 1\n\ndata: 2\n\n: heartbeat\n\ndata: 3\n\n"
    for size in (1, 2, 3, 7, 12, len(body)):
        splitter = EventSplitter()
        blocks = [splitter.feed(body[start : start + size]) for start in range(0, len(body), size)]
        assert all(block.endswith(b"\n\n") for block in blocks if block)
        assert b"".join(blocks) == body
    assert EventSplitter().feed(body) is body  # a chunk of whole events passes uncopied


def test_a_chunk_gives_every_event_it_completes_in_one_block() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"data: 1\n\ndata: 2\n\ndata: ha") == b"data: 1\n\ndata: 2\n\n"
    assert splitter.feed(b"lf\n\ndata: 4") == b"data: half\n\n"
    assert splitter.feed(b"\n\n") == b"data: 4\n\n"


def test_crlf_lines_are_normalised() -> None:
    assert EventSplitter().feed(b"data: 1\r\n\r\n") == b"data: 1\n\n"


def test_an_oversized_event_passes_in_pieces_and_is_ended_on_a_new_upstream() -> None:
    splitter = EventSplitter(limit=10)
    assert splitter.feed(b"data: 0123456789") == b"data: 0123456789"
    assert splitter.inside_oversized
    assert splitter.reset() == b"\n\n"
    assert splitter.reset() == b""
    assert splitter.feed(b"data: half") == b""
    assert splitter.reset() == b""  # a half event never reached the client: dropped


def test_an_oversized_event_ends_with_the_chunk_that_ends_it() -> None:
    splitter = EventSplitter(limit=10)
    assert splitter.feed(b"data: 0123456789") == b"data: 0123456789"
    assert splitter.feed(b"more\n\ndata: 1\n\n") == b"more\n\ndata: 1\n\n"
    assert not splitter.inside_oversized


# -- credentials -----------------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_is_checked_on_both_parts() -> None:
    assert check_basic(basic("opencode", "public"), PUBLIC)
    assert check_basic(basic("opencode", "public").replace("Basic", "basic"), PUBLIC)
    for header in (
        basic("opencode", "wrong"),
        basic("other", "public"),
        basic("opencode", "publicx"),
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
        "Bearer x",
        "Basic",
        "",
        None,
    ):
        assert not check_basic(header, PUBLIC), header


def test_the_auth_token_is_base64_user_colon_password() -> None:
    token = base64.b64encode(b"opencode:public").decode()
    assert check_auth_token(token, PUBLIC)
    assert not check_auth_token(base64.b64encode(b"opencode:x").decode(), PUBLIC)
    assert not check_auth_token(None, PUBLIC)


def test_credentials_never_show_the_password() -> None:
    assert "public" not in repr(PUBLIC)
    assert PUBLIC.basic() == basic("opencode", "public")


def test_authenticate_names_the_proof_used() -> None:
    logins = BrowserLogins(token=counter())
    cookie, _ = logins.redeem(logins.issue("/", 0.0), 1.0) or ("", "")
    token = base64.b64encode(b"opencode:public").decode()
    assert authenticate(basic("opencode", "public"), None, None, PUBLIC, logins) is (AuthKind.BASIC)
    assert authenticate(None, token, None, PUBLIC, logins) is AuthKind.TOKEN
    assert authenticate(None, None, cookie, PUBLIC, logins) is AuthKind.COOKIE
    assert authenticate(basic("opencode", "bad"), None, cookie, PUBLIC, logins) is (AuthKind.COOKIE)
    assert authenticate(basic("opencode", "bad"), "bad", "bad", PUBLIC, logins) is None
    assert authenticate(None, None, None, PUBLIC, logins) is None


def test_unauthorized_is_what_the_server_answers() -> None:
    refusal = unauthorized()
    assert refusal.status == 401
    assert ("www-authenticate", 'Basic realm="Secure Area"') in refusal.headers


def test_the_doors_credentials_are_stripped_from_the_query() -> None:
    assert strip_query("auth_token=x&directory=%2Fw", ["auth_token"]) == "directory=%2Fw"
    assert strip_query("a=1&b=2", ["auth_token"]) == "a=1&b=2"
    assert strip_query("", ["auth_token"]) == ""


# -- the browser's one-time login -----------------------------------------------------------------


def test_a_login_is_good_once() -> None:
    logins = BrowserLogins(token=counter())
    token = logins.issue("http://127.0.0.1:4096/L3c/session/ses_1?auth_token=abc&x=1", 0.0)
    redeemed = logins.redeem(token, 1.0)
    assert redeemed is not None
    cookie, target = redeemed
    assert target == "/L3c/session/ses_1?x=1"
    assert logins.valid(cookie)
    assert logins.redeem(token, 2.0) is None
    assert logins.pending() == 0


def test_a_login_expires() -> None:
    logins = BrowserLogins(token=counter())
    token = logins.issue("/", 0.0)
    assert logins.pending() == 1
    assert logins.redeem(token, LOGIN_TTL_S) is None
    assert logins.pending() == 0


def test_unknown_tokens_and_cookies_are_refused() -> None:
    logins = BrowserLogins(token=counter())
    logins.issue("/", 0.0)
    assert logins.redeem("t999", 1.0) is None
    assert not logins.valid("t999")
    assert not logins.valid(None)
    assert not logins.valid("")


def test_a_rotation_revokes_every_login_and_cookie() -> None:
    logins = BrowserLogins(token=counter())
    pending = logins.issue("/", 0.0)
    cookie, _ = logins.redeem(logins.issue("/", 0.0), 0.0) or ("", "")
    logins.revoke_all()
    assert not logins.valid(cookie)
    assert logins.redeem(pending, 1.0) is None


@pytest.mark.parametrize(
    ("given", "target"),
    [
        ("/", "/"),
        ("", "/"),
        ("session", "/session"),
        ("//evil.example/x", "/x"),
        ("http://evil.example//other/x?auth_token=1", "/other/x"),
        ("/a?b=1&auth_token=2", "/a?b=1"),
    ],
)
def test_a_login_only_redirects_within_the_door(given: str, target: str) -> None:
    assert login_target(given) == target


def test_the_session_cookie_is_http_only_and_strict() -> None:
    header = cookie_header("v")
    assert header.startswith(f"{COOKIE_NAME}=v;")
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header
    assert "Path=/" in header


# -- the stats and restarts ------------------------------------------------------------------------


def test_the_stats_as_json() -> None:
    stats = DoorStats(url="http://127.0.0.1:4096", clients=3, last_hold_s=1.234)
    data = stats.to_json(True)
    assert data["enabled"] is True
    assert data["url"] == "http://127.0.0.1:4096"
    assert data["last_hold_s"] == 1.23
    assert set(data) == {
        "enabled",
        "url",
        "clients",
        "streams",
        "streams_held",
        "requests_held",
        "requests_relayed",
        "last_hold_s",
    }
    assert DoorStats().to_json(False)["last_hold_s"] is None


@pytest.mark.parametrize("rng", [0.0, 0.5, 0.999999])
def test_the_first_restart_goes_at_once_and_later_ones_back_off(rng: float) -> None:
    backoff = Backoff(1.0, 60.0)
    delays = [restart_delay(backoff, n, lambda: rng, first_at_once=True) for n in range(1, 9)]
    ceilings = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    assert delays == pytest.approx([0.0] + [c / 2 * (1 + rng) for c in ceilings])
    plain = [restart_delay(backoff, n, lambda: rng, first_at_once=False) for n in range(1, 8)]
    assert plain == pytest.approx([c / 2 * (1 + rng) for c in ceilings])


def test_behind_the_door_a_crash_after_a_stable_run_restarts_at_once() -> None:
    d = Driver(replace(Policy(), first_restart_at_once=True), rng=0.5)
    d.start()
    d.spawned()
    d.connect()
    d.idle(120.0)
    d.exited(-9)
    assert (d.state(), d.status.next_retry_in_s) == (State.CRASHED, 0.0)
    assert d.tick() == [Spawn(2)]
    d.spawned()
    d.exited(-9)  # the second crash in a row backs off from the base
    assert d.status.next_retry_in_s == pytest.approx(0.75)
    for _ in range(3):
        d.next_tick()
        d.spawned()
        d.exited(-9)
    assert d.state() is State.FAILED  # the breaker still trips at 5 crashes


@pytest.mark.parametrize(
    ("length", "refused"), [(None, False), (0, False), (10, False), (11, True)]
)
def test_a_declared_body_over_the_bound_is_refused_with_its_size(
    length: int | None, refused: bool
) -> None:
    answer = body_too_large(length, 10)
    assert (answer is not None) is refused
    if answer is not None:
        assert (answer.status, answer.name) == (413, "PayloadTooLarge")
        assert "request body of 11 bytes" in answer.message
        assert "10 bytes at most" in answer.message


def test_too_many_connections_names_the_bound() -> None:
    answer = too_many_connections(256)
    assert (answer.status, answer.name) == (503, "TooManyConnections")
    assert "256 connections" in answer.message


@pytest.mark.parametrize(
    ("method", "path", "needs"),
    [
        ("GET", "/site.webmanifest", False),
        ("HEAD", "/site.webmanifest", False),
        ("POST", "/site.webmanifest", True),
        ("GET", "/site.webmanifest/x", True),
        ("GET", "/favicon-v3.svg", True),  # the browser sends the cookie for these
        ("GET", "/session", True),
        ("GET", "/", True),
    ],
)
def test_only_what_browsers_fetch_without_credentials_is_let_in_without(
    method: str, path: str, needs: bool
) -> None:
    assert needs_credentials(method, path) is needs
