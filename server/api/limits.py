"""Rate limits (flask-limiter): badge logins per client address, memory or Redis storage.
A refusal is a 429 with the usual JSON error body (api/errors.py)."""
from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def init_limiter(app: Flask) -> Limiter:
    cfg = app.config["WAVEPACK"].auth
    limiter = Limiter(get_remote_address, app=app, storage_uri=cfg.rate_limit_storage,
                      key_prefix=cfg.rate_limit_prefix,
                      default_limits=[], headers_enabled=True)
    # the decorator returns the checked view: put it where the route looks the view up
    app.view_functions["auth.badge_login"] = limiter.limit(cfg.login_rate_limit)(
        app.view_functions["auth.badge_login"])
    return limiter
