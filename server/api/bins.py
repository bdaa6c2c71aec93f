"""A bin on the supervisors' console: its stock, its movements, and adjustments with a
reason (supervisor or admin). The use cases are in services/adjustments.py."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import settings
from ..domain.adjustments import REASONS
from ..domain.errors import BadRequest
from ..services import adjustments
from ..services.order_history import parse_cursor
from .common import int_arg, json_body, require_staff

SUPERVISORS = ("supervisor", "admin")

bp = Blueprint("bins", __name__, url_prefix="/api/v1")


def _bin_args() -> tuple[str | None, str]:
    warehouse = (request.args.get("warehouse") or "").strip() or None
    location = (request.args.get("location") or "").strip()
    if not location:
        raise BadRequest("location is required", field="location")
    if len(location) > 32 or (warehouse and len(warehouse) > 32):
        raise BadRequest("warehouse and location are at most 32 characters", field="location")
    return warehouse, location


@bp.get("/stock/bin")
def get_bin():
    require_staff(*SUPERVISORS)
    return jsonify(adjustments.bin_view(*_bin_args()))


@bp.get("/stock/bin/movements")
def bin_movements():
    require_staff(*SUPERVISORS)
    page, cursor = adjustments.movements(
        *_bin_args(), cursor=parse_cursor(request.args.get("cursor")),
        limit=int_arg("limit", 50, 1, adjustments.PAGE_MAX))
    return jsonify({**page, "next_cursor": cursor})


@bp.post("/stock/adjustments")
def post_adjustment():
    p = require_staff(*SUPERVISORS)
    body = json_body("StockAdjustment")
    out = adjustments.adjust(
        client_key=body["client_key"], warehouse=body.get("warehouse"),
        location=body["location"], sku=body["sku"], counted=body.get("counted"),
        delta=body.get("delta"), reason=body["reason"], note=body.get("note", ""),
        actor=p.actor, settings=settings.current())
    return jsonify(out), 200 if out["replayed"] else 201


# --- OpenAPI ------------------------------------------------------------------------------

_INT = {"type": "integer", "minimum": -2**31, "maximum": 2**31 - 1}
_ID64 = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_BIN_ITEM = {
    "type": "object",
    "required": ["sku", "name", "on_hand", "reserved", "available", "min_qty", "updated_at"],
    "properties": {"sku": {"type": "string"}, "name": {"type": "string"}, "on_hand": _INT,
                   "reserved": _INT, "available": _INT, "min_qty": _INT, "updated_at": _TIME},
}

RESPONSE_SCHEMAS = {
    "Bin": {
        "type": "object", "required": ["warehouse", "location", "blocked", "count_pending",
                                       "items"],
        "properties": {
            "warehouse": {"type": "string"}, "location": {"type": "string"},
            "blocked": {"type": ["string", "null"],
                        "description": "why no reservation may land here (count_pending)"},
            "count_pending": {"oneOf": [{"type": "null"}, {
                "type": "object", "required": ["id", "reason", "created_at"],
                "properties": {"id": _ID64, "reason": {"type": "string"},
                               "created_at": _TIME}}]},
            "items": {"type": "array", "items": _BIN_ITEM},
        },
    },
    "BinMovements": {
        "type": "object", "required": ["warehouse", "location", "movements", "next_cursor"],
        "properties": {
            "warehouse": {"type": "string"}, "location": {"type": "string"},
            "movements": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "at", "actor", "action", "sku", "before", "after", "detail"],
                "properties": {"id": _ID64, "at": _TIME,
                               "actor": {"type": "string"},
                               "action": {"type": "string",
                                          "examples": ["stock.reserve", "stock.adjust"]},
                               "sku": {"type": ["string", "null"]},
                               "before": {}, "after": {}, "detail": {}}}},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "StockAdjustmentResult": {
        "type": "object",
        "required": ["id", "client_key", "warehouse", "location", "sku", "before", "after",
                     "delta", "reason", "note", "orders_reserved", "created_by",
                     "created_at", "stock", "replayed"],
        "properties": {
            "id": _ID64, "client_key": {"type": "string"},
            "warehouse": {"type": "string"}, "location": {"type": "string"},
            "sku": {"type": "string"}, "before": _INT, "after": _INT,
            "delta": {"type": "integer", "minimum": -2**32, "maximum": 2**32},
            "reason": {"type": "string", "enum": list(REASONS)}, "note": {"type": "string"},
            "orders_reserved": _INT, "created_by": {"type": "string"}, "created_at": _TIME,
            "stock": {"oneOf": [{"type": "null"}, _BIN_ITEM]},
            "replayed": {"type": "boolean",
                         "description": "true: this client_key was done before; nothing "
                                        "changed now"},
        },
    },
}


def openapi_paths() -> dict:
    from .openapi import _json_body, _ok, _query, _responses, ref
    where = [_query("warehouse", "warehouse code (needed when the location code is in "
                                 "several)", {"type": "string", "maxLength": 32}),
             _query("location", "the bin", {"type": "string", "minLength": 1,
                                             "maxLength": 32}, required=True)]
    return {
        "/api/v1/stock/bin": {"get": {
            "tags": ["stock"], "operationId": "getBin",
            "summary": "One bin: each SKU's on hand, reserved, available; blocked and a "
                       "pending count (supervisor or admin)",
            "parameters": where,
            "responses": _responses(_ok(200, "the bin", ref("Bin")), 400, 401, 403, 404, 422),
        }},
        "/api/v1/stock/bin/movements": {"get": {
            "tags": ["stock"], "operationId": "getBinMovements",
            "summary": "The bin's stock audit trail, newest first (supervisor or admin)",
            "parameters": where + [
                _query("cursor", "next_cursor of the previous page",
                       {"type": "string", "pattern": "^[0-9]{1,18}$"}),
                _query("limit", "page size (default 50)",
                       {"type": "integer", "minimum": 1, "maximum": adjustments.PAGE_MAX})],
            "responses": _responses(_ok(200, "one page", ref("BinMovements")),
                                    400, 401, 403, 404, 422),
        }},
        "/api/v1/stock/adjustments": {"post": {
            "tags": ["stock"], "operationId": "adjustStock",
            "summary": "Correct one bin's stock of a SKU with a reason (supervisor or "
                       "admin): audited, idempotent by client_key, never below what is "
                       "reserved (409 below_reserved); more stock goes to backorders first",
            "requestBody": _json_body("StockAdjustment"),
            "responses": _responses({**_ok(201, "adjusted", ref("StockAdjustmentResult")),
                                     **_ok(200, "this client_key was done before: the first "
                                                "result, nothing changed",
                                           ref("StockAdjustmentResult"))},
                                    400, 401, 403, 404, 409, 413, 415, 422),
        }},
    }
