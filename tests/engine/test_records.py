"""The server's pid record: a server gone before it is recorded, or a record that cannot be
written, never stops the engine from following the server (it raised, and the engine lost its
server killed as it started)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tray.engine.leftover import RecordFile


def test_a_server_gone_before_it_is_recorded_leaves_no_record(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # exited and reaped: its pid names nothing now
    records = RecordFile(tmp_path / "server.json")
    records.write(child.pid)
    assert records.read() is None


def test_a_record_that_cannot_be_written_is_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "state").write_text("a file where the folder should be")
    records = RecordFile(tmp_path / "state" / "server.json")
    records.write(os.getpid())
    assert "could not record the server's pid" in caplog.text
    assert records.read() is None
    records.clear()  # what the engine does when the server exits: said, never raised
    assert "cannot remove the server record" in caplog.text


def test_a_live_server_is_recorded_with_its_group(tmp_path: Path) -> None:
    records = RecordFile(tmp_path / "server.json")
    records.write(os.getpid())
    record = records.read()
    assert record is not None
    assert (record.pid, record.pgid) == (os.getpid(), os.getpgid(os.getpid()))
