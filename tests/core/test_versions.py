"""Which opencode versions the app speaks to: 1.x only (the generation that speaks it)."""

from __future__ import annotations

import pytest

from tray import generations


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("1.18.33", True),
        ("v1.2.3", True),
        ("1.0.0", True),
        (" 1.18.33\n", True),
        ("1.0.0-beta.1", True),
        ("2.0.0", False),
        ("v2.1.0", False),
        ("0.9.9", False),
        ("10.0.0", False),
        ("11.1.1", False),
        ("1", False),
        ("", False),
        ("garbage", False),
        ("v", False),
        ("x1.2.3", False),
        ("local", False),
    ],
)
def test_is_supported(version: str, supported: bool) -> None:
    assert (generations.for_version(version) is not None) is supported


def test_supported_names_the_range() -> None:
    assert generations.SUPPORTED == "1.x"
