"""Stuck turns: a busy session with no event for the (shortened) limit is stuck, shown once per
session; nothing is aborted without the user's click; Abort ends the turn on the real server.
The mock model never sends its first chunk."""

from __future__ import annotations

import asyncio

import pytest

from tests.engine.helpers import LaunchFactory, running
from tests.health.conftest import (
    FAST_HEALTH,
    SLOW_TEST_S,
    WAIT_S,
    Model,
    busy_on_server,
    new_turn,
    rest,
)
from tests.support.waiting import wait_until
from tray.core.server_health import Notices, StuckNotice, Unstuck

# Each starts the real server more than once: minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.server, pytest.mark.timeout(SLOW_TEST_S)]

UNTOUCHED_S = 2.0


async def test_a_stuck_turn_is_noticed_once_left_alone_and_aborted_on_request(
    make_launch: LaunchFactory, model: Model
) -> None:
    model.mode("hang")
    launch = make_launch(extra_env=model.env(), **FAST_HEALTH)
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        notices = Notices()
        async with rest(launch, first) as client:
            session = await new_turn(client)
            await h.wait_for(
                "the turn to be busy", lambda s: session in s.busy_sessions, within=WAIT_S
            )
            await wait_until(lambda: model.requests() == ["hang"], "the model to be asked", WAIT_S)
            asked_at = asyncio.get_running_loop().time()
            stuck = await h.wait_for(
                "the turn to be stuck",
                lambda s: any(t.silent_since >= asked_at - 1 for t in s.health.stuck),
                WAIT_S,
            )
            [notice] = notices.new(stuck.health)
            assert isinstance(notice, StuckNotice)
            assert notice.turn.session_id == session
            assert notice.turn.silent_for(stuck.now) >= FAST_HEALTH["stuck_after_s"]
            await asyncio.sleep(UNTOUCHED_S)
            later = h.engine.status()
            assert later.health.stuck_sessions == (session,)
            assert notices.new(later.health) == [], "one notice per stuck session"
            assert later.pid == first.pid, "a stuck turn never restarts the server"
            assert session in await busy_on_server(client), "nothing aborted without a click"
            await h.engine.abort_session(session)
            ended = await h.wait_for(
                "the turn to end",
                lambda s: session not in s.busy_sessions and not s.health.stuck,
                WAIT_S,
            )
            assert ended.pid == first.pid
            assert notices.new(ended.health) == [Unstuck(session)]
            assert session not in await busy_on_server(client)
            messages = (await client.get(f"/session/{session}/message")).json()
            answer = [m for m in messages if m["info"]["role"] == "assistant"][-1]
            assert answer["info"].get("error", {}).get("name") == "MessageAbortedError"
