"""The command line against an instance channel served in this process (the real socket)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tray.cli import arguments
from tray.core.report import EXIT_NOT_RUNNING
from tray.shell.instance import InstanceServer, Reply, server_name


async def _run_cli(*args: str, runtime_dir: Path) -> tuple[int, str, str]:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tray",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return tmp_path


async def test_status_without_instance_exits_3(runtime_dir: Path) -> None:
    code, out, _ = await _run_cli("status", "--json", runtime_dir=runtime_dir)
    assert code == EXIT_NOT_RUNNING
    assert json.loads(out) == {"schema": 1, "state": "not_running"}
    code, _, err = await _run_cli("restart", runtime_dir=runtime_dir)
    assert code == EXIT_NOT_RUNNING
    assert "not running" in err


async def test_commands_reach_the_running_instance(runtime_dir: Path) -> None:
    received: list[list[str]] = []

    async def handler(argv: list[str]) -> Reply:
        received.append(argv)
        return Reply(1, json.dumps({"state": "crashed"}))

    server = InstanceServer(handler)
    assert server.listen()
    try:
        assert not InstanceServer(handler).listen(), "a second instance must not listen"
        code, out, _ = await _run_cli("status", "--json", runtime_dir=runtime_dir)
        assert (code, json.loads(out)) == (1, {"state": "crashed"})
        await _run_cli("restart", runtime_dir=runtime_dir)
    finally:
        server.close()
    assert received == [["status", "--json"], ["restart"]]
    assert Path(server_name()).parent == runtime_dir


async def test_a_command_that_fails_in_the_app_is_answered_with_why(runtime_dir: Path) -> None:
    async def handler(argv: list[str]) -> Reply:
        raise RuntimeError("the engine is gone")

    server = InstanceServer(handler)
    assert server.listen()
    try:
        code, out, err = await _run_cli("restart", runtime_dir=runtime_dir)
    finally:
        server.close()
    assert code == 1
    assert "the app failed to run restart: the engine is gone" in out + err


def test_socket_left_by_a_crashed_run_is_replaced(runtime_dir: Path, qapp: object) -> None:
    Path(server_name()).write_text("stale")

    async def handler(argv: list[str]) -> Reply:
        return Reply(0, "ok")

    server = InstanceServer(handler)
    assert server.listen()
    server.close()


def test_usage_errors_do_not_exit() -> None:
    with pytest.raises(arguments.UsageError, match="invalid choice"):
        arguments.parse(["frobnicate"])
    args = arguments.parse(["--opencode", "/x/opencode", "--background"])
    assert (args.opencode, args.background, args.command) == ("/x/opencode", True, None)
    assert arguments.parse(["status", "--json"]).json
