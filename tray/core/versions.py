"""Which opencode server versions this app speaks to."""

from __future__ import annotations

import re

SUPPORTED = "1.x"
_MAJOR = re.compile(r"^v?(\d+)\.")


def is_supported(version: str) -> bool:
    """opencode 1.x: the 2.x server API ("new contracts") changed the endpoints we use."""
    match = _MAJOR.match(version.strip())
    return match is not None and int(match.group(1)) == 1
