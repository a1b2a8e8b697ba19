#!/usr/bin/env bash
# Build the Linux app: dist/opencode-tray/ (one folder) and dist/opencode-tray-<version>-linux-<arch>.tar.gz.
#
#   packaging/build-linux.sh          PYTHON=/path/to/python packaging/build-linux.sh
#
# PYTHON (default .venv/bin/python) must have the app and PyInstaller installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 || {
    echo "PyInstaller is missing: $PYTHON -m pip install pyinstaller" >&2
    exit 1
}
version=$("$PYTHON" packaging/version.py)

"$PYTHON" -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller \
    packaging/opencode-tray.spec

archive=dist/opencode-tray-$version-linux-$(uname -m).tar.gz
tar -C dist -czf "$archive" opencode-tray
echo "$archive"
