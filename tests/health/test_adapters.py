"""The health adapters on their own: the process tree's RSS, the kernel's OOM record in both
cgroup versions, the binary's file state, and the update runner's edges."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.factories import make_status
from tray.core.server_health import HealthPolicy
from tray.core.status import Status
from tray.engine.server_health import (
    HealthMonitor,
    file_state,
    oom_kills,
    oom_record,
    run_update,
    tree_rss,
)

MB = 1024 * 1024


def test_the_tree_counts_the_children() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; x = b'1' * (64 * 1024 * 1024); time.sleep(30)"]
    )
    try:
        me = psutil.Process().memory_info().rss
        deadline = time.monotonic() + 20
        while (total := tree_rss(os.getpid()) or 0) < me + 60 * MB:
            assert time.monotonic() < deadline, f"the tree holds {total / MB:.0f} MB"
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait()


def test_a_gone_or_zombie_process_is_not_measured() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert tree_rss(child.pid) is None
    child.wait()
    assert tree_rss(child.pid) is None


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("low 0\nhigh 0\nmax 0\noom 1\noom_kill 4\noom_group_kill 0\n", 4),  # cgroup v2
        ("oom_kill_disable 0\nunder_oom 0\noom_kill 7\n", 7),  # v1 memory.oom_control
        ("oom_kill_disable 0\nunder_oom 0\n", None),  # an old v1 kernel
        ("oom_kill many\n", None),
        ("", None),
    ],
)
def test_the_oom_kill_count_is_read_from_either_file(
    tmp_path: Path, text: str, count: int | None
) -> None:
    record = tmp_path / "memory.events"
    record.write_text(text)
    assert oom_kills(record) == count


def test_no_record_reads_as_unknown(tmp_path: Path) -> None:
    assert oom_kills(None) is None
    assert oom_kills(tmp_path / "absent") is None


def _cgroup_tree(tmp_path: Path, cgroup: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A /proc with process 4242 in `cgroup`, and a /sys/fs/cgroup with `files`."""
    proc = tmp_path / "proc"
    (proc / "4242").mkdir(parents=True)
    (proc / "4242" / "cgroup").write_text(cgroup)
    root = tmp_path / "sys"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return proc, root


@pytest.mark.parametrize(
    ("cgroup", "files", "found"),
    [
        pytest.param(
            "0::/user.slice/app.scope\n",
            {"user.slice/app.scope/memory.events": "oom_kill 0\n"},
            "user.slice/app.scope/memory.events",
            id="v2",
        ),
        pytest.param(
            "4:memory:/process_api/abc\n1:cpu:/\n0::/\n",
            {"memory/process_api/abc/memory.oom_control": "under_oom 0\noom_kill 0\n"},
            "memory/process_api/abc/memory.oom_control",
            id="v1",
        ),
        pytest.param("0::/gone\n", {}, None, id="unreadable"),
    ],
)
def test_the_record_is_found_in_the_servers_memory_cgroup(
    tmp_path: Path, cgroup: str, files: dict[str, str], found: str | None
) -> None:
    proc, root = _cgroup_tree(tmp_path, cgroup, files)
    assert oom_record(4242, root, proc) == (root / found if found else None)
    assert oom_record(4243, root, proc) is None, "no such process"


def test_this_machines_record_is_found_or_said_unreadable() -> None:
    record = oom_record(os.getpid())
    assert record is None or oom_kills(record) is not None


def test_a_replaced_binary_changes_its_file_state_a_link_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "opencode-1"
    real.write_text("#!/bin/sh\n")
    link = tmp_path / "opencode"
    link.symlink_to(real)
    before = file_state(str(link))
    assert before is not None
    assert before.path == str(real)
    assert file_state(str(link)) == before
    fresh = tmp_path / "opencode-new"
    fresh.write_text("#!/bin/sh\necho 2\n")
    os.replace(fresh, real)
    assert file_state(str(link)) != before
    assert file_state(str(tmp_path / "absent")) is None


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "opencode"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


async def test_an_update_that_never_ends_is_killed(tmp_path: Path) -> None:
    binary = _script(tmp_path, "sleep 30")
    result = await run_update(binary, "1.19.0", {"PATH": os.environ["PATH"]}, timeout_s=0.5)
    assert result == (False, "update to 1.19.0 failed: no end within 0 s")


async def test_an_update_that_cannot_run_says_so(tmp_path: Path) -> None:
    ok, note = await run_update(str(tmp_path / "absent"), "1.19.0", {})
    assert not ok
    assert note.startswith(f"update to 1.19.0 failed: could not run {tmp_path / 'absent'}")


async def test_an_update_passes_the_version_and_shows_the_last_line(tmp_path: Path) -> None:
    binary = _script(tmp_path, 'echo "┌  Upgrade"; echo "│"; echo "$1 to $2"; echo "└"')
    result = await run_update(binary, "1.19.0", {"PATH": os.environ["PATH"]})
    assert result == (True, "upgrade to 1.19.0")


async def test_a_failing_tick_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks: list[int] = []
    fourth = asyncio.Event()

    def status() -> Status:
        ticks.append(len(ticks))
        if len(ticks) == 4:
            fourth.set()
        if len(ticks) == 1:
            raise RuntimeError("psutil had a bad day")
        return make_status(pid=None)

    loop = asyncio.get_running_loop()
    monitor = HealthMonitor(
        HealthPolicy(interval_s=0.01),
        status=status,
        dispatch=lambda event: None,
        client=lambda: None,
        start=lambda coro, name: loop.create_task(coro, name=name),
        publish=lambda: None,
    )
    runner = loop.create_task(monitor.run())
    try:
        await asyncio.wait_for(fourth.wait(), 10)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert "the health tick failed" in caplog.text
