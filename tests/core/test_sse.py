"""The one SSE splitter: the seams between chunks that both its readers rely on."""

from __future__ import annotations

from tray.core.sse import EventSplitter


def test_a_crlf_cut_between_chunks_is_one_lf() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"data: 1\r\n\r") == b""
    assert splitter.feed(b"\ndata: 2\r") == b"data: 1\n\n"
    assert splitter.feed(b"x\n\n") == b"data: 2\rx\n\n"  # a lone CR stays as it was


def test_an_oversized_event_keeps_its_last_lf_for_the_blank_line() -> None:
    splitter = EventSplitter(limit=10)
    assert splitter.feed(b"data: 0123456789\n") == b"data: 0123456789"
    assert splitter.inside_oversized
    assert splitter.feed(b"\ndata: 1\n\n") == b"\n\ndata: 1\n\n"
    assert not splitter.inside_oversized
