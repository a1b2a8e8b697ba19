"""Faults of the real server process: killed, frozen, frozen for good."""

from __future__ import annotations

import os
import signal

import pytest

from tests.engine.helpers import START_S, LaunchFactory, running
from tests.support.credentials import fresh_password
from tests.support.processes import frozen, wait_dead
from tray.core.causes import CauseKind
from tray.core.status import State

# Heartbeat timeouts and restarts; a start is slow on a busy machine.
pytestmark = [pytest.mark.server, pytest.mark.timeout(300)]


async def test_sigkill_restarts_the_server_and_reconnects(make_launch: LaunchFactory) -> None:
    async with running(make_launch()) as harness:
        first = await harness.connected()
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        crashed = await harness.wait_state(State.CRASHED)
        assert crashed.cause is not None
        assert crashed.cause.kind is CauseKind.KILLED_BY_SIGNAL
        assert crashed.cause.text == "server killed by SIGKILL"
        again = await harness.connected_to_a_new_server(first)
        assert again.restarts == 1
        incident = again.incidents[-1]
        assert incident.recovered
        assert incident.cause.kind is CauseKind.KILLED_BY_SIGNAL
        assert 0 < incident.duration(again.now) < START_S
        await wait_dead(first.pid)


HEARTBEAT_TIMEOUT_S = 12.0  # the server beats every 10 s


async def test_sigstop_is_detected_as_stalled_and_sigcont_reconnects(
    make_launch: LaunchFactory,
) -> None:
    launch = make_launch(heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S, hung_restart_after_s=120.0)
    async with running(launch) as harness:
        first = await harness.connected()
        assert first.pid is not None
        with frozen(first.pid):
            stalled = await harness.wait_state(State.STALLED, HEARTBEAT_TIMEOUT_S + START_S)
            assert stalled.cause is not None
            assert stalled.cause.kind is CauseKind.HEARTBEAT_MISSED
            assert stalled.last_event_at is not None
            assert stalled.now - stalled.last_event_at >= HEARTBEAT_TIMEOUT_S
        again = await harness.connected()
        assert again.pid == first.pid
        assert again.restarts == 0
        assert again.incidents[-1].recovered


async def test_sigstop_past_the_hung_limit_restarts_the_server(make_launch: LaunchFactory) -> None:
    hung_after_s = HEARTBEAT_TIMEOUT_S + 3
    launch = make_launch(
        heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S, hung_restart_after_s=hung_after_s, stop_grace_s=1.0
    )
    async with running(launch) as harness:
        first = await harness.connected()
        assert first.pid is not None
        with frozen(first.pid):
            await harness.wait_state(State.STALLED, HEARTBEAT_TIMEOUT_S + START_S)
            crashed = await harness.wait_state(State.CRASHED, hung_after_s + START_S)
            assert crashed.cause is not None
            assert crashed.cause.kind is CauseKind.SERVER_HUNG
            await wait_dead(first.pid)
        again = await harness.connected_to_a_new_server(first)
        assert again.restarts == 1
        assert again.incidents[-1].cause.kind is CauseKind.SERVER_HUNG


async def test_a_wrong_password_restarts_the_server_with_the_right_one(
    make_launch: LaunchFactory,
) -> None:
    # A short heartbeat timeout: the stream reconnects after 2 s without events, which
    # is how the client comes to send its password again.
    async with running(make_launch(heartbeat_timeout_s=2.0)) as harness:
        first = await harness.connected()
        assert first.pid is not None
        # The client now sends a password the running server was not started with (as if it had
        # been rotated behind the server's back); the next start passes it on.
        new = fresh_password()
        harness.engine._passwords.use(new, now=True)
        crashed = await harness.wait_state(State.CRASHED)
        assert crashed.cause is not None
        assert crashed.cause.kind is CauseKind.WRONG_PASSWORD
        again = await harness.connected_to_a_new_server(first)
        assert again.restarts == 1
        assert again.incidents[-1].cause.kind is CauseKind.WRONG_PASSWORD
        assert again.incidents[-1].recovered
        await wait_dead(first.pid)
