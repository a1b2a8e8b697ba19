"""opencode-tray: keeps a local `opencode serve` alive, watched and explained."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("opencode-tray")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
