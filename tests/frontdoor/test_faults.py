"""Faults behind the front door, seen by a strict client on the public URL: no transport error,
held requests answered once the new server is ready, every later event delivered, and the
endings that only the door can tell (a killed turn, the app giving up, the app quitting)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.mock_model import config_content, listen
from tests.engine.helpers import LaunchFactory
from tests.frontdoor.helpers import LOADED_S, DoorUnderTest, StrictClient, door_over
from tests.support.waiting import wait_until
from tray.core.causes import CauseKind
from tray.core.door.phases import Credentials
from tray.core.status import State, Status
from tray.engine.server_password import ServerPassword

pytestmark = [pytest.mark.server, pytest.mark.timeout(600)]

# The server beats every 10 s: a watchdog waits longer; then the hung limit restarts it.
HUNG = {"heartbeat_timeout_s": 13.0, "hung_restart_after_s": 2.0}


@contextlib.asynccontextmanager
async def door(make_launch: LaunchFactory, **settings: Any) -> AsyncIterator[DoorUnderTest]:
    async with door_over(make_launch(**settings)) as running:
        await running.ready()
        yield running


async def held_calls(client: StrictClient) -> list[httpx.Response]:
    """REST calls made while the server is away: held, then answered by the new server."""
    return list(
        await asyncio.gather(
            client.call("GET", "/session"),
            client.call("POST", "/session", json={"title": "made while down"}),
            client.call("GET", "/global/health"),
        )
    )


def away(status: Status) -> bool:
    """The engine no longer counts the server as connected (stalled, or already restarting)."""
    return status.state is not State.CONNECTED


def resynced(client: StrictClient, marks: dict[str, int]) -> bool:
    """Each stream got the new server's `server.connected`, and `/global/event` then the
    resync event the TUI acts on."""
    for path in client.PATHS:
        kinds = [e["type"] for e in client.after(marks, path)]
        if "server.connected" not in kinds:
            return False
        after = kinds[kinds.index("server.connected") :]
        if path == "/global/event" and "server.instance.disposed" not in after:
            return False
    return True


async def test_sigkill(make_launch: LaunchFactory) -> None:
    async with door(make_launch) as running, StrictClient(running) as client:
        for _ in range(2):
            old = running.harness.engine.status()
            marks = client.marks()
            running.kill()
            await running.gone(old)
            answers = await held_calls(client)
            assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
            await running.back_after(old)
            await wait_until(partial(resynced, client, marks), "the resync events", 30.0)
            await client.sees_new_sessions()
        assert client.errors == []
        assert not any(client.ended.values())
        assert running.door.stats().last_hold_s is not None


async def test_sigstop_past_the_hung_limit(make_launch: LaunchFactory) -> None:
    async with door(make_launch, **HUNG) as running, StrictClient(running) as client:
        old = running.harness.engine.status()
        marks = client.marks()
        pid = running.freeze()
        try:
            # Sent before anyone knows the server is frozen: forwarded, and stuck in it.
            stuck_get = asyncio.create_task(client.call("GET", "/session"))
            stuck_post = asyncio.create_task(client.call("POST", "/session", json={}))
            await running.harness.wait_for("the hang seen", away, within=60)
            held = asyncio.create_task(client.call("GET", "/session"))
            await running.back_after(old)
        finally:
            running.thaw(pid)
        assert (await stuck_get).status_code == 200  # retried once on the new server
        refused = await stuck_post
        assert refused.status_code == 503
        message = refused.json()["data"]["message"]
        assert "POST /session was cut off" in message, message
        assert (await held).status_code == 200
        await wait_until(lambda: resynced(client, marks), "the resync events", 30.0)
        await client.sees_new_sessions()
        # The door beat for the server while it was frozen.
        beats = [e for e in client.after(marks, "/event") if e["type"] == "server.heartbeat"]
        assert beats
        assert client.errors == []


async def test_restart(make_launch: LaunchFactory) -> None:
    async with door(make_launch) as running, StrictClient(running) as client:
        for _ in range(2):
            old = running.harness.engine.status()
            marks = client.marks()
            running.restart()
            answers = await held_calls(client)
            assert [a.status_code for a in answers] == [200, 200, 200]
            await running.back_after(old)
            await wait_until(partial(resynced, client, marks), "the resync events", 30.0)
            await client.sees_new_sessions()
        assert client.errors == []


async def test_a_memory_limit_restart(make_launch: LaunchFactory) -> None:
    """A health restart (here the memory limit; a changed binary takes the same path) is as
    invisible to clients as the user's own restart."""
    fast = {"health_interval_s": 0.3, "memory_limit_mb": 0}
    async with door(make_launch, **fast) as running, StrictClient(running) as client:
        engine = running.harness.engine
        old = engine.status()
        marks = client.marks()
        measured = await running.harness.wait_for(
            "a memory sample", lambda s: s.health.memory_mb is not None, within=LOADED_S
        )
        assert measured.health.memory_mb is not None
        # A server that did no work is not restarted for memory (a new one would be as big):
        # this one makes a session, and is then restarted as soon as it is over the limit.
        await running.harness.heard_of_a_session(client.new_session, within=LOADED_S)
        limit = max(1, round(measured.health.memory_mb / 2))  # the idle server is over it at once
        engine.apply_settings(replace(engine.launch.settings, memory_limit_mb=limit))
        await running.harness.wait_for(
            "a restart for memory",
            lambda s: s.cause is not None and s.cause.kind is CauseKind.MEMORY_LIMIT,
            within=LOADED_S,
        )
        engine.apply_settings(replace(engine.launch.settings, memory_limit_mb=0))
        answers = await held_calls(client)
        assert [a.status_code for a in answers] == [200, 200, 200]
        back = await running.back_after(old)
        assert back.incidents[-1].cause.kind is CauseKind.MEMORY_LIMIT
        await wait_until(lambda: resynced(client, marks), "the resync events", 30.0)
        await client.sees_new_sessions()
        assert client.errors == []


