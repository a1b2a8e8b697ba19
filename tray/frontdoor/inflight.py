"""The front door's work in flight, by the credentials' generation it came in with: a rotation
ends all that older credentials let in, in one call, and the door's stats count from here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tray.frontdoor.streams import Stream
    from tray.frontdoor.websocket import Tunnel

T = TypeVar("T")
# WebSocket close codes the door sends (RFC 6455 7.4.1)
GOING_AWAY = 1001
POLICY_VIOLATION = 1008


@dataclass(eq=False)
class CredentialGeneration:
    """What one set of credentials let in, still at work."""

    number: int
    ended: bool = False  # the credentials were rotated
    requests: set[asyncio.Task[Any]] = field(default_factory=set)  # forwarded or tunnelled
    streams: set[Stream] = field(default_factory=set)
    tunnels: set[Tunnel] = field(default_factory=set)

    @property
    def idle(self) -> bool:
        return not (self.requests or self.streams or self.tunnels)

    def end(self) -> None:
        """The credentials were rotated: their requests are cut off, their streams end, their
        tunnels close."""
        self.ended = True
        for task in list(self.requests):
            task.cancel()
        for stream in list(self.streams):
            stream.ended.set()
        for tunnel in list(self.tunnels):
            tunnel.close(POLICY_VIOLATION, "rotated")


class InFlight:
    def __init__(self) -> None:
        self.current = CredentialGeneration(0)
        self._generations = {0: self.current}  # older ones until their work ends
        self.clients = 0  # request tasks at work
        self.held = 0  # requests waiting for a server
        self.relayed = 0  # requests forwarded
        self.last_hold_s: float | None = None  # how long the last wait for a server lasted

    def rotate(self) -> None:
        """New credentials: what the older ones let in ends now."""
        for generation in list(self._generations.values()):
            generation.end()
        self.current = CredentialGeneration(self.current.number + 1)
        self._generations[self.current.number] = self.current

    @contextlib.contextmanager
    def tracking(self, generation: CredentialGeneration, work: set[T], item: T) -> Iterator[None]:
        """`item` is among `generation`'s `work` until the block ends."""
        work.add(item)
        try:
            yield
        finally:
            self.drop(generation, work, item)

    def drop(self, generation: CredentialGeneration, work: set[T], item: T) -> None:
        work.discard(item)
        if generation.ended and generation.idle:
            self._generations.pop(generation.number, None)

    def streams(self) -> list[Stream]:
        """Every open stream. (Read on the app's thread too, as the door's thread changes the
        sets: each copied first, in one step, as a set changed while iterated over raises.)"""
        generations = list(self._generations.values())
        return [stream for generation in generations for stream in list(generation.streams)]

    def tunnels(self) -> list[Tunnel]:
        generations = list(self._generations.values())
        return [tunnel for generation in generations for tunnel in list(generation.tunnels)]
