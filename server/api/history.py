"""Order search and an order's timeline for the supervisors' console (supervisor or
admin). The use cases are in services/order_history.py."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..services import order_history
from .common import int_arg, require_staff

SUPERVISORS = ("supervisor", "admin")

bp = Blueprint("history", __name__, url_prefix="/api/v1")


@bp.get("/orders/search")
def search():
    require_staff(*SUPERVISORS)
    page, cursor = order_history.search(
        request.args.get("q", ""), cursor=order_history.parse_cursor(request.args.get("cursor")),
        limit=int_arg("limit", 25, 1, order_history.PAGE_MAX))
    return jsonify({"orders": page, "next_cursor": cursor})


@bp.get("/orders/<id:order_id>/timeline")
def timeline(order_id: int):
    require_staff(*SUPERVISORS)
    return jsonify(order_history.timeline(order_id))


# --- OpenAPI ------------------------------------------------------------------------------

def _entry() -> dict:
    from .openapi import _nullable
    return {
        "type": "object",
        "required": ["at", "action", "actor", "entity", "entity_id", "before", "after",
                     "detail", "source"],
        "properties": {
            "at": _nullable("string", format="date-time"),
            "action": {"type": "string", "examples": ["order.status", "scan.pick",
                                                      "tracking.delivered"]},
            "actor": {"type": "string", "description": "user:<badge>, token:…, job:…, "
                                                       "carrier:<name> or system"},
            "entity": {"type": "string", "examples": ["order", "shipment", "pick_task"]},
            "entity_id": {"type": "string"},
            "before": {}, "after": {}, "detail": {},
            "source": {"type": "string", "enum": ["audit", "scan", "pack_scan",
                                                  "tracking_event", "order"]},
        },
    }


_INT64 = {"type": "integer", "minimum": -2**63, "maximum": 2**63 - 1}

RESPONSE_SCHEMAS = {
    "OrderSearch": {
        "type": "object", "required": ["orders", "next_cursor"],
        "properties": {
            "orders": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "ref", "status", "channel", "placed_at", "customer",
                             "email", "country", "warehouse", "ship_by", "matched"],
                "properties": {
                    "id": _INT64, "ref": {"type": "string"}, "status": {"type": "string"},
                    "channel": {"type": "string"},
                    "placed_at": {"type": ["string", "null"], "format": "date-time"},
                    "customer": {"type": "string"}, "email": {"type": "string"},
                    "country": {"type": "string"}, "warehouse": {"type": ["string", "null"]},
                    "ship_by": {"type": ["string", "null"], "format": "date-time"},
                    "matched": {"type": "array", "items": {"type": "string", "enum": [
                        "ref", "tracking", "return_tracking", "sku", "email", "phone",
                        "name"]}},
                }}},
            "next_cursor": {"type": ["string", "null"],
                            "description": "pass as cursor for the next page; null at the end"},
        },
    },
    "OrderTimeline": {
        "type": "object", "required": ["order", "entries"],
        "properties": {
            "order": {"type": "object", "required": ["id", "ref", "status", "channel",
                                                     "placed_at"],
                      "properties": {"id": _INT64, "ref": {"type": "string"},
                                     "status": {"type": "string"},
                                     "channel": {"type": "string"},
                                     "placed_at": {"type": ["string", "null"],
                                                   "format": "date-time"}}},
            "entries": {"type": "array", "items": _entry()},
        },
    },
}


def openapi_paths() -> dict:
    from .openapi import ORDER_ID, _ok, _query, _responses, ref
    return {
        "/api/v1/orders/search": {"get": {
            "tags": ["orders"], "operationId": "searchOrders",
            "summary": "Find orders by ref, tracking number (parcel or return label), SKU, "
                       "customer e-mail, phone (international digits) or the start of the "
                       "customer's name; newest first (supervisor or admin)",
            "parameters": [
                _query("q", "what to look for", {"type": "string", "minLength": 1,
                                                 "maxLength": 200}, required=True),
                _query("cursor", "next_cursor of the previous page",
                       {"type": "string", "pattern": "^[0-9]{1,18}$"}),
                _query("limit", "page size (default 25)",
                       {"type": "integer", "minimum": 1, "maximum": order_history.PAGE_MAX}),
            ],
            "responses": _responses(_ok(200, "one page", ref("OrderSearch")), 400, 401, 403),
        }},
        "/api/v1/orders/{order_id}/timeline": {"get": {
            "tags": ["orders"], "operationId": "orderTimeline",
            "summary": "An order's whole history, oldest first: audit rows of the order and "
                       "its pack sessions, shipments, print jobs, returns, messages and "
                       "exceptions; every handheld and packing scan (picker, device); "
                       "tracking events (supervisor or admin)",
            "parameters": [ORDER_ID],
            "responses": _responses(_ok(200, "the timeline", ref("OrderTimeline")),
                                    400, 401, 403, 404),
        }},
    }
