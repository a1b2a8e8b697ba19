"""Faults of the real server process, each several times in a row: killed, frozen past the
heartbeat timeout, deaf to SIGTERM, its port taken by another program, slow to start, and so
slow to start that the crash-loop breaker gives up."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.chaos.helpers import (
    HEARTBEAT_TIMEOUT_S,
    Sessions,
    assert_incidents,
    chaos_run,
    notices,
    watch_closely,
    wrapper,
)
from tests.engine.helpers import START_S, LaunchFactory
from tests.support.processes import DEATH_S, frozen, wait_dead
from tray.core.causes import CauseKind
from tray.core.status import State

# Several server starts each, and each start takes seconds more on a busy machine.
pytestmark = [pytest.mark.chaos, pytest.mark.server, pytest.mark.timeout(300)]


async def test_sigkill_again_and_again(
    make_launch: LaunchFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with chaos_run(make_launch(), caplog) as harness:
        status = await harness.connected()
        sessions = Sessions.of(harness)
        before = await sessions.create()
        for _ in range(3):
            assert status.pid is not None
            os.kill(status.pid, signal.SIGKILL)
            crashed = await harness.wait_state(State.CRASHED)
            assert crashed.cause is not None
            assert crashed.cause.text == "server killed by SIGKILL"
            await wait_dead(status.pid)
            status = await harness.connected_to_a_new_server(status)
        assert status.restarts == 3
        assert_incidents(harness, *[CauseKind.KILLED_BY_SIGNAL] * 3)
        await sessions.assert_kept(before)
    # Killed right after each reconnect, in the middle of its resync: that resync ends with its
    # connection, rather than asking the next server while it starts.
    stale = [r.getMessage() for r in caplog.records if "connection refused" in r.getMessage()]
    assert stale == []


async def test_frozen_past_the_heartbeat_timeout_then_thawed(
    make_launch: LaunchFactory, caplog: pytest.LogCaptureFixture
) -> None:
    launch = make_launch(hung_restart_after_s=120.0)
    loop = asyncio.get_running_loop()
    async with chaos_run(launch, caplog) as harness:
        first = await harness.connected()
        assert first.pid is not None
        sessions = Sessions.of(harness)
        before = await sessions.create()
        watch_closely(harness)
        for _ in range(2):
            stopped_at = loop.time()
            with frozen(first.pid):
                stalled = await harness.wait_state(State.STALLED, HEARTBEAT_TIMEOUT_S + START_S)
                assert stalled.cause is not None
                assert stalled.cause.kind is CauseKind.HEARTBEAT_MISSED
                assert stalled.last_event_at is not None
                assert stalled.now - stalled.last_event_at >= HEARTBEAT_TIMEOUT_S
                await asyncio.sleep(max(0.0, stopped_at + HEARTBEAT_TIMEOUT_S - loop.time()))
            again = await harness.connected()
            assert (again.pid, again.restarts) == (first.pid, 0)
        assert_incidents(harness, CauseKind.HEARTBEAT_MISSED, CauseKind.HEARTBEAT_MISSED)
        await sessions.assert_kept(before)


async def test_a_server_deaf_to_sigterm_is_killed_at_each_stop(
    make_launch: LaunchFactory,
    opencode_binary: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deaf, _ = wrapper(tmp_path, opencode_binary, ignore_term=True)
    grace_s = 1.0
    launch = make_launch(opencode_path=deaf, stop_grace_s=grace_s)
    loop = asyncio.get_running_loop()
    async with chaos_run(launch, caplog) as harness:
        status = await harness.connected()
        sessions = Sessions.of(harness)
        before = await sessions.create()
        for _ in range(2):
            assert status.pid is not None
            asked = loop.time()
            harness.engine.restart()
            await wait_dead(status.pid, within=grace_s + DEATH_S)
            assert loop.time() - asked >= grace_s * 0.95, "it should have ignored SIGTERM"
            status = await harness.connected_to_a_new_server(status)
        assert_incidents(harness)  # restarts the user asked for: no incident, no notification
        await sessions.assert_kept(before)
    escalated = [r for r in caplog.records if "ignored SIGTERM" in r.getMessage()]
    assert len(escalated) == 3  # two restarts and the final stop


_LISTEN_WHEN_FREE = """
import socket, sys, time
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
waiting = False
while True:
    try:
        sock.bind(("127.0.0.1", int(sys.argv[1])))
        break
    except OSError:
        if not waiting:
            print("waiting", flush=True)
            waiting = True
        time.sleep(0.002)
