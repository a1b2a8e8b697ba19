"""The engine drives the real server: start, connect, stop with nothing left behind; a new
password; and what keeps a server from starting (no usable binary, a taken port)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import httpx
import pytest

from tests.engine.helpers import FAST, LaunchFactory, running
from tests.support.credentials import fresh_password
from tests.support.processes import server_processes
from tray.core.causes import CauseKind
from tray.core.status import State, Status
from tray.engine.server_password import USERNAME


@pytest.mark.server
async def test_start_connects_and_shutdown_leaves_nothing(make_launch: LaunchFactory) -> None:
    launch = make_launch()
    record = launch.state_dir / "server.json"
    async with running(launch) as harness:
        status = await harness.connected()
        assert status.url == f"http://127.0.0.1:{launch.settings.port}"
        assert status.version == "1.18.33"
        assert status.stream_connected
        assert status.restarts == 0
        assert status.cause is None
        assert [p.pid for p in server_processes(launch)] == [status.pid]
        assert record.exists()
        states = [seen.status.state for seen in harness.seen]
        assert states[0] is State.STARTING
        await harness.engine.shutdown()
        assert harness.engine.status().state is State.STOPPED
        assert server_processes(launch) == []
        assert not record.exists()


@pytest.mark.server
async def test_a_start_asked_before_the_door_has_its_port_waits_for_it(
    make_launch: LaunchFactory,
) -> None:
    """The app asks for the start at once (so `status` says starting from its first answer)
    and the spawn waits until the front door took the port or gave it up."""
    launch = make_launch()
    async with running(launch, start=False) as harness:
        harness.engine.place_later()
        harness.engine.start()
        assert harness.engine.status().state is State.STARTING
        await asyncio.sleep(1.0)
        assert harness.engine.status().pid is None
        assert server_processes(launch) == []
        harness.engine.serve_directly()
        status = await harness.connected()
        assert status.url == f"http://127.0.0.1:{launch.settings.port}"


async def answer(url: str, password: str) -> int:
    """The status code of GET /global/health with this password."""
    async with httpx.AsyncClient(auth=httpx.BasicAuth(USERNAME, password)) as client:
        return (await client.get(f"{url}/global/health")).status_code


@pytest.mark.server
async def test_a_new_password_restarts_the_server_with_it(make_launch: LaunchFactory) -> None:
    launch = make_launch()
    async with running(launch) as harness:
        first = await harness.connected()
        assert first.url is not None
        new = fresh_password()
        harness.engine.set_password(new)
        again = await harness.connected_to_a_new_server(first)
        assert again.url == first.url
        assert await answer(first.url, launch.password.value) == 401
        assert await answer(first.url, new.value) == 200


@pytest.mark.parametrize("broken", ["missing", "not executable"])
async def test_an_unusable_binary_fails_at_once(
    make_launch: LaunchFactory, tmp_path: Path, broken: str
) -> None:
    path = tmp_path / "bin" / "opencode"
    if broken == "not executable":
        path.parent.mkdir()
        path.write_text("#!/bin/sh\n")
        path.chmod(0o644)
    launch = make_launch(opencode_path=str(path))
    async with running(launch) as harness:
        failed = await harness.wait_state(State.FAILED)
        assert failed.cause is not None
        kind = CauseKind.BINARY_NOT_FOUND if broken == "missing" else CauseKind.NOT_EXECUTABLE
        assert failed.cause.kind is kind
        assert str(path) in failed.cause.text
        published = len(harness.seen)
        await asyncio.sleep(1.5)  # longer than the first retry would wait
        assert len(harness.seen) == published, f"no retries expected: {harness.trail()}"
        status = harness.engine.status()
        assert (status.state, status.attempt, status.restarts) == (State.FAILED, 0, 0)


@pytest.mark.server
async def test_a_taken_port_is_retried_until_it_is_free(make_launch: LaunchFactory) -> None:
    launch = make_launch(crash_loop_limit=50)
    port = launch.settings.port
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        async with running(launch) as harness:
            crashed = await harness.wait_state(State.CRASHED)
            assert crashed.cause is not None
            assert crashed.cause.kind is CauseKind.PORT_IN_USE
            assert f"port {port} is in use" in crashed.cause.text
            assert f"(pid {os.getpid()})" in crashed.cause.text
            await harness.wait_state(State.CRASHED, where=lambda s: s.attempt >= 3)
            assert server_processes(launch) == []
            listener.close()
            connected = await harness.connected()
            assert connected.incidents[-1].recovered
            assert connected.incidents[-1].cause.kind is CauseKind.PORT_IN_USE
    retries: dict[int, Status] = {}  # each retry as first published, when its wait began
    for seen in harness.seen:
        if seen.status.state is State.CRASHED:
            retries.setdefault(seen.status.attempt, seen.status)
    for attempt, status in retries.items():
        delay = status.next_retry_in_s
        ceiling = min(
            FAST["restart_backoff_max_s"], FAST["restart_backoff_min_s"] * 2 ** (attempt - 1)
        )
        assert delay is not None
        assert ceiling / 2 - 0.01 <= delay <= ceiling, f"attempt {attempt} waits {delay:.2f} s"
