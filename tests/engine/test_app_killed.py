"""The app itself dies: its server must die with it, and what a dead app left behind (a record
of its server, a server still running) is cleaned up by the next engine before it starts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

import psutil
import pytest

from tests.engine.helpers import START_S, LaunchFactory, running
from tests.support.processes import DEATH_S, kill_servers, wait_dead
from tests.support.waiting import wait_until
from tray.core.causes import CauseKind
from tray.engine.launch import ServerLaunch
from tray.engine.leftover import RecordFile, stop_leftover

REPO = Path(__file__).resolve().parents[2]


def records(launch: ServerLaunch) -> RecordFile:
    return RecordFile(launch.state_dir / "server.json")


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


@pytest.mark.server
async def test_the_server_dies_with_the_app(make_launch: LaunchFactory) -> None:
    launch = make_launch()
    settings = launch.settings
    args = (settings.opencode_path, str(settings.port), str(launch.state_dir))
    app = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.engine.app_child", *args, settings.working_directory),
        cwd=REPO,
        env=launch.env(),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert app.stdout is not None
        line = await asyncio.wait_for(app.stdout.readline(), START_S)
        server_pid = json.loads(line)["pid"]
        app.send_signal(signal.SIGKILL)
        await app.wait()
        await wait_dead(server_pid)
    finally:
        await stop(app)
        kill_servers(launch)
    left = records(launch).read()
    assert left is not None, "a killed app cannot remove its record"
    assert left.pid == server_pid
    # The next engine takes over the state dir: the record now names its own server.
    async with running(launch) as harness:
        status = await harness.connected()
        now = records(launch).read()
        assert now is not None
        assert now.pid == status.pid


@pytest.mark.server
async def test_a_leftover_server_is_stopped_before_the_start(
    make_launch: LaunchFactory, caplog: pytest.LogCaptureFixture
) -> None:
    launch = make_launch()
    settings = launch.settings
    # A server that a dead app left on our port, in its own session (not our child's group).
    leftover = await asyncio.create_subprocess_exec(
        *(settings.opencode_path, "serve", "--hostname", "127.0.0.1", "--port", str(settings.port)),
        cwd=settings.working_directory,
        env=launch.env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert leftover.stdout is not None
        line = await asyncio.wait_for(leftover.stdout.readline(), START_S)
        assert b"listening on" in line
        records(launch).write(leftover.pid)
        with caplog.at_level(logging.WARNING, logger="tray.engine.leftover"):
            async with running(launch) as harness:
                status = await harness.connected()
                assert status.pid != leftover.pid
                assert await asyncio.wait_for(leftover.wait(), DEATH_S) == -signal.SIGTERM
                causes = {s.status.cause.kind for s in harness.seen if s.status.cause}
                assert CauseKind.PORT_IN_USE not in causes
                assert status.restarts == 0
    finally:
        await stop(leftover)
    assert any("left by an earlier run" in r.getMessage() for r in caplog.records)


async def test_a_record_whose_pid_was_reused_kills_nothing(tmp_path: Path) -> None:
    # Another program now has the recorded pid, and with it the recorded process group.
    other = await asyncio.create_subprocess_exec(
        "sh", "-c", "sleep 30 & wait", start_new_session=True
    )
    try:
        leader = psutil.Process(other.pid)
        await wait_until(lambda: bool(leader.children()), "child of the shell", START_S)
        path = tmp_path / "server.json"
        path.write_text(
            json.dumps(
                {"pid": other.pid, "create_time": leader.create_time() - 100, "pgid": other.pid}
            )
        )
        assert await stop_leftover(RecordFile(path), grace_s=1.0) == 0
        assert leader.is_running()
        assert all(child.is_running() for child in leader.children())
        assert not path.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(other.pid, signal.SIGKILL)
        await other.wait()
