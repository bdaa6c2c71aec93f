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
    from .history import bp as history
    from .bins import bp as bins
    from .admin import bp as admin
    for bp in (health, auth, orders, stock, counts, waves, pack, printing, outbox, returns,
               webhooks, tracking, exceptions, history, bins, admin, openapi, pages):
        app.register_blueprint(bp)
    from .limits import init_limiter
    init_limiter(app)