async def test_the_breaker_giving_up_ends_streams_and_refuses(make_launch: LaunchFactory) -> None:
    async with door(make_launch, crash_loop_limit=2) as running, StrictClient(running) as client:
        old = running.harness.engine.status()
        running.kill()
        await running.back_after(old)
        held = asyncio.create_task(client.call("GET", "/session"))
        await asyncio.sleep(0)
        running.kill()
        failed = await running.harness.wait_state(State.FAILED, within=LOADED_S)
        assert failed.cause is not None
        assert failed.cause.kind is CauseKind.CRASH_LOOP
        refused = await held
        assert refused.status_code in (200, 503)
        later = await client.call("GET", "/session")
        assert later.status_code == 503
        message = later.json()["data"]["message"]
        assert "gave up" in message
        assert failed.cause.text in message
        await wait_until(lambda: all(client.ended.values()), "the streams to end", 30.0)
        assert client.errors == []


async def test_the_app_quitting_ends_streams_cleanly(make_launch: LaunchFactory) -> None:
    async with door(make_launch, **HUNG) as running, StrictClient(running) as client:
        running.freeze()  # requests made now are held ...
        await running.harness.wait_for("the hang seen", away, within=60)
        held = asyncio.create_task(client.call("GET", "/session"))
        await asyncio.sleep(0.2)
        await running.harness.engine.shutdown()  # ... and answered when the app quits
        await running.door.close()
        refused = await held
        assert refused.status_code == 503
        assert "stopped" in refused.json()["data"]["message"]
        await wait_until(lambda: all(client.ended.values()), "the streams to end", 30.0)
        assert client.errors == []


