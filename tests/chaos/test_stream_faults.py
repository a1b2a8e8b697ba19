"""Faults between the engine and the real server, made by a proxy in between (`client_url`):
the event stream reset or blackholed in the middle of an event, ended cleanly, fed garbage and
oversized events; a 401 once the password changed; 500s from REST while the engine resyncs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from functools import partial

import pytest

from tests.chaos.helpers import (
    HEARTBEAT_TIMEOUT_S,
    Sessions,
    assert_incidents,
    chaos_run,
    watch_closely,
)
from tests.chaos.proxy import ChaosProxy, Cut
from tests.engine.helpers import START_S, Harness, LaunchFactory
from tests.support.credentials import fresh_password
from tests.support.waiting import wait_until
from tray.core.causes import CauseKind
from tray.core.status import State, Status
from tray.engine.launch import ServerLaunch
from tray.engine.server_password import ServerPassword
from tray.engine.stream import MAX_EVENT_BYTES

# Several server starts each, and each start takes seconds more on a busy machine.
pytestmark = [pytest.mark.chaos, pytest.mark.server, pytest.mark.timeout(300)]

# Until the event a poke makes reaches the proxy (the poke already has its answer).
CUT_S = 15.0


@pytest.fixture
async def proxy(free_port: int) -> AsyncIterator[ChaosProxy]:
    """A proxy in front of the port the test's server listens on."""
    async with ChaosProxy(free_port) as chaos:
        yield chaos


def through(proxy: ChaosProxy, make_launch: LaunchFactory) -> ServerLaunch:
    return replace(make_launch(), client_url=proxy.url)


async def recovered(harness: Harness, incidents: int) -> Status:
    """Connected again after `incidents` incidents in all, the last one over (a blackholed
    stream first waits out the heartbeat timeout)."""
    return await harness.wait_for(
        f"recovery from incident {incidents}",
        lambda s: (
            s.state is State.CONNECTED and len(s.incidents) == incidents and s.open_incident is None
        ),
        HEARTBEAT_TIMEOUT_S + START_S,
    )


async def strike(
    proxy: ChaosProxy, sessions: Sessions, how: Cut, before_cut: Callable[[], None] = lambda: None
) -> None:
    """Cut the event stream in the way asked, at an event the server sends right now (for a
    poke). The cut waits until the poke has its answer, then `before_cut` runs: whatever the
    fault sets off, a server restart say, never meets the test's own request."""
    proxy.cut_stream(how, held=True)
    await sessions.poke()
    before_cut()
    proxy.release_cut()
    await asyncio.wait_for(proxy.cut_done(), CUT_S)


@dataclass(frozen=True)
class CutCase:
    how: Cut
    kind: CauseKind  # the cause each incident must report
    times: int


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(CutCase(Cut.RESET, CauseKind.STREAM_BROKEN, 3), id="reset-mid-event"),
        pytest.param(CutCase(Cut.CLOSE, CauseKind.STREAM_CLOSED, 2), id="clean-close"),
        pytest.param(
            CutCase(Cut.BLACKHOLE, CauseKind.HEARTBEAT_MISSED, 2), id="blackhole-mid-event"
        ),
    ],
)
async def test_the_stream_cut_again_and_again(
    make_launch: LaunchFactory, proxy: ChaosProxy, caplog: pytest.LogCaptureFixture, case: CutCase
) -> None:
    async with chaos_run(through(proxy, make_launch), caplog) as harness:
        first = await harness.connected()
        sessions = Sessions.of(harness)
        before = await sessions.create()
        if case.how is Cut.BLACKHOLE:  # only the heartbeat watchdog notices a silent stream
            watch_closely(harness)
        for n in range(1, case.times + 1):
            await strike(proxy, sessions, case.how)
            again = await recovered(harness, n)
            assert (again.pid, again.restarts) == (first.pid, 0)
            assert proxy.stream_links() == 1
        assert_incidents(harness, *[case.kind] * case.times)
        await sessions.assert_kept(before)


GARBAGE = (
    b"data: this is not JSON {\n\n",
    b"data: " + json.dumps({"payload": {"kind": "no type"}}).encode() + b"\n\n",
    b"data: " + b"x" * (MAX_EVENT_BYTES + 1024) + b"\n\n",  # one oversized line
    b"".join(b"data: " + b"y" * (1024 * 1024) + b"\n" for _ in range(5)) + b"\n",  # in 5 lines
    b"data: \xff\xfe not UTF-8\n\n",
    b": a comment, which is no event\n\n",
)


