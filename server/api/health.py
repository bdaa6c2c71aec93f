from __future__ import annotations

from flask import Blueprint, jsonify

from ..store import db as store_db
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
                    "schema_version": version, "schema_current": version == latest_version()})
