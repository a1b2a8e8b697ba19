"""Blocking calls run off the event loop, one at a time, in a daemon thread.

For calls that may never return: a keyring waiting for the user to unlock it, or a keyring
backend that hangs. `asyncio.to_thread` and `ThreadPoolExecutor` would do the first half, but
their threads are joined when the interpreter exits, so a call stuck forever would keep the app
from quitting. A daemon thread is left behind instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class DaemonWorker:
    """Runs the callables given to `submit` in submission order, in one daemon thread."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, call: Callable[[], T]) -> asyncio.Future[T]:
        """A future for `call()`'s result (or exception), resolved on the running loop.

        Cancelling the future (or a timeout around it) does not stop the call: it runs to its
        end, and its result is dropped."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((call, loop, future))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
        return future

    def _work(self) -> None:
        while True:
            call, loop, future = self._jobs.get()
            try:
                result = call()
            except BaseException as error:  # handed to the caller, whatever it is
                _resolve(loop, future, error, failed=True)
            else:
                _resolve(loop, future, result, failed=False)


def _resolve(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any, failed: bool
) -> None:
    def settle() -> None:
        if future.done():  # cancelled, or timed out, meanwhile
            return
        if failed:
            future.set_exception(value)
        else:
            future.set_result(value)

    with contextlib.suppress(RuntimeError):  # the loop closed while the call ran
        loop.call_soon_threadsafe(settle)
