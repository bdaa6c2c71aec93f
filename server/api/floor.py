"""The supervisors' floor view and the server's own description:

- GET /api/v1/floor?warehouse=: the floor now (services/floor.py), supervisor or admin;
  the console page (static/console/) loads it on connect and after the pushes it hears.
- GET /api/v1/about: what this server is, its pages, and the demo logins when it runs the
  demo (`wavepack serve --demo`); no token needed: the landing page (static/home/) reads it.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from .. import settings
from ..domain.errors import BadRequest
from ..services import floor
from .common import require_staff

bp = Blueprint("floor", __name__, url_prefix="/api/v1")
DEMO = "wavepack.demo"      # app.extensions key: set by `serve --demo` (server/cli.py)
PAGES = (("console", "/console/"), ("handheld", "/handheld/"), ("pack", "/pack/"),
         ("returns", "/returns/"), ("exceptions", "/exceptions/"), ("docs", "/docs"))
_INT64 = {"minimum": -2**63, "maximum": 2**63 - 1}


@bp.get("/floor")
def get_floor():
    require_staff("supervisor", "admin")
    warehouse = request.args.get("warehouse") or None
    if warehouse is not None and len(warehouse) > 64:
        raise BadRequest("warehouse must be a warehouse code", field="warehouse")
    return jsonify(floor.snapshot(warehouse, settings=settings.current()))


@bp.get("/about")
def about():
    from .openapi import _version
    demo = current_app.extensions.get(DEMO)
    body = {"name": "wavepack", "version": _version(), "demo": bool(demo),
            "pages": [{"name": n, "path": p} for n, p in PAGES]}
    if demo:
        from ..demo_data import USERS
        body["logins"] = [{"badge": b, "role": r, "pin": pin, "name": name}
                          for b, r, pin, name in USERS]
    return jsonify(body)


def _int(**extra) -> dict:
    return {"type": "integer", **_INT64, **extra}


_COUNT = _int(minimum=0)
_TIME = {"type": ["string", "null"], "format": "date-time"}
_TEXT_OR_NULL = {"type": ["string", "null"]}

RESPONSE_SCHEMAS = {
    "Floor": {
        "type": "object",
        "required": ["warehouse", "at", "orders", "waves", "pickers", "stations", "backorders",
                     "exceptions"],
        "properties": {
            "warehouse": _TEXT_OR_NULL,
            "at": {"type": "string", "format": "date-time"},
            "orders": {"type": "object",
                       "required": ["funnel", "waiting", "shipped_today", "at_risk"],
                       "properties": {
                           "funnel": {"type": "array", "items": {
                               "type": "object", "required": ["status", "count"],
                               "properties": {"status": {"type": "string"},
                                              "count": _COUNT}}},
                           "waiting": {"type": "object",
                                       "additionalProperties": _COUNT},
                           "shipped_today": _COUNT,
                           "at_risk": {"type": "object", "required": ["count", "hours", "orders"],
                                       "properties": {
                                           "count": _COUNT, "hours": {"type": "number"},
                                           "orders": {"type": "array", "items": {
                                               "type": "object",
                                               "required": ["order_id", "ref", "status",
                                                            "ship_by", "overdue"],
                                               "properties": {
                                                   "order_id": _int(), "ref": {"type": "string"},
                                                   "status": {"type": "string"},
                                                   "ship_by": _TIME, "flagged_at": _TIME,
                                                   "overdue": {"type": "boolean"}}}}}}}},
            "waves": {"type": "array", "items": {
                "type": "object",
                "required": ["wave_id", "warehouse", "status", "units", "picked", "short",
                             "progress", "carts"],
                "properties": {
                    "wave_id": _int(), "warehouse": {"type": "string"},
                    "status": {"type": "string"}, "created_at": _TIME, "released_at": _TIME,
                    "units": _COUNT, "picked": _COUNT, "short": _COUNT,
                    "progress": {"type": "number", "minimum": 0, "maximum": 1},
                    "carts": {"type": "array", "items": {
                        "type": "object",
                        "required": ["cart_id", "seq", "status", "picker", "units", "picked",
                                     "short", "tasks", "open_tasks"],
                        "properties": {
                            "cart_id": _int(), "seq": _int(), "status": {"type": "string"},
                            "picker": {"type": ["object", "null"]}, "units": _COUNT,
                            "picked": _COUNT, "short": _COUNT, "tasks": _COUNT,
                            "open_tasks": _COUNT}}}}}},
            "pickers": {"type": "array", "items": {
                "type": "object",
                "required": ["user_id", "badge", "location", "scans", "units", "lines",
                             "lines_per_hour", "errors", "error_rate", "verdicts"],
                "properties": {
                    "user_id": _int(), "badge": {"type": "string"},
                    "name": {"type": "string"}, "device": {"type": "string"},
                    "location": {"type": "string"}, "cart_id": {"type": ["integer", "null"], **_INT64},
                    "last_verdict": {"type": "string"}, "last_scan_at": _TIME,
                    "scans": _COUNT, "units": _COUNT, "lines": _COUNT,
                    "lines_per_hour": {"type": "number"}, "units_per_hour": {"type": "number"},
                    "errors": _COUNT, "error_rate": {"type": "number"},
                    "verdicts": {"type": "object", "additionalProperties": _COUNT}}}},
            "stations": {"type": "array", "items": {
                "type": "object",
                "required": ["station", "warehouse", "open_sessions", "held_sessions", "printer"],
                "properties": {
                    "station": {"type": "string"}, "warehouse": {"type": "string"},
                    "open_sessions": _COUNT, "held_sessions": _COUNT,
                    "printer": {"type": "object", "required": ["name", "state", "jobs"],
                                "properties": {"name": {"type": "string"},
                                               "state": {"type": "string"},
                                               "faults": {"type": "array"},
                                               "stale": {"type": "boolean"},
                                               "checked_at": _TIME,
                                               "jobs": {"type": "object"}}}}}},
            "backorders": {"type": "object", "required": ["orders", "skus"],
                           "properties": {"orders": _COUNT, "skus": {"type": "array", "items": {
                               "type": "object", "required": ["sku", "units", "orders"],
                               "properties": {"sku": {"type": "string"}, "units": _COUNT,
                                              "orders": _COUNT}}}}},
            "exceptions": {"type": "object", "required": ["open", "by_severity", "overdue"],
                           "properties": {"open": _COUNT, "overdue": _COUNT,
                                          "by_severity": {"type": "object",
                                                          "additionalProperties": _COUNT}}},
        },
    },
    "About": {
        "type": "object", "required": ["name", "version", "demo", "pages"],
        "properties": {
            "name": {"type": "string"}, "version": {"type": "string"},
            "demo": {"type": "boolean"},
            "pages": {"type": "array", "items": {
                "type": "object", "required": ["name", "path"],
                "properties": {"name": {"type": "string"}, "path": {"type": "string"}}}},
            "logins": {"type": "array", "description": "only when the server runs the demo",
                       "items": {"type": "object", "required": ["badge", "role", "pin"],
                                 "properties": {"badge": {"type": "string"},
                                                "role": {"type": "string"},
                                                "pin": {"type": "string"},
                                                "name": {"type": "string"}}}}},
    },
}


def openapi_paths() -> dict:
    """The OpenAPI path items of this blueprint (for server/api/openapi.py build_spec)."""
    from .openapi import _ok, _query, _responses, ref
    return {
        "/api/v1/floor": {"get": {
            "tags": ["floor"], "operationId": "getFloor",
            "summary": "The floor now (supervisor or admin): orders by state, running waves "
                       "and carts, active pickers, packing stations and printers, "
                       "backorders, ship-by at risk, open exceptions",
            "parameters": [_query("warehouse", "a warehouse code (none: every warehouse)",
                                  {"type": "string", "minLength": 1, "maxLength": 64})],
            "responses": _responses(_ok(200, "the floor", ref("Floor")), 400, 401, 403, 404),
        }},
        "/api/v1/about": {"get": {
            "tags": ["health"], "operationId": "about", "security": [],
            "summary": "What this server is: name, version, its pages, and the demo logins "
                       "when it runs the demo",
            "responses": _responses(_ok(200, "this server", ref("About"))),
        }},
    }
