"""A local OpenAI-compatible model for the real server, so a real prompt runs offline.

    python -m tests.e2e.mock_model PORT WORKDIR

PORT 0 takes a free port; the port listened on is the first line printed. Tests call `spawn`,
which does that: a port picked beforehand can be taken by a parallel test before the model binds
it (a CI run lost a minute waiting for a model that had died of "address already in use").

Every POST /v1/chat/completions streams (or returns) a short answer. The file WORKDIR/mode says
how fast: "slow" streams a chunk every 0.5 s for a minute (a turn that is busy long enough to
kill the server in the middle of it), "slow N" N chunks, "hang" never sends its first chunk (a
turn stuck busy), anything else answers at once. Each request appends a line
to WORKDIR/requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SLOW_CHUNKS = 120
SLOW_DELAY_S = 0.5


def _chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "m1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


async def _read_request(reader: asyncio.StreamReader) -> dict[str, Any]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b"{}"
    request: dict[str, Any] = json.loads(body)
    return request


async def _answer(
    workdir: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        request = await _read_request(reader)
    except (asyncio.IncompleteReadError, ValueError):
        writer.close()
        return
    mode = (workdir / "mode").read_text().split() if (workdir / "mode").exists() else []
    slow = mode[:1] == ["slow"]
    chunks = int(mode[1]) if slow and len(mode) > 1 else SLOW_CHUNKS
    if mode == ["hang"]:
        with (workdir / "requests").open("a") as log:
            log.write("hang\n")
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the server hangs up (an abort) or dies
        writer.close()
        return
    with (workdir / "requests").open("a") as log:
        log.write(f"{'slow' if slow else 'fast'}\n")
    if not request.get("stream"):
        reply = {
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "m1",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Done."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(reply).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(data)}\r\n\r\n".encode()
            + data
        )
    else:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\nconnection: close\r\n\r\n"
        )
        for n in range(chunks if slow else 3):
            writer.write(_chunk({"role": "assistant", "content": f"word{n} "}))
            await writer.drain()
            if slow:
                await asyncio.sleep(SLOW_DELAY_S)
        writer.write(_chunk({}, "stop") + b"data: [DONE]\n\n")
    with contextlib.suppress(ConnectionError):  # the server may be killed mid-answer
        await writer.drain()
    writer.close()


async def listen(workdir: Path, port: int = 0) -> asyncio.Server:
    """The model listening in this loop; port 0 takes a free one."""
    return await asyncio.start_server(lambda r, w: _answer(workdir, r, w), "127.0.0.1", port)


async def serve(port: int, workdir: Path) -> None:
    server = await listen(workdir, port)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def spawn(workdir: Path) -> tuple[subprocess.Popen[str], int]:
    """The model in its own process on a port of its own choosing, and that port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.mock_model", "0", str(workdir)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    with proc.stdout:  # it prints nothing more
        line = proc.stdout.readline()  # the port, or "" if the model died before it listened
    if not line.strip().isdigit():
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the mock model did not start (printed {line!r})")
    return proc, int(line)


def config_content(port: int) -> str:
    """OPENCODE_CONFIG_CONTENT that makes the server use this model."""
    return json.dumps(
        {
            "model": "mock/m1",
            "small_model": "mock/m1",
            "provider": {
                "mock": {
                    "npm": "@ai-sdk/openai-compatible",
                    "options": {"baseURL": f"http://127.0.0.1:{port}/v1", "apiKey": "x"},
                    "models": {"m1": {"name": "M1"}},
                }
            },
        }
    )


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), Path(sys.argv[2])))
