"""Flask-SocketIO namespaces: thin layers that check the caller, call a service and
return its answer as the ack (/handheld now; /pack and /dashboard later)."""
from __future__ import annotations

import logging
import sys

from flask import Flask
from flask_socketio import SocketIO

log = logging.getLogger(__name__)


def async_mode(configured: str) -> str:
    """`auto`: gevent when this process runs under gevent's monkey patching (as
    `wavepack serve` does), threading otherwise (tests, the flask CLI)."""
    if configured != "auto":
        return configured
    if "gevent.monkey" in sys.modules:
        from gevent import monkey
        if monkey.is_module_patched("socket"):
            return "gevent"
    return "threading"


def init_sockets(app: Flask) -> SocketIO:
    """One SocketIO server per app (tests build many apps in one process)."""
    cfg = app.config["WAVEPACK"].server
    origins = [o.strip() for o in cfg.allowed_origins.split(",") if o.strip()]
    # None = the server's own origin only: a page from another site cannot drive a handheld
    sio = SocketIO(app, async_mode=async_mode(cfg.async_mode),
                   cors_allowed_origins=origins or None, json=app.json,
                   max_http_buffer_size=64 * 1024, ping_interval=10, ping_timeout=10,
                   # the handlers keep who is connected themselves; Flask-SocketIO's own
                   # per-socket copy of the Flask session would be saved on every event
                   manage_session=False)
    from .handheld import register
    register(sio)
    return sio
