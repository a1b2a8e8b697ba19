"""The Qt shell that is not a view: the app's wiring, the single-instance channel, launching."""
