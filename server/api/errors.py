"""One place that turns every failure into `{"error": {"code", "message", "field"}}`."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ..domain.errors import DomainError
from ..store import db as store_db

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, field: str | None = None):
    resp = jsonify({"error": {"code": code, "message": message, "field": field}})
    resp.status_code = status
    return resp


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        resp = jsonify(err.to_dict())
        resp.status_code = err.status
        return resp

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        code = (err.name or "error").lower().replace(" ", "_")
        resp = error_response(err.code or 500, code, err.description or err.name)
        if err.code == 405 and err.valid_methods:  # type: ignore[attr-defined]
            resp.headers["Allow"] = ", ".join(err.valid_methods)  # type: ignore[attr-defined]
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        if store_db.is_unavailable(err):
            log.warning("database unavailable: %s", str(err).strip().splitlines()[0]
                        if str(err).strip() else type(err).__name__)
            resp = error_response(503, "database_unavailable",
                                  "the database cannot be reached just now; nothing was "
                                  "changed, retry shortly")
            resp.headers["Retry-After"] = "5"
            return resp
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; nothing was acknowledged")
