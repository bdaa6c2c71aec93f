"""HTTP entry points: thin blueprints that parse, call a service and serialise."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from .auth import bp as auth
    from .health import bp as health
    from .orders import bp as orders
    from .stock import bp as stock
    from .openapi import bp as openapi
    from .webhooks import bp as webhooks
    from .pages import bp as pages
    from .waves import bp as waves
    from .pack import bp as pack
    from .outbox import bp as outbox
    from .printing import bp as printing
    from .counts import bp as counts
    from .tracking import bp as tracking
    from .returns import bp as returns
    from .exceptions import bp as exceptions
    from .reports import bp as reports
    from .floor import bp as floor
    from .replenishment import bp as replenishment
    from .history import bp as history
    from .bins import bp as bins
    from .admin import bp as admin
    from .metrics import install as install_metrics
    install_metrics(app)       # GET /metrics, and the webhook rejections it counts
    for bp in (health, auth, orders, stock, counts, waves, pack, printing, outbox, returns,
               webhooks, tracking, exceptions, reports, floor, replenishment, history, bins,
               admin, openapi, pages):
        app.register_blueprint(bp)
    from .limits import init_limiter
    init_limiter(app)
    from .headers import install as security_headers
    security_headers(app)
