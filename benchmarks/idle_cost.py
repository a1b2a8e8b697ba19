"""What the app costs while nothing happens: the real app process (`python -m tray`, with its
tray icon on a virtual desktop) connected to an idle server, sampled for N minutes.

    .venv/bin/python benchmarks/idle_cost.py [--minutes M] [--only-default] [--binary PATH]

Two apps one after the other, with the front door (the default settings) and without it, so
that what the door costs shows side by side (`--only-default`: the first alone).

RSS, CPU % of one core, and wakeups per second (context switches of all its threads, from
/proc/PID/task/*/status). The server is shown beside it for scale.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import psutil
from appbench import app, cpu_seconds, desktop, wakeups
from benchlib import machine, parser

from tests.desktop import VirtualDesktop

SETTLE_S = 10.0  # after connecting: the first resync, the icon, the notifier
SAMPLE_S = 5.0
MIB = 2**20


class Meter:
    """Samples one process: RSS at each sample, CPU and wakeups over the whole run."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.proc = psutil.Process(pid)
        self.rss: list[float] = []
        self.started = time.monotonic()
        self.cpu0 = cpu_seconds(self.proc)
        self.wakeups0 = wakeups(pid)
        self.sample()

    def sample(self) -> None:
        self.rss.append(self.proc.memory_info().rss / MIB)

    def row(self, name: str) -> str:
        elapsed = time.monotonic() - self.started
        cpu = (cpu_seconds(self.proc) - self.cpu0) / elapsed * 100
        woke = (wakeups(self.pid) - self.wakeups0) / elapsed
        return (
            f"{name:22} {self.rss[0]:>9.1f} {self.rss[-1]:>9.1f} {max(self.rss):>9.1f} "
            f"{statistics.median(self.rss):>9.1f} {cpu:>7.2f} {woke:>10.1f}"
        )


def measure(
    desk: VirtualDesktop, workdir: Path, binary: str, minutes: float, front_door: bool
) -> tuple[list[str], str]:
    """One app, idle for `minutes`: its row and its server's, and its state at the end."""
    driver = app(desk, workdir, binary, front_door)
    driver.start()
    try:
        status = driver.wait_state("connected", timeout=60)
        time.sleep(SETTLE_S)
        assert driver.proc is not None
        door = "on" if front_door else "off"
        meters = {
            f"app, front door {door}": Meter(driver.proc.pid),
            "its server": Meter(status["server"]["pid"]),
        }
        print(f"sampling for {minutes:g} min, front door {door}", file=sys.stderr)
        deadline = time.monotonic() + minutes * 60
        while time.monotonic() < deadline:
            time.sleep(min(SAMPLE_S, max(0.0, deadline - time.monotonic())))
            for meter in meters.values():
                meter.sample()
        return [meter.row(name) for name, meter in meters.items()], driver.status()["state"]
    finally:
        driver.quit()


def main() -> int:
    args = parser("Idle cost of the app, with the front door (the default) and without.", runs=1)
    args.add_argument("--minutes", type=float, default=10.0, help="each (default 10)")
    args.add_argument(
        "--only-default", action="store_true", help="only the default settings (door on)"
    )
    options = args.parse_args()
    doors = [True] if options.only_default else [True, False]
    rows: list[str] = []
    ends: list[str] = []
    with desktop("idle-cost-") as (desk, root):
        for front_door in doors:
            workdir = root / ("app-door" if front_door else "app-no-door")
            more, end = measure(desk, workdir, options.binary, options.minutes, front_door)
            rows += more
            ends.append(end)
    print(f"\n{machine()}")
    print(f"\nidle cost over {options.minutes:g} min each (states at the end: {', '.join(ends)})")
    print(
        f"{'':22} {'RSS start':>9} {'RSS end':>9} {'RSS max':>9} {'RSS med':>9} {'CPU %':>7} "
        f"{'wakeups/s':>10}"
    )
    print("\n".join(rows))
    print("(RSS in MiB; CPU % of one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
