"""Is a loopback port free, and if not, which process holds it (where the OS tells)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys

import psutil

HOST = "127.0.0.1"
POLL_S = 0.05


def is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sys.platform != "win32":  # on Windows SO_REUSEADDR would let us steal a bound port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def any_free(host: str = HOST) -> int:
    """A loopback port free now (for a private server; another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_free(port: int, timeout_s: float, host: str = HOST) -> bool:
    """Wait until `port` is free; False if it is still taken after `timeout_s`."""
    for _ in range(max(1, round(timeout_s / POLL_S))):
        if is_free(port, host):
            return True
        await asyncio.sleep(POLL_S)
    return is_free(port, host)


def owner(port: int) -> str | None:
    """'name (pid N): command line' of the process listening on `port`, or None if unknown."""
    pid = _listening_pid(port)
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        name = proc.name()
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return f"pid {pid}"
    if len(cmdline) > 120:
        cmdline = cmdline[:117] + "..."
    return f"{name} (pid {pid}): {cmdline}" if cmdline else f"{name} (pid {pid})"


def _listening_pid(port: int) -> int | None:
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:  # macOS: only our own processes can be asked, one by one
        return _listening_pid_per_process(port)
    for conn in connections:
        listening = conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        if listening and conn.pid is not None:
            return conn.pid
    return _listening_pid_per_process(port)


def _listening_pid_per_process(port: int) -> int | None:
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return proc.pid
    return None
