"""Memory: the RSS of the server's whole process tree, a limit that restarts it when no session
is busy, a limit below a fresh server's size that restarts nothing and says so, and a SIGKILL
worded as the out-of-memory killer's. Against the real server, wrapped so that a test can grow
its process tree (a child that allocates)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.engine.helpers import Harness, LaunchFactory, Seen, running
from tests.health.conftest import (
    FAST_HEALTH,
    SLOW_TEST_S,
    WAIT_S,
    Model,
    busy_on_server,
    new_turn,
    rest,
)
from tests.health.wrapper import make_wrapper
from tray.core import present, report
from tray.core.causes import CauseKind, size_text
from tray.core.status import State, Status
from tray.engine.launch import ServerLaunch

# Each starts the real server more than once: minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.server, pytest.mark.timeout(SLOW_TEST_S)]

GROW_MB = 300


def hold(control: Path, mb: int) -> None:
    """Make the wrapped server's allocating child hold `mb` MB."""
    control.write_text(str(mb))


def _limit_restart(status: Status) -> bool:
    return status.cause is not None and status.cause.kind is CauseKind.MEMORY_LIMIT


async def make_it_work(h: Harness, launch: ServerLaunch, status: Status) -> None:
    """A session made on the server, and its event heard: the server did work. One over the
    limit before any work is not restarted (a new one would be as big)."""
    async with rest(launch, status) as client:

        async def make() -> str:
            made = await client.post("/session", json={"title": "work"})
            assert made.status_code == 200, made.text
            session_id: str = made.json()["id"]
            return session_id

        await h.heard_of_a_session(make, within=WAIT_S)


@pytest.fixture
def control(tmp_path: Path) -> Path:
    """How many MB the wrapped server's allocating child holds."""
    path = tmp_path / "grow"
    path.write_text("0")
    return path


@pytest.fixture
def wrapped(tmp_path: Path, opencode_binary: str, control: Path) -> str:
    (tmp_path / "bin").mkdir()
    return str(make_wrapper(tmp_path / "bin" / "opencode", opencode_binary, "1.18.33", control))


async def test_the_tree_is_measured_and_a_limit_restarts_an_idle_server(
    make_launch: LaunchFactory, wrapped: str, control: Path
) -> None:
    launch = make_launch(opencode_path=wrapped, memory_limit_mb=0, **FAST_HEALTH)
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        await make_it_work(h, launch, first)  # then idle: no session busy
        measured = await h.wait_for(
            "a memory sample", lambda s: s.health.memory_mb is not None, within=WAIT_S
        )
        base = measured.health.memory_mb
        assert base is not None
        assert base > 100, "the real server alone holds a few hundred MB"
        hold(control, GROW_MB)
        grown = await h.wait_for(
            "the tree to grow", lambda s: (s.health.memory_mb or 0) >= base + GROW_MB - 50, WAIT_S
        )
        assert grown.pid == first.pid
        assert grown.health.memory_peak_mb is not None
        assert grown.health.memory_peak_mb >= grown.health.memory_mb  # type: ignore[operator]
        assert grown.health.memory_limit_mb == 0
        limit = round(base + GROW_MB / 2)
        h.engine.apply_settings(replace(launch.settings, memory_limit_mb=limit))
        restarting = await h.wait_for("a restart for memory", _limit_restart, within=WAIT_S)
        hold(control, 0)
        h.engine.apply_settings(replace(launch.settings, memory_limit_mb=0))
        assert restarting.cause is not None
        assert re.fullmatch(
            rf"restarted: the server used \d+ MB \(limit {re.escape(size_text(limit))}\)",
            restarting.cause.text,
        ), restarting.cause.text
        used = restarting.cause.facts["memory_mb"]
        assert isinstance(used, int)
        assert used > limit
        after = await h.connected_to_a_new_server(first, within=WAIT_S)
        assert after.restarts == 1
        assert after.incidents[-1].cause.kind is CauseKind.MEMORY_LIMIT
        assert after.incidents[-1].recovered


async def test_the_limit_restart_waits_for_the_busy_turn_to_finish(
    make_launch: LaunchFactory, wrapped: str, control: Path, model: Model
) -> None:
    model.mode("slow 40")  # a turn of about 20 s
    launch = make_launch(
        opencode_path=wrapped, memory_limit_mb=0, extra_env=model.env(), **FAST_HEALTH
    )
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        measured = await h.wait_for(
            "a memory sample", lambda s: s.health.memory_mb is not None, within=WAIT_S
        )
        assert measured.health.memory_mb is not None
        async with rest(launch, first) as client:
            session = await new_turn(client)
            await h.wait_for(
                "the turn to be busy", lambda s: session in s.busy_sessions, within=WAIT_S
            )
            limit = round(measured.health.memory_mb + GROW_MB / 2)
            hold(control, GROW_MB)
            h.engine.apply_settings(replace(launch.settings, memory_limit_mb=limit))
            waiting = await h.wait_for(
                "a restart waiting for the turn",
                lambda s: s.health.pending_restart is not None,
                WAIT_S,
            )
            assert waiting.pid == first.pid
            assert session in waiting.busy_sessions
            assert waiting.health.pending_restart is not None
            assert waiting.health.pending_restart.kind is CauseKind.MEMORY_LIMIT
            assert session in await busy_on_server(client)
        restarting = await h.wait_for("a restart for memory", _limit_restart, within=WAIT_S)
        hold(control, 0)
        h.engine.apply_settings(replace(launch.settings, memory_limit_mb=0))
        before = [seen.status for seen in h.seen if seen.at < h.seen[-1].at]
        last_connected = [s for s in before if s.state is State.CONNECTED][-1]
        assert last_connected.busy_sessions == (), "restarted during the busy turn"
        assert restarting.cause is not None
        assert restarting.cause.facts["waited_s"] is None
        after = await h.connected_to_a_new_server(first, within=WAIT_S)
        async with rest(launch, after) as client:
            messages = (await client.get(f"/session/{session}/message")).json()
        answer = [m for m in messages if m["info"]["role"] == "assistant"][-1]
        told = f"the turn was cut short; messages {_shown(messages)}; statuses {_changes(h.seen)}"
        assert answer["info"]["time"].get("completed"), told
        assert "error" not in answer["info"]


