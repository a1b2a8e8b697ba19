"""The wheel's packages: `tray` and its subpackages, plus the repo's top-level resources/ as
`tray._resources` (the icons and the launcher entry the app reads at run time, found through the
package: tray/platform/resources.py). Everything else is in pyproject.toml, which cannot map a
folder outside tray/ into a package found by `packages.find`."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["tray", "tray.*"]), "tray._resources"],
    package_dir={"tray._resources": "resources"},
    package_data={
        "tray._resources": ["*.desktop", "icons/*.svg", "icons/hicolor/*/apps/*.png"],
    },
)
