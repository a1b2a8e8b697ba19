#!/usr/bin/env bash
# Build the macOS app: dist/opencode-tray.app and dist/opencode-tray-<version>-macos-<arch>.zip.
#
#   packaging/build-macos.sh          PYTHON=/path/to/python packaging/build-macos.sh
#
# PYTHON (default .venv/bin/python) must have the app and PyInstaller installed. Set
# OPENCODE_TRAY_CODESIGN_IDENTITY to sign with a Developer ID; otherwise PyInstaller signs ad hoc.
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

plutil -lint dist/opencode-tray.app/Contents/Info.plist
archive=dist/opencode-tray-$version-macos-$(uname -m).zip
rm -f "$archive"
ditto -c -k --keepParent dist/opencode-tray.app "$archive"
echo "$archive"
