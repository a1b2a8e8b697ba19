"""The resync after a reconnect, against the real server behind a fault-injecting proxy: REST
failing more often than the 3 tries of old, and the resync still coming through while the
stream stays up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from tests.chaos.proxy import ChaosProxy, Cut
from tests.engine.helpers import LaunchFactory, running
from tests.support.waiting import wait_until
from tray.core.status import State

pytestmark = pytest.mark.server

FAILURES = 4  # 0.5-1 s, 1-2 s, 2-4 s and 4-8 s between the tries
# The stream is cut at the server's next event (a heartbeat every 10 s), then the tries above;
# with room for a loaded machine (here, at a load of 25 on 2 cores, a start took over 30 s).
WITHIN_S = 10 + 15 + 35
START_WITHIN_S = 120.0


@pytest.fixture
async def proxy(free_port: int) -> AsyncIterator[ChaosProxy]:
    async with ChaosProxy(free_port) as chaos:
        yield chaos


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def test_a_resync_failing_more_than_3_times_is_retried_until_it_succeeds(
    make_launch: LaunchFactory, proxy: ChaosProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    launch = replace(make_launch(), client_url=proxy.url)
    async with running(launch) as harness:
        first = await harness.connected(START_WITHIN_S)
        proxy.cut_stream(Cut.RESET)
        await asyncio.wait_for(proxy.cut_done(), WITHIN_S)
        # Now, not before: the first connection's resync ended with it (a slow one may still
        # have been retrying), so these failures are all the reconnect's.
        proxy.fail({"/session/status": FAILURES})
        await wait_until(lambda: bool(_logged(caplog, "resynced after")), "the resync", WITHIN_S)
        status = harness.engine.status()
        assert (status.state, status.pid, status.restarts) == (State.CONNECTED, first.pid, 0)
        assert status.last_gap_s is not None
    injected = _logged(caplog, "failed: HTTP error 500: Injected")
    assert len(injected) == FAILURES
    # Numbered on from 1 for the reconnect (a timeout on a loaded machine may come in between).
    numbers = [int(text.split()[2]) for text in injected]
    assert numbers == sorted(numbers)
    assert numbers[-1] > 3
    assert _logged(caplog, "gave up") == []