async def test_garbage_and_oversized_events_are_skipped_without_an_incident(
    make_launch: LaunchFactory, proxy: ChaosProxy, caplog: pytest.LogCaptureFixture
) -> None:
    async with chaos_run(through(proxy, make_launch), caplog) as harness:
        first = await harness.connected()
        sessions = Sessions.of(harness)
        before = await sessions.create()
        for _ in range(2):
            proxy.inject(*GARBAGE)
            after = await sessions.poke()  # its event comes behind the garbage
            await wait_until(
                partial(_listed, harness, after), "the event after the garbage", START_S
            )
        status = harness.engine.status()
        assert (status.state, status.pid, status.restarts) == (State.CONNECTED, first.pid, 0)
        assert_incidents(harness)
        await sessions.assert_kept(before)
    skipped = [r.getMessage() for r in caplog.records if "skipping garbage" in r.getMessage()]
    assert len(skipped) == 3  # the first three are logged (then every thousandth)
    assert "an event over the size limit" in skipped[2]


async def test_a_401_after_the_password_changed_restarts_the_server_with_the_new_one(
    make_launch: LaunchFactory, proxy: ChaosProxy, caplog: pytest.LogCaptureFixture
) -> None:
    async with chaos_run(through(proxy, make_launch), caplog) as harness:
        status = await harness.connected()
        sessions = Sessions.of(harness)
        before = await sessions.create()
        for n in range(1, 3):
            # Caught up with the server it connected to (the first connection has no gap to
            # resync; later ones each log theirs).
            await wait_until(partial(_resynced, caplog, n - 1), f"resync {n - 1}", START_S)
            # The stream reconnects at once, with a password the server was not started with
            # (as if it had been changed behind the server's back).
            new = fresh_password()
            mark = len(harness.seen)
            await strike(proxy, sessions, Cut.RESET, partial(_use_password, harness, new))
            status = await harness.connected_to_a_new_server(status)
            assert status.restarts == n
            crashed = [s.status for s in harness.seen[mark:] if s.status.state is State.CRASHED]
            assert crashed, harness.trail()
            assert crashed[0].cause is not None
            assert crashed[0].cause.kind is CauseKind.WRONG_PASSWORD
        assert_incidents(harness, CauseKind.WRONG_PASSWORD, CauseKind.WRONG_PASSWORD)
        await sessions.assert_kept(before)


# The resync asks /session/status, then /session: the first try fails at the first, the second
# at the second, the third goes through.
RESYNC_FAILURES = {"/session/status": 1, "/session": 1}


async def test_500s_during_the_resync_are_retried(
    make_launch: LaunchFactory, proxy: ChaosProxy, caplog: pytest.LogCaptureFixture
) -> None:
    async with chaos_run(through(proxy, make_launch), caplog) as harness:
        first = await harness.connected()
        sessions = Sessions.of(harness)
        before = await sessions.create()
        for n in range(1, 3):
            await strike(proxy, sessions, Cut.RESET)
            # Now, not before: the connection before and its resync are over (on a busy machine
            # a slow one may still be retrying), so the failures are all the reconnect's.
            proxy.fail(RESYNC_FAILURES)
            await recovered(harness, n)
            await wait_until(partial(_resynced, caplog, n), f"resync {n}", START_S)
        status = harness.engine.status()
        assert (status.state, status.pid, status.restarts) == (State.CONNECTED, first.pid, 0)
        assert status.last_gap_s is not None
        assert {s.id for s in harness.engine.snapshot().recent_sessions} >= set(before)
        assert_incidents(harness, CauseKind.STREAM_BROKEN, CauseKind.STREAM_BROKEN)
        await sessions.assert_kept(before)
    # Counted by their text: a request timing out on a busy machine may come in between.
    injected = [
        int(r.getMessage().split()[2])
        for r in caplog.records
        if r.getMessage().endswith("failed: HTTP error 500: Injected")
    ]
    assert len(injected) == 2 * sum(RESYNC_FAILURES.values()), injected
    first_try, second_try = injected[0::2], injected[1::2]
    assert all(a < b for a, b in zip(first_try, second_try, strict=True)), injected


def _use_password(harness: Harness, password: ServerPassword) -> None:
    harness.engine._passwords.use(password, now=True)


def _listed(harness: Harness, session_id: str) -> bool:
    return session_id in {s.id for s in harness.engine.snapshot().recent_sessions}


def _resynced(caplog: pytest.LogCaptureFixture, times: int) -> bool:
    return sum("resynced after" in r.getMessage() for r in caplog.records) == times
