"""Wedged requests: a server whose event stream beats on while its requests hang is restarted
with cause `requests_hang`, like a hung server. A small fake upstream shows the fault (the real
server cannot be made to), as a fake `opencode` binary run by the real engine."""

from __future__ import annotations

import asyncio
import stat
import sys
from pathlib import Path

import pytest

from tests.engine.helpers import LaunchFactory, running
from tests.health import wedged_server
from tests.health.conftest import FAST_HEALTH, SLOW_TEST_S, WAIT_S
from tray.core.causes import CauseKind

# Each starts a server more than once: minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(SLOW_TEST_S)
QUIET_TICKS = 10
HANG_S = 1.5  # the fake answers at once or never


@pytest.fixture
def fake_binary(tmp_path: Path) -> str:
    path = tmp_path / "bin" / "opencode"
    path.parent.mkdir()
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{wedged_server.__file__}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def test_requests_that_hang_while_heartbeats_go_on_restart_the_server(
    make_launch: LaunchFactory, fake_binary: str
) -> None:
    launch = make_launch(
        opencode_path=fake_binary,
        extra_env={"FAKE_HANG": "1"},
        **{**FAST_HEALTH, "request_hang_s": HANG_S},
    )
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        hung = await h.wait_for(
            "requests_hang",
            lambda s: s.cause is not None and s.cause.kind is CauseKind.REQUESTS_HANG,
            within=WAIT_S,
        )
        assert hung.cause is not None
        assert hung.cause.text == (
            f"requests hang: /global/health got no answer for "
            f"{HANG_S:.0f} s while the event stream went on; "
            "restarting the server"
        )
        assert [i.cause.kind for i in hung.incidents] == [CauseKind.REQUESTS_HANG]
        after = await h.connected_to_a_new_server(first, within=WAIT_S)
        assert after.restarts == 1


async def test_a_server_that_answers_is_left_alone(
    make_launch: LaunchFactory, fake_binary: str
) -> None:
    launch = make_launch(opencode_path=fake_binary, **{**FAST_HEALTH, "request_hang_s": HANG_S})
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        await asyncio.sleep(QUIET_TICKS * FAST_HEALTH["health_interval_s"])
        now = h.engine.status()
        assert (now.pid, now.restarts, now.incidents) == (first.pid, 0, ())
