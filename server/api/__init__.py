"""HTTP entry points: thin blueprints that parse, call a service and serialise."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from .health import bp as health
    app.register_blueprint(health)
