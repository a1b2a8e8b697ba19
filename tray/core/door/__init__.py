"""The front door's decisions: what to do with a request or an event stream in each server state.

The front door owns the public address and forwards to the real server on a private port. This
package holds no sockets and reads no clock: the adapter (`tray/frontdoor/`) asks it, with the
time passed in, whether to forward, hold or refuse a request (`requests.py`, refusals in
`errors.py`), what to send a held event stream (`streams.py`), and whether a caller's credentials
or browser cookie are good (`auth.py`); `phases.py` holds what it knows of the server and
`stats.py` what it reports.
"""