async def test_a_bad_password_is_refused_at_once_and_nothing_held(
    make_launch: LaunchFactory,
) -> None:
    async with door(make_launch, **HUNG) as running:
        pid = running.freeze()
        try:
            await running.harness.wait_for("the hang seen", away, within=60)
            async with httpx.AsyncClient(
                base_url=running.url, auth=("opencode", "wrong"), timeout=5
            ) as bad:
                for path in ("/session", "/global/event", "/global/health"):
                    answer = await bad.get(path)
                    assert answer.status_code == 401, path
                    assert answer.headers["www-authenticate"] == 'Basic realm="Secure Area"'
                answer = await bad.get("/session", params={"auth_token": "b3BlbmNvZGU6d3Jvbmc="})
                assert answer.status_code == 401
            assert running.door.stats().requests_held == 0
            assert running.door.stats().streams == 0
        finally:
            running.thaw(pid)


@pytest.mark.parametrize("through", ["door", "engine"])
async def test_a_rotation_ends_what_the_old_password_opened(
    make_launch: LaunchFactory, through: str
) -> None:
    """Told to the door itself, or as the app rotates: the engine's new password, which the
    feed pushes to the door (the door polls nothing)."""
    async with door(make_launch) as running, StrictClient(running) as client:
        pid = running.server_pid()
        new = Credentials(running.username, "rotated-password")
        if through == "door":
            running.door.set_credentials(new)
        else:
            running.harness.engine.set_password(ServerPassword(new.password, persistent=False))
        await wait_until(lambda: all(client.ended.values()), "the old streams to end", 30.0)
        assert (await client.call("GET", "/session")).status_code == 401
        async with httpx.AsyncClient(
            base_url=running.url, auth=(new.username, new.password), timeout=30
        ) as fresh:
            assert (await fresh.get("/session")).status_code == 200
        assert running.server_pid() == pid  # no server restart
        assert client.errors == []


@pytest.fixture
async def slow_model(tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    """The offline model, streaming slowly: a turn stays busy long enough to kill the server."""
    workdir = tmp_path / "model"
    workdir.mkdir()
    (workdir / "mode").write_text("slow")
    server = await listen(workdir)
    try:
        yield server.sockets[0].getsockname()[1], workdir
    finally:
        server.close()  # not wait_closed: a slow answer to a killed server may still be going


async def test_a_turn_killed_by_a_crash_is_ended_for_its_clients(
    make_launch: LaunchFactory, slow_model: tuple[int, Path]
) -> None:
    port, _workdir = slow_model
    async with (
        door(make_launch, extra_env={"OPENCODE_CONFIG_CONTENT": config_content(port)}) as running,
        StrictClient(running) as client,
    ):
        sid = await client.new_session()
        body = {"parts": [{"type": "text", "text": "take your time"}]}
        sent = await client.call("POST", f"/session/{sid}/prompt_async", json=body)
        assert sent.status_code == 204, sent.text

        def busy(path: str) -> bool:
            return any(
                e["type"] == "session.status"
                and e["properties"]["sessionID"] == sid
                and e["properties"]["status"]["type"] == "busy"
                for e in client.after({path: 0}, path)
            )

        await wait_until(lambda: all(busy(p) for p in client.PATHS), "the turn busy", 60)
        marks = client.marks()
        running.kill()

        def ended(path: str) -> list[str]:
            """The session's events from the first error on: what the server sent of the turn
            before it died (session.updated, session.diff) may come first."""
            types = [
                e["type"]
                for e in client.after(marks, path)
                if e["type"].startswith("session.") and e["properties"].get("sessionID") == sid
            ]
            return types[types.index("session.error") :] if "session.error" in types else []

        try:
            await wait_until(
                lambda: all(
                    ended(p)[:3] == ["session.error", "session.status", "session.idle"]
                    for p in client.PATHS
                ),
                "the turn's end on every stream",
                30.0,
            )
        except AssertionError as missed:
            seen = {p: ended(p) for p in client.PATHS}
            raise AssertionError(f"{missed}; the session's events since the kill: {seen}") from None
        error = next(e for e in client.after(marks, "/event") if e["type"] == "session.error")
        assert "SIGKILL" in error["properties"]["error"]["data"]["message"]
        assert client.errors == []