sock.listen()
print("bound", flush=True)
sys.stdin.read()
"""


async def test_the_port_taken_by_another_program_at_restart(
    make_launch: LaunchFactory, caplog: pytest.LogCaptureFixture
) -> None:
    launch = make_launch(crash_loop_limit=50, restart_backoff_min_s=1.0)
    port = launch.settings.port
    async with chaos_run(launch, caplog) as harness:
        status = await harness.connected()
        sessions = Sessions.of(harness)
        before = await sessions.create()
        for _ in range(2):
            assert status.pid is not None
            # Waits for the port, and takes it the moment the server lets go of it.
            squatter = await asyncio.create_subprocess_exec(
                *(sys.executable, "-c", _LISTEN_WHEN_FREE, str(port)),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            try:
                assert squatter.stdout is not None
                # Already trying when the server dies, however slowly Python starts.
                said = await asyncio.wait_for(squatter.stdout.readline(), START_S)
                assert said == b"waiting\n"
                os.kill(status.pid, signal.SIGKILL)
                said = await asyncio.wait_for(squatter.stdout.readline(), START_S)
                assert said == b"bound\n"
                taken = await harness.wait_state(
                    State.CRASHED,
                    where=lambda s: s.cause is not None and s.cause.kind is CauseKind.PORT_IN_USE,
                )
                assert taken.cause is not None
                assert f"port {port} is in use by python" in taken.cause.text
                assert f"(pid {squatter.pid})" in taken.cause.text
            finally:
                squatter.kill()
                await squatter.wait()
            status = await harness.connected_to_a_new_server(status)
        assert_incidents(harness, CauseKind.PORT_IN_USE, CauseKind.PORT_IN_USE)
        await sessions.assert_kept(before)


async def test_slow_starts_within_the_startup_timeout(
    make_launch: LaunchFactory,
    opencode_binary: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slow_s = 2.0
    slow, _ = wrapper(tmp_path, opencode_binary, delays=[slow_s] * 3)
    launch = make_launch(opencode_path=slow, startup_timeout_s=slow_s + START_S)
    loop = asyncio.get_running_loop()
    async with chaos_run(launch, caplog) as harness:
        status = await harness.connected()
        sessions = Sessions.of(harness)
        before = await sessions.create()
        for _ in range(2):
            assert status.pid is not None
            killed = loop.time()
            os.kill(status.pid, signal.SIGKILL)
            status = await harness.connected_to_a_new_server(status)
            assert loop.time() - killed >= slow_s
        assert_incidents(harness, CauseKind.KILLED_BY_SIGNAL, CauseKind.KILLED_BY_SIGNAL)
        await sessions.assert_kept(before)


async def test_starts_slower_than_the_timeout_trip_the_breaker_until_the_user_restarts(
    make_launch: LaunchFactory,
    opencode_binary: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    timeout_s, limit = 3.0, 3
    slow, set_delays = wrapper(tmp_path, opencode_binary, delays=[timeout_s + 5] * limit)
    launch = make_launch(opencode_path=slow, startup_timeout_s=timeout_s, crash_loop_limit=limit)
    async with chaos_run(launch, caplog) as harness:
        first = await harness.wait_state(State.CRASHED)
        assert first.cause is not None
        assert first.cause.kind is CauseKind.STARTUP_TIMEOUT
        assert first.cause.text.startswith("startup timed out after 3 s")
        failed = await harness.wait_state(State.FAILED, within=limit * timeout_s + START_S)
        assert failed.cause is not None
        assert failed.cause.kind is CauseKind.CRASH_LOOP
        assert f"gave up after {limit} crashes" in failed.cause.text
        assert "last: startup timed out" in failed.cause.text
        # Given up means given up: the last server is stopped, and nothing more is tried.
        await harness.wait_state(State.FAILED, where=lambda s: s.pid is None)
        published = len(harness.seen)
        await asyncio.sleep(1.0)
        assert len(harness.seen) == published, harness.trail()
        assert_incidents(harness, CauseKind.CRASH_LOOP, recovered=False)
        [shown] = notices(harness.seen, launch.settings).values()
        assert shown[-1].critical
        assert shown[-1].title == "opencode server gave up"
        # The user fixes what was slow (a start of the real server may take longer than 3 s on
        # a busy machine: the timeout goes back to normal), then asks for a restart.
        set_delays([])
        harness.engine.apply_settings(replace(launch.settings, startup_timeout_s=START_S))
        harness.engine.restart()
        again = await harness.connected()
        assert again.incidents[-1].recovered
        assert_incidents(harness, CauseKind.CRASH_LOOP)
