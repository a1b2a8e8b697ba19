"""A server-sent events body cut into whole events, with a bound on what is held.

One `EventSplitter` serves both readers of the server's streams: the app's own reader (which
drops an oversized event and reports it) and the front door (which passes one on in pieces).
"""

from __future__ import annotations

# The front door's limit: an event up to this size is passed on whole.
DOOR_EVENT_BYTES = 16 * 1024 * 1024


class EventSplitter:
    """Cuts an SSE body at its last whole event (ending with a blank line), so that a reader only
    ever sees whole events (the door can put its own between them). Each chunk gives all the
    whole events it completes in one block (a burst costs a few scans per chunk, not work per
    event). Line ends are LF or CRLF (a lone CR, allowed by the SSE spec, is not used by
    opencode); CRLF comes out as LF, even when a chunk ends between the two.

    An event longer than `limit` bytes is given in pieces as it arrives (`inside_oversized`
    while it lasts): at most about `limit` bytes plus one chunk are held, whatever the server
    sends.
    """

    def __init__(self, limit: int = DOOR_EVENT_BYTES) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._cr = False  # the last chunk ended with a CR, held back
        self.inside_oversized = False

    def feed(self, chunk: bytes) -> bytes:
        """The whole events completed by `chunk`, as one block (b"": none yet), or the next
        piece of an oversized event (with the whole events after it, if it ends)."""
        if self._cr or b"\r" in chunk:
            chunk = self._lf_lines(chunk)
        if not self._buffer and chunk.endswith(b"\n\n"):  # the usual case: no copy
            self.inside_oversized = False
            return chunk
        self._buffer += chunk
        end = self._buffer.rfind(b"\n\n") + 2
        if end > 1:
            block = bytes(self._buffer[:end])
            del self._buffer[:end]
            self.inside_oversized = False
        else:
            block = b""
        if len(self._buffer) > self.limit:
            block += self._piece()
            self.inside_oversized = True
        return block

    def _piece(self) -> bytes:
        """The buffer given as a piece of an oversized event, but for a last LF: with the next
        chunk's first, it may end the event."""
        kept = b"\n" if self._buffer.endswith(b"\n") else b""
        with memoryview(self._buffer) as view:
            piece = bytes(view[: len(view) - len(kept)])
        self._buffer.clear()
        self._buffer += kept
        return piece

    def _lf_lines(self, chunk: bytes) -> bytes:
        """`chunk` with CRLF as LF, a CR from the chunk before put back where no LF follows it,
        and a CR at its end held back until the next chunk says what it is."""
        if self._cr and not chunk.startswith(b"\n"):
            chunk = b"\r" + chunk
        self._cr = chunk.endswith(b"\r")
        return chunk.removesuffix(b"\r").replace(b"\r\n", b"\n")

    def reset(self) -> bytes:
        """A new body: drop a half-received event; what to write to end an oversized one that
        was partly given."""
        self._buffer.clear()
        self._cr = False
        ended = b"\n\n" if self.inside_oversized else b""
        self.inside_oversized = False
        return ended
