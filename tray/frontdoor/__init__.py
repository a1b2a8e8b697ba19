"""The front door: the public address clients use, in front of the real server on a private port.

`door.FrontDoor` runs on the loop it is started on; `threaded.ThreadedFrontDoor` runs one on its
own loop in a thread, with the same methods. The decisions live in `tray.core.door`.
"""