async def test_a_limit_below_a_fresh_servers_size_restarts_nothing_and_says_so(
    make_launch: LaunchFactory,
) -> None:
    ticks = 15
    launch = make_launch(memory_limit_mb=1, **FAST_HEALTH)
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        found = await h.wait_for(
            "the limit found too low",
            lambda s: s.health.memory_limit_too_low_mb is not None,
            within=WAIT_S,
        )
        assert found.pid == first.pid
        needed = found.health.memory_limit_too_low_mb
        assert needed is not None
        assert needed > 100, "the real server alone holds a few hundred MB"
        await asyncio.sleep(ticks * FAST_HEALTH["health_interval_s"])
        await make_it_work(h, launch, first)  # a server that worked: not restarted either
        await asyncio.sleep(ticks * FAST_HEALTH["health_interval_s"])
        now = h.engine.status()
        assert (now.state, now.pid, now.restarts) == (State.CONNECTED, first.pid, 0), h.trail()
        assert not any(_limit_restart(seen.status) for seen in h.seen), h.trail()
        assert now.health.pending_restart is None
        shown = now.health.memory_limit_too_low_mb
        assert shown is not None
        assert shown >= needed, "the highest fresh sample"
        said = (
            f"The memory limit (1 MB) is below what a fresh server needs ({size_text(shown)}): "
            "the server is not restarted for memory. Raise the limit in Settings."
        )
        assert said in present.details(now)
        data = report.status_json(now, lambda t: t, "0", 1)["server"]
        assert (data["memory_limit_mb"], data["memory_limit_too_low_mb"]) == (1, shown)


def _shown(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each message's role, times, finish and error: what a cut-short turn left."""
    keys = ("role", "time", "finish", "error")
    return [{k: m["info"].get(k) for k in keys} for m in messages]


def _changes(seen: list[Seen]) -> str:
    """The statuses that differ from the one before (a memory reading aside)."""
    shown: list[str] = []
    for one in seen:
        text = str(one)
        if not shown or shown[-1].split(" ", 1)[1] != text.split(" ", 1)[1]:
            shown.append(text)
    return "; ".join(shown)


def _kernel_counts(record: Path, oom_kill: int) -> None:
    """A cgroup v2 `memory.events` as the kernel writes it."""
    record.write_text(f"low 0\nhigh 0\nmax 0\noom {oom_kill}\noom_kill {oom_kill}\n")


async def test_a_sigkill_is_worded_as_the_oom_killer_with_the_kernels_record(
    make_launch: LaunchFactory, tmp_path: Path
) -> None:
    record = tmp_path / "memory.events"
    _kernel_counts(record, oom_kill=2)
    launch = replace(make_launch(memory_limit_mb=0, **FAST_HEALTH), oom_record=record)
    async with running(launch) as h:
        first = await h.connected(within=WAIT_S)
        measured = await h.wait_for(
            "a memory sample", lambda s: s.health.memory_mb is not None, within=WAIT_S
        )
        _kernel_counts(record, oom_kill=3)
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        crashed = await h.wait_state(State.CRASHED, within=WAIT_S)
        assert crashed.cause is not None
        assert re.fullmatch(
            r"server killed by the out-of-memory killer \(SIGKILL; the kernel recorded an OOM "
            r"kill\), last measured at \d+ MB",
            crashed.cause.text,
        ), crashed.cause.text
        facts = crashed.cause.facts
        assert facts["out_of_memory"] is True
        assert facts["evidence"] == "memory.events oom_kill"
        assert isinstance(facts["memory_mb"], int)
        assert measured.health.memory_mb is not None
        assert abs(facts["memory_mb"] - measured.health.memory_mb) < 100
        second = await h.connected_to_a_new_server(first, within=WAIT_S)
        await h.wait_for(
            "a sample of the new server",
            lambda s: s.pid == second.pid and s.health.memory_mb is not None,
            within=WAIT_S,
        )
        assert second.pid is not None
        os.kill(second.pid, signal.SIGKILL)  # no new kernel record, memory not high
        plain = await h.wait_state(State.CRASHED, where=lambda s: s.pid is None, within=WAIT_S)
        assert plain.cause is not None
        assert plain.cause.text == "server killed by SIGKILL"
