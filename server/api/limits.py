"""Rate limits (flask-limiter): badge logins per client address, memory or Redis storage.
A refusal is a 429 with the usual JSON error body (api/errors.py).

With Redis configured and unreachable, limits are kept in this process's memory instead
(flask-limiter's in-memory fallback; it goes back to Redis once Redis answers again) and
logins keep working: before, every login answered 500 while Redis was down. Unreachable at
start-up is said at once (a log warning, and `wavepack serve` prints it); each switch to
memory is logged by wavepack and counted (`rate_limits` in /healthz)."""
from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

log = logging.getLogger(__name__)

# seconds a Redis call may take: a Redis that does not answer must not hold logins up
STORAGE_TIMEOUT_S = 1.0
_FALLBACK_MESSAGE = "Rate limit storage unreachable"   # flask-limiter 3.x/4.x's warning
_lock = threading.Lock()
_fallbacks = [0]


class _CountFallbacks(logging.Filter):
    """flask-limiter says when it falls back only in its log: count it and say it in ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(_FALLBACK_MESSAGE):
            with _lock:
                _fallbacks[0] += 1
            log.warning("rate-limit storage unreachable: login limits are kept in this "
                        "process's memory until it answers again")
        return True


_watch = _CountFallbacks()
logging.getLogger("flask-limiter").addFilter(_watch)


def init_limiter(app: Flask) -> Limiter:
    cfg = app.config["WAVEPACK"].auth
    uri = cfg.rate_limit_storage
    remote = not uri.startswith("memory://")
    options = {"socket_timeout": STORAGE_TIMEOUT_S,
               "socket_connect_timeout": STORAGE_TIMEOUT_S} if uri.startswith("redis") else {}
    limiter = Limiter(get_remote_address, app=app, storage_uri=uri, storage_options=options,
                      key_prefix=cfg.rate_limit_prefix, default_limits=[],
                      headers_enabled=True, in_memory_fallback_enabled=remote)
    # the decorator returns the checked view: put it where the route looks the view up
    app.view_functions["auth.badge_login"] = limiter.limit(cfg.login_rate_limit)(
        app.view_functions["auth.badge_login"])
    app.extensions["wavepack.rate_limit_warning"] = _startup_check(limiter, uri) \
        if remote else None
    return limiter


def _startup_check(limiter: Limiter, uri: str) -> str | None:
    """A warning when the configured storage does not answer now (None when it does)."""
    try:
        ok = bool(limiter.storage.check())
    except Exception:   # noqa: BLE001 (any failure to answer means: unreachable)
        ok = False
    if ok:
        return None
    parts = urlsplit(uri)
    where = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no password
    message = (f"rate-limit storage {where} is unreachable: login limits are kept in each "
               f"process's memory (not shared) until it answers")
    log.warning(message)
    return message


def state(app: Flask) -> dict:
    """For /healthz: where limits are kept now, and how often this process fell back."""
    uri = app.config["WAVEPACK"].auth.rate_limit_storage
    limiter = next(iter(app.extensions.get("limiter", ())), None)
    dead = bool(getattr(limiter, "_storage_dead", False))     # flask-limiter's own flag
    kind = urlsplit(uri).scheme or "memory"
    return {"storage": "memory (fallback)" if dead else kind, "fallbacks": _fallbacks[0]}
