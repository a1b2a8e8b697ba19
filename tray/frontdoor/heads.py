"""The heads the front door writes: a request line or a status line, then header fields.

llhttp (httptools) parses every head the door reads, on both sides, and refuses any with a
CR, LF or NUL where it does not belong; the fields written here are those it parsed, or the
door's own (constants, numbers, and what the app made: a sign-in link's target, a cookie).
"""

from __future__ import annotations

from http import HTTPStatus

Headers = list[tuple[bytes, bytes]]


def request_head(method: bytes, target: bytes, host: bytes, headers: Headers) -> bytes:
    lines = [b"%b %b HTTP/1.1\r\nhost: %b\r\n" % (method, target, host)]
    lines += [b"%b: %b\r\n" % field for field in headers]
    lines.append(b"\r\n")
    return b"".join(lines)


def response_head(status: int, reason: bytes, headers: Headers) -> bytes:
    lines = [b"HTTP/1.1 %d %b\r\n" % (status, reason or phrase(status))]
    lines += [b"%b: %b\r\n" % field for field in headers]
    lines.append(b"\r\n")
    return b"".join(lines)


def phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
