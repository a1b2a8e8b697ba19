"""The Qt shell: tray icon, menus, windows, notifications. Reads `Status`, sends commands."""
