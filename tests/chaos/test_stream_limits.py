"""The event reader's limits: a server that sends an endless line, or an endless event, costs a
bounded amount of memory, and the events after it still come through."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Iterable

import pytest

from tray.engine.stream import event_data

pytestmark = pytest.mark.chaos

LIMIT = 1024 * 1024
MIB = 1024 * 1024


async def body(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_all(parts: Iterable[bytes], limit: int = LIMIT) -> list[str | None]:
    return [data async for data in event_data(body(parts), limit)]


def endless(prefix: bytes, chunk: bytes, mib: int) -> Iterable[bytes]:
    """`prefix`, then `mib` MiB of `chunk`, arriving 64 KiB at a time."""
    yield prefix
    piece = chunk * (64 * 1024 // len(chunk))
    for _ in range(mib * 16):
        yield piece


async def test_an_endless_line_is_dropped_as_it_arrives() -> None:
    parts = [
        *endless(b"data: ", b"x", mib=64),
        b"\n\ndata: {}\n\n",
    ]
    tracemalloc.start()
    try:
        seen = await read_all(parts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == [None, "{}"]
    assert peak < 4 * LIMIT, f"{peak / MIB:.1f} MiB held for a 64 MiB line"


async def test_an_endless_event_of_short_lines_is_dropped_as_it_arrives() -> None:
    parts = [*endless(b"", b"data: yyyyyyyyy\n", mib=4), b"\ndata: {}\n\n"]
    tracemalloc.start()
    try:
        seen = await read_all(parts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == [None, "{}"]
    assert peak < 4 * LIMIT


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param([b"data: a\n\n"], ["a"], id="one"),
        pytest.param([b"da", b"ta: a\r", b"\n\r\n"], ["a"], id="split-crlf"),
        pytest.param([b"data: a\ndata: b\n\n"], ["a\nb"], id="multi-line"),
        pytest.param([b"data:a\n\n"], ["a"], id="no-space"),
        pytest.param([b": comment\nevent: x\nid: 1\nretry: 5\n\n"], [], id="no-data"),
        pytest.param([b"data: \xff\n\n"], ["\ufffd"], id="bad-utf8"),
        pytest.param([b"data: a\n\ndata: b"], ["a"], id="cut-short"),
        pytest.param(
            [b"data: " + b"z" * (LIMIT + 1) + b"\n\n", b"data: b\n\n"], [None, "b"], id="big"
        ),
    ],
)
async def test_events_are_split_as_the_sse_spec_says(
    parts: list[bytes], expected: list[str | None]
) -> None:
    assert await read_all(parts) == expected
