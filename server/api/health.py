from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from ..store import db as store_db
from . import limits
from ..store.migrate import latest_version, schema_version

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness and readiness: the database answers, is still the file this server opened
    (SQLite), and its schema is current."""
    problem = store_db.sqlite_file_problem()
    if problem:
        resp = jsonify({"status": "unavailable", "database": store_db.kind(),
                        "error": {"code": "database_unavailable", "message": problem,
                                  "field": None}})
        resp.status_code = 503
        return resp
    version = schema_version()
    store_db.execute("SELECT 1")
    return jsonify({"status": "ok", "database": store_db.kind(),
                    "schema_version": version, "schema_current": version == latest_version(),
                    "rate_limits": limits.state(current_app),
                    "message_queue": _message_queue()})


def _message_queue() -> str:
    """The Socket.IO message queue as this process last saw it ("ok", "down", "none"):
    down degrades the consoles' live view, not this process's service, so it is a field
    here and never a 503."""
    feed = current_app.extensions.get("wavepack.console")
    if feed is None:
        return "none"
    if feed.shared and time.monotonic() - feed.mq_checked >= 2.0:
        return feed.check_message_queue()
    return feed.mq
