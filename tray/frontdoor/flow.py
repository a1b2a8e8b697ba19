"""A protocol's write side: what it writes waits in its transport while the peer reads slowly;
past the transport's high-water mark, `writable()` waits until it can take more."""

from __future__ import annotations

import asyncio


class WriteFlow(asyncio.Protocol):
    _can_write: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        self._can_write = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)
        self._can_write = None

    async def writable(self) -> None:
        """Once the transport takes more (at once if it does; also once the connection is
        lost: the caller then finds it gone)."""
        if self._can_write is not None:
            await asyncio.shield(self._can_write)

    def connection_lost(self, exc: Exception | None) -> None:
        self.resume_writing()
