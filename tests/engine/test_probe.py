"""`opencode --version` for the settings' live check: the real binary, and every way it can fail."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import is_dead
from tests.support.waiting import wait_until
from tray.engine.version_check import VersionCheckError, ask_version, check_binary
from tray.generations import for_version

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="shell scripts stand in")


def script(tmp_path: Path, body: str, name: str = "opencode") -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


async def test_the_real_binary_says_its_version(opencode_binary: str) -> None:
    version = await ask_version(opencode_binary)
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", version)
    assert for_version(version) is not None


async def test_an_empty_setting_finds_the_binary_as_the_engine_does() -> None:
    assert for_version(await check_binary("")) is not None


async def test_a_set_path_is_probed_itself(opencode_binary: str, tmp_path: Path) -> None:
    assert await check_binary(opencode_binary) == await ask_version(opencode_binary)
    with pytest.raises(VersionCheckError, match="not found"):
        await check_binary(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("1.18.33", "1.18.33"),
        ("v2.0.0-beta.1\n", "2.0.0-beta.1"),
        ("opencode 1.2.3 (abc)", "1.2.3"),
    ],
)
async def test_the_version_is_picked_from_the_output(
    tmp_path: Path, output: str, version: str
) -> None:
    assert await ask_version(script(tmp_path, f"printf '{output}'\n")) == version


async def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VersionCheckError, match=r"/missing/opencode: not found$"):
        await ask_version(str(tmp_path / "missing" / "opencode"))


async def test_a_folder_or_a_plain_file_is_not_executable(tmp_path: Path) -> None:
    with pytest.raises(VersionCheckError, match="not executable"):
        await ask_version(str(tmp_path))
    plain = tmp_path / "opencode"
    plain.write_text("not a program")
    with pytest.raises(VersionCheckError, match="not executable"):
        await ask_version(str(plain))


async def test_a_file_that_cannot_run(tmp_path: Path) -> None:
    broken = tmp_path / "opencode"
    broken.write_text("#!/no/such/interpreter\n")
    broken.chmod(0o755)
    with pytest.raises(VersionCheckError, match="cannot be run"):
        await ask_version(str(broken))


async def test_an_error_exit_says_the_code_and_stderr(tmp_path: Path) -> None:
    path = script(tmp_path, "echo starting\necho 'error: bun is missing' >&2\nexit 3\n")
    with pytest.raises(VersionCheckError) as raised:
        await ask_version(path)
    assert str(raised.value) == f"{path} --version exited with code 3: error: bun is missing"


async def test_no_version_in_the_output(tmp_path: Path) -> None:
    with pytest.raises(VersionCheckError, match="printed no version: 'hello'"):
        await ask_version(script(tmp_path, "echo hello\n"))


async def test_a_binary_that_hangs_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    path = script(tmp_path, f"sleep 60 &\necho $! $$ > {pids}\nsleep 60\n")
    started = time.monotonic()
    with pytest.raises(VersionCheckError, match=r"did not answer within 0.5 s"):
        await ask_version(path, timeout_s=0.5)
    assert time.monotonic() - started < 5
    started_pids = [int(pid) for pid in pids.read_text().split()]
    assert await wait_until(
        lambda: all(is_dead(pid) for pid in started_pids), "the children gone", 5, 0.02
    )


async def test_a_cancelled_probe_leaves_nothing_running(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    path = script(tmp_path, f"echo $$ > {pids}\nsleep 60\n")
    task = asyncio.ensure_future(ask_version(path))
    assert await wait_until(
        lambda: pids.exists() and pids.read_text().strip() != "", "the pids written", 5, 0.02
    )
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert is_dead(int(pids.read_text()))
