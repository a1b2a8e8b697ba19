"""How long a crash costs: a bare `opencode serve` start (spawn -> GET /global/health ok), side
by side with the engine's recovery from SIGKILL (kill -> connected again, restart backoff included).

    .venv/bin/python benchmarks/crash_recovery.py [--runs N] [--binary PATH]

Each engine run uses a fresh engine with the default settings, so every kill is a first crash
(later ones within a minute wait longer: that is the crash-loop backoff, not recovery speed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from benchlib import (
    START_TIMEOUT_S,
    Statuses,
    connected,
    free_port,
    isolated_env,
    launch,
    parser,
    quiet_logs,
    table,
)

from tray.core.status import State
from tray.engine.engine import Engine
from tray.engine.server_password import USERNAME, generate

POLL_S = 0.01


@dataclass
class Samples:
    listening: list[float] = field(default_factory=list)
    healthy: list[float] = field(default_factory=list)
    engine_start: list[float] = field(default_factory=list)
    crash_seen: list[float] = field(default_factory=list)
    recovered: list[float] = field(default_factory=list)


async def bare_start(binary: str, root: Path, env: dict[str, str], samples: Samples) -> None:
    """Spawn the server by hand; time its listening line and its first healthy answer."""
    loop = asyncio.get_running_loop()
    port, password = free_port(), generate()
    started = loop.time()
    proc = await asyncio.create_subprocess_exec(
        *(binary, "serve", "--hostname", "127.0.0.1", "--port", str(port)),
        cwd=root,
        env={**env, "OPENCODE_SERVER_PASSWORD": password},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)
        listening = loop.time() - started
        auth = httpx.BasicAuth(USERNAME, password)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", auth=auth) as client:
            for _ in range(round(START_TIMEOUT_S / POLL_S)):
                if await _healthy(client):
                    break
                await asyncio.sleep(POLL_S)
        samples.listening.append(listening)
        samples.healthy.append(loop.time() - started)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def _healthy(client: httpx.AsyncClient) -> bool:
    try:
        response = await client.get("/global/health")
    except httpx.TransportError:
        return False
    return response.status_code == 200 and response.json().get("healthy") is True


async def engine_recovery(binary: str, root: Path, env: dict[str, str], samples: Samples) -> None:
    """Start an engine, SIGKILL its server, time until it is connected to a new one."""
    loop = asyncio.get_running_loop()
    engine = Engine(launch(binary, root, env))
    statuses = Statuses(engine)
    started = loop.time()
    engine.start()
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            first = await statuses.next(connected)
        assert first.pid is not None
        samples.engine_start.append(loop.time() - started)
        statuses.forget()
        killed = loop.time()
        os.kill(first.pid, signal.SIGKILL)
        async with asyncio.timeout(START_TIMEOUT_S):
            await statuses.next(lambda s: s.state is State.CRASHED)
            samples.crash_seen.append(loop.time() - killed)
            await statuses.next(lambda s: connected(s) and s.pid != first.pid)
            samples.recovered.append(loop.time() - killed)
    finally:
        await engine.shutdown()


async def main() -> int:
    args = parser("Crash recovery vs a bare server start.", runs=10).parse_args()
    quiet_logs()
    samples = Samples()
    with tempfile.TemporaryDirectory(prefix="crash-recovery-") as tmp:
        root = Path(tmp)
        env = isolated_env(root / "home")
        print(f"{args.binary}: 1 warm-up run, then {args.runs} measured runs", file=sys.stderr)
        await bare_start(args.binary, root, env, Samples())  # first start on a fresh HOME
        for run in range(1, args.runs + 1):
            await bare_start(args.binary, root, env, samples)
            await engine_recovery(args.binary, root, env, samples)
            print(f"  run {run}: recovered in {samples.recovered[-1]:.2f} s", file=sys.stderr)
    table(
        f"crash recovery, {args.runs} runs (seconds)",
        [
            ("bare: spawn -> listening line", samples.listening),
            ("bare: spawn -> /global/health ok", samples.healthy),
            ("engine: start -> connected", samples.engine_start),
            ("engine: SIGKILL -> crashed", samples.crash_seen),
            ("engine: SIGKILL -> connected again", samples.recovered),
        ],
    )
    ratio = statistics.median(samples.recovered) / statistics.median(samples.healthy)
    print(f"\nrecovery / bare start (medians): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
