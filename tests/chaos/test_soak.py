"""The soak benchmark, briefly: half a minute, two faults of different kinds (seed 2: SIGKILL,
then a stream reset), both recovered. Keeps the script working; the real soak is longer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Half a minute of soak, plus the starts, which take longer on a busy machine.
pytestmark = [pytest.mark.chaos, pytest.mark.server, pytest.mark.timeout(300)]

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def test_a_short_soak_recovers_from_every_fault(opencode_binary: str, tmp_path: Path) -> None:
    args = ["--minutes", "0.5", "--faults", "2", "--seed", "2", "--binary", opencode_binary]
    done = subprocess.run(
        [sys.executable, str(SOAK), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line}
    assert rows["all"][:2] == ["2", "2"], done.stdout
    assert "sigkill" in rows
    assert "stream" in rows
