"""Cycle counts API (supervisor or admin): record a count of a bin, schedule counts, list
the count tasks. The use cases are in services/counts.py."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import settings
from ..domain.errors import BadRequest
from ..services import counts
from .common import int_arg, json_body, require_staff

_INT64 = {"minimum": -2**63, "maximum": 2**63 - 1}   # every integer bounded (OverflowError on SQLite)

bp = Blueprint("counts", __name__, url_prefix="/api/v1")


@bp.post("/counts")
def post_count():
    p = require_staff("supervisor", "admin")
    body = json_body("CountRequest")
    lines = [(ln["sku"], ln["quantity"]) for ln in body["lines"]]
    return jsonify(counts.record_count(body["warehouse"], body["location"], lines,
                                       p.actor, settings=settings.current())), 201


@bp.post("/counts:schedule")
def schedule_counts():
    p = require_staff("supervisor", "admin")
    body = json_body("CountSchedule")
    return jsonify(counts.schedule_counts(
        body["warehouse"], from_location=body.get("from_location"),
        to_location=body.get("to_location"), sku=body.get("sku"), actor=p.actor)), 201


@bp.get("/counts")
def list_counts():
    require_staff("supervisor", "admin")
    state = request.args.get("state") or None
    if state is not None and state not in counts.STATES:
        raise BadRequest(f"state must be one of {', '.join(counts.STATES)}", field="state")
    return jsonify({"counts": counts.list_counts(state, request.args.get("warehouse") or None,
                                                 int_arg("limit", 200, 1, 1000))})


@bp.post("/counts/<id:count_id>/cancel")
def cancel_count(count_id: int):
    p = require_staff("supervisor", "admin")
    return jsonify(counts.cancel_count(count_id, p.actor, settings=settings.current()))


# --- OpenAPI ------------------------------------------------------------------------------

def _count_task() -> dict:
    from .openapi import _nullable
    return {
        "type": "object",
        "required": ["id", "warehouse", "location", "state", "reason", "pick_task",
                     "assigned_to", "created_by", "created_at", "counted_by", "counted_at"],
        "properties": {
            "id": {"type": "integer", **_INT64}, "warehouse": {"type": "string"},
            "location": {"type": "string"},
            "state": {"type": "string", "enum": list(counts.STATES)},
            "reason": {"type": "string", "enum": ["pick_short", "scheduled", "spot_check"],
                       "description": "pick_short: a picker could not find units there"},
            "pick_task": _nullable("integer", description="the short pick that asked for it"),
            "assigned_to": _nullable("string", description="badge of the counter who took it"),
            "created_by": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "counted_by": _nullable("string"),
            "counted_at": _nullable("string", format="date-time"),
        },
    }


RESPONSE_SCHEMAS = {
    "CountResult": {
        "type": "object",
        "required": ["count_id", "warehouse", "location", "counted_at", "lines", "reallocated",
                     "backordered", "exceptions_resolved", "orders_reserved"],
        "properties": {
            "count_id": {"type": "integer", **_INT64}, "warehouse": {"type": "string"},
            "location": {"type": "string"},
            "counted_at": {"type": "string", "format": "date-time"},
            "lines": {"type": "array", "items": {
                "type": "object",
                "required": ["sku", "on_hand_before", "in_transit", "counted", "on_hand",
                             "variance", "reserved", "shortfall"],
                "properties": {
                    "sku": {"type": "string"},
                    "on_hand_before": {"type": "integer", **_INT64},
                    "in_transit": {"type": "integer", **_INT64, "description": "picked from the bin, "
                                   "not shipped yet: on its books, not in it"},
                    "counted": {"type": "integer", **_INT64},
                    "on_hand": {"type": "integer", **_INT64, "description": "counted + in_transit"},
                    "variance": {"type": "integer", **_INT64, "description": "on_hand − on_hand_before"},
                    "reserved": {"type": "integer", **_INT64},
                    "shortfall": {"type": "integer", **_INT64, "description": "reserved units the bin "
                                  "could not give: re-reserved elsewhere or backordered"}}}},
            "reallocated": {"type": "array", "items": {
                "type": "object", "required": ["task_id", "location", "quantity", "order"],
                "properties": {"task_id": {"type": "integer", **_INT64}, "location": {"type": "string"},
                               "quantity": {"type": "integer", **_INT64}, "order": {"type": "string"}}}},
            "backordered": {"type": "integer", **_INT64},
            "exceptions_resolved": {"type": "array", "items": {"type": "integer", **_INT64}},
            "orders_reserved": {"type": "integer", **_INT64,
                                "description": "waiting orders that got stock after it"},
        },
    },
}


def openapi_paths() -> dict:
    """The OpenAPI path items of this blueprint (for server/api/openapi.py build_spec)."""
    from .openapi import _json_body, _ok, _query, _responses, ref
    scheduled = {"type": "array", "items": {
        "type": "object", "required": ["count_id", "location"],
        "properties": {"count_id": {"type": "integer", **_INT64}, "location": {"type": "string"}}}}
    schedule_result = {"type": "object", "required": ["warehouse", "created", "already_open"],
                       "properties": {"warehouse": {"type": "string"}, "created": scheduled,
                                      "already_open": scheduled}}
    listed = {"type": "object", "required": ["counts"],
              "properties": {"counts": {"type": "array", "items": _count_task()}}}
    return {
        "/api/v1/counts": {
            "post": {
                "tags": ["stock"], "operationId": "recordCount",
                "summary": "Record a count of one bin (supervisor or admin): sets on-hand, "
                           "audits the variance, settles the bin's count task",
                "description": "The whole bin: SKUs on its books that are not listed were "
                               "counted as 0. Units picked from the bin and not shipped yet "
                               "stay on its books (`in_transit`). When the bin holds fewer "
                               "units than are still to be picked from it, the least urgent "
                               "reservations give up the difference (re-reserved from another "
                               "bin or backordered). Resolves the stock discrepancies of its "
                               "count task and unblocks the bin. Sending the same count again "
                               "changes nothing more (variance 0).",
                "requestBody": _json_body("CountRequest"),
                "responses": _responses(_ok(201, "counted", ref("CountResult")),
                                        400, 401, 403, 404, 409, 413, 415, 422),
            },
            "get": {
                "tags": ["stock"], "operationId": "listCounts",
                "summary": "Count tasks, oldest first (supervisor or admin)",
                "parameters": [
                    _query("state", "open, done or cancelled",
                           {"type": "string", "enum": ["open", "done", "cancelled"]}),
                    _query("warehouse", "a warehouse code", {"type": "string", "minLength": 1,
                                                             "maxLength": 32}),
                    _query("limit", "at most this many (default 200)",
                           {"type": "integer", "minimum": 1, "maximum": 1000})],
                "responses": _responses(_ok(200, "count tasks", listed), 400, 401, 403, 404),
            },
        },
        "/api/v1/counts/{count_id}/cancel": {
            "parameters": [{"name": "count_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "format": "int64", "minimum": 1,
                                       "maximum": 2**63 - 1}}],
            "post": {
                "tags": ["stock"], "operationId": "cancelCount",
                "summary": "Cancel an open count task and free its bin (supervisor or admin)",
                "description": "Refused (409 `count_required`) for a count that settles an "
                               "open stock discrepancy (a short pick's): count the bin "
                               "instead; 409 `count_closed` once done or cancelled.",
                "responses": _responses(_ok(200, "the cancelled count task", _count_task()),
                                        400, 401, 403, 404, 409),
            }},
        "/api/v1/counts:schedule": {"post": {
            "tags": ["stock"], "operationId": "scheduleCounts",
            "summary": "Open count tasks for a range of bins or every bin of a SKU "
                       "(supervisor or admin); each bin is blocked for new reservations "
                       "until counted",
            "requestBody": _json_body("CountSchedule"),
            "responses": _responses(_ok(201, "count tasks opened", schedule_result),
                                    400, 401, 403, 404, 413, 415, 422),
        }},
    }
