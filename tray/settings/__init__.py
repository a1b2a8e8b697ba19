"""The settings file (the settings themselves are declared in `tray.core.settings`)."""
