"""Replenishment API (supervisor or admin): pick-face levels (min / max), the tasks and
alerts, cancelling a task, purchase suggestions (JSON and CSV). The use cases are in
services/replenishment.py; the tasks themselves are done on the handheld."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, jsonify

from ..services import replenishment
from ..services.replenishment import LevelIn
from .common import flag_arg, int_arg, json_body, require_staff
from .exceptions import _choice

_INT64 = {"minimum": -2**63, "maximum": 2**63 - 1}
SUPERVISORS = ("supervisor", "admin")

bp = Blueprint("replenishment", __name__, url_prefix="/api/v1/replenishment")


@bp.get("/levels")
def get_levels():
    require_staff(*SUPERVISORS)
    return jsonify({"levels": replenishment.list_levels(
        warehouse=_choice("warehouse", max_len=32), sku=_choice("sku", max_len=64),
        below=flag_arg("below"), limit=int_arg("limit", 200, 1, replenishment.PAGE_MAX))})


@bp.post("/levels")
def post_levels():
    p = require_staff(*SUPERVISORS)
    body = json_body("ReplenishmentLevels")
    levels = [LevelIn(lv["warehouse"], lv["location"], lv["sku"], lv["min_qty"],
                      lv.get("max_qty", 0)) for lv in body["levels"]]
    return jsonify({"levels": replenishment.set_levels(levels, p.actor)})


@bp.get("/tasks")
def list_tasks():
    require_staff(*SUPERVISORS)
    return jsonify({"tasks": replenishment.list_tasks(
        state=_choice("state", replenishment.STATES) or "open",
        warehouse=_choice("warehouse", max_len=32),
        limit=int_arg("limit", 200, 1, replenishment.PAGE_MAX))})


@bp.get("/tasks/<id:task_id>")
def get_task(task_id: int):
    require_staff(*SUPERVISORS)
    return jsonify(replenishment.get_task(task_id))


@bp.post("/tasks/<id:task_id>/cancel")
def cancel_task(task_id: int):
    p = require_staff(*SUPERVISORS)
    return jsonify(replenishment.cancel_task(task_id, p.actor))


@bp.get("/alerts")
def list_alerts():
    require_staff(*SUPERVISORS)
    return jsonify({"alerts": replenishment.list_alerts(
        active=not flag_arg("all"), warehouse=_choice("warehouse", max_len=32),
        limit=int_arg("limit", 200, 1, replenishment.PAGE_MAX))})


@bp.get("/purchase-suggestions")
def purchase_suggestions():
    require_staff(*SUPERVISORS)
    return jsonify({"suggestions": replenishment.purchase_suggestions(
        _choice("warehouse", max_len=32))})


CSV_COLUMNS = ("warehouse", "sku", "name", "quantity", "needed", "reserve_available",
               "locations", "since")


@bp.get("/purchase-suggestions.csv")
def purchase_suggestions_csv():
    require_staff(*SUPERVISORS)
    rows = replenishment.purchase_suggestions(_choice("warehouse", max_len=32))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([_cell(" ".join(r[c]) if c == "locations" else r[c])
                         for c in CSV_COLUMNS])
    resp = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = 'attachment; filename="purchase-suggestions.csv"'
    return resp


def _cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula is quoted with a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# --- OpenAPI ------------------------------------------------------------------------------

def _face() -> dict:
    from .openapi import _nullable
    return {
        "type": "object",
        "required": ["stock_id", "warehouse", "location", "sku", "name", "on_hand", "reserved",
                     "available", "min_qty", "max_qty", "below_min", "blocked", "open_task"],
        "properties": {
            "stock_id": {"type": "integer", **_INT64}, "warehouse": {"type": "string"},
            "location": {"type": "string"}, "sku": {"type": "string"},
            "name": {"type": "string"}, "on_hand": {"type": "integer", **_INT64},
            "reserved": {"type": "integer", **_INT64},
            "available": {"type": "integer", **_INT64},
            "min_qty": {"type": "integer", **_INT64}, "max_qty": {"type": "integer", **_INT64},
            "below_min": {"type": "boolean"}, "blocked": _nullable("string"),
            "open_task": _nullable("integer", description="the face's open replenishment task")},
    }


def _task(detail: bool = False) -> dict:
    from .openapi import _nullable
    props = {
        "id": {"type": "integer", **_INT64}, "warehouse": {"type": "string"},
        "location": {"type": "string", "description": "the pick face to refill"},
        "sku": {"type": "string"}, "name": {"type": "string"},
        "state": {"type": "string", "enum": list(replenishment.STATES)},
        "min_qty": {"type": "integer", **_INT64}, "max_qty": {"type": "integer", **_INT64},
        "available_at_open": {"type": "integer", **_INT64},
        "suggested": {"type": "integer", **_INT64, "description": "units to bring, up to max"},
        "moved": {"type": "integer", **_INT64}, "remaining": {"type": "integer", **_INT64},
        "on_hand": {"type": "integer", **_INT64}, "available": {"type": "integer", **_INT64},
        "exception": _nullable("integer", description="its replenishment_needed exception"),
        "assigned_to": _nullable("string", description="badge of the replenisher"),
        "created_at": {"type": "string", "format": "date-time"},
        "closed_at": _nullable("string", format="date-time"),
        "closed_by": _nullable("string"),
        "close_reason": _nullable("string", description="refilled (the face is back at or "
                                  "above min), moved (every suggested unit moved), "
                                  "supervisor (cancelled)"),
        "reserve_available": {"type": "integer", **_INT64,
                              "description": "open tasks: units free in reserve bins"},
    }
    required = [k for k in props if k != "reserve_available"]
    if detail:
        props["moves"] = {"type": "array", "items": {
            "type": "object", "required": ["from", "to", "quantity", "by", "at"],
            "properties": {"from": {"type": "string"}, "to": {"type": "string"},
                           "quantity": {"type": "integer", **_INT64}, "by": {"type": "string"},
                           "at": {"type": "string", "format": "date-time"}}}}
        required.append("moves")
    return {"type": "object", "required": required, "properties": props}


def _alert() -> dict:
    from .openapi import _nullable
    return {"type": "object",
            "required": ["id", "state", "severity", "subject", "message", "created_at", "due_at",
                         "resolved_at", "resolution", "task", "task_state", "warehouse",
                         "available", "min_qty"],
            "properties": {
                "id": {"type": "integer", **_INT64, "description": "the exception's id"},
                "state": {"type": "string"}, "severity": {"type": "string"},
                "subject": {"type": "string", "description": "location and SKU"},
                "message": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "due_at": _nullable("string", format="date-time"),
                "resolved_at": _nullable("string", format="date-time"),
                "resolution": _nullable("string"), "task": {"type": "integer", **_INT64},
                "task_state": {"type": "string"}, "warehouse": {"type": "string"},
                "available": {"type": "integer", **_INT64},
                "min_qty": {"type": "integer", **_INT64}}}


def _suggestion() -> dict:
    return {"type": "object",
            "required": ["warehouse", "sku", "name", "locations", "needed", "reserve_available",
                         "quantity", "since"],
            "properties": {
                "warehouse": {"type": "string"}, "sku": {"type": "string"},
                "name": {"type": "string"},
                "locations": {"type": "array", "items": {"type": "string"}},
                "needed": {"type": "integer", **_INT64,
                           "description": "units the open tasks still ask for"},
                "reserve_available": {"type": "integer", **_INT64},
                "quantity": {"type": "integer", **_INT64,
                             "description": "to buy: needed - reserve_available"},
                "since": {"type": "string", "format": "date-time"}}}


def openapi_paths() -> dict:
    """The OpenAPI path items of this blueprint (for server/api/openapi.py build_spec)."""
    from .openapi import _json_body, _ok, _query, _responses
    wh = _query("warehouse", "a warehouse code", {"type": "string", "minLength": 1,
                                                   "maxLength": 32})
    limit = _query("limit", "at most this many (default 200)",
                   {"type": "integer", "minimum": 1, "maximum": replenishment.PAGE_MAX})
    task_id = {"name": "task_id", "in": "path", "required": True,
               "schema": {"type": "integer", "format": "int64", "minimum": 1,
                          "maximum": 2**63 - 1}}
    faces = {"type": "object", "required": ["levels"],
             "properties": {"levels": {"type": "array", "items": _face()}}}
    tags = ["replenishment"]
    return {
        "/api/v1/replenishment/levels": {
            "get": {"tags": tags, "operationId": "listPickFaces",
                    "summary": "Pick faces (stock rows with a min or max) and their stock",
                    "parameters": [wh, _query("sku", "one SKU", {"type": "string",
                                                                 "minLength": 1,
                                                                 "maxLength": 64}),
                                   _query("below", "only faces below their min",
                                          {"type": "boolean"}), limit],
                    "responses": _responses(_ok(200, "pick faces", faces), 400, 401, 403)},
            "post": {"tags": tags, "operationId": "setPickFaceLevels",
                    "summary": "Set min / max of pick faces (per location and SKU)",
                    "description": "Makes the stock row (nothing on hand) where the SKU had "
                                   "none at the location. A face below its new min gets a "
                                   "task and an alert within moments (the replenishment "
                                   "worker); one back at or above it has its task closed.",
                    "requestBody": _json_body("ReplenishmentLevels"),
                    "responses": _responses(_ok(200, "the faces as set", faces),
                                            400, 401, 403, 404, 409, 413, 415, 422)}},
        "/api/v1/replenishment/tasks": {"get": {
            "tags": tags, "operationId": "listReplenishmentTasks",
            "summary": "Replenishment tasks, newest first",
            "parameters": [_query("state", "open (default), done or cancelled",
                                  {"type": "string", "enum": list(replenishment.STATES)}),
                           wh, limit],
            "responses": _responses(_ok(200, "tasks", {
                "type": "object", "required": ["tasks"],
                "properties": {"tasks": {"type": "array", "items": _task()}}}),
                400, 401, 403)}},
        "/api/v1/replenishment/tasks/{task_id}": {
            "parameters": [task_id],
            "get": {"tags": tags, "operationId": "getReplenishmentTask",
                    "summary": "One task with its moves",
                    "responses": _responses(_ok(200, "the task", _task(detail=True)),
                                            400, 401, 403, 404)}},
        "/api/v1/replenishment/tasks/{task_id}/cancel": {
            "parameters": [task_id],
            "post": {"tags": tags, "operationId": "cancelReplenishmentTask",
                     "summary": "Cancel an open task; its alert is dismissed",
                     "description": "It does not open again by itself until the face's "
                                    "stock changes. 409 `task_closed` once done or "
                                    "cancelled.",
                     "responses": _responses(_ok(200, "the cancelled task", _task(detail=True)),
                                             400, 401, 403, 404, 409)}},
        "/api/v1/replenishment/alerts": {"get": {
            "tags": tags, "operationId": "listReplenishmentAlerts",
            "summary": "Replenishment alerts (replenishment_needed exceptions), newest first",
            "parameters": [_query("all", "closed ones too (default: active only)",
                                  {"type": "boolean"}), wh, limit],
            "responses": _responses(_ok(200, "alerts", {
                "type": "object", "required": ["alerts"],
                "properties": {"alerts": {"type": "array", "items": _alert()}}}),
                400, 401, 403)}},
        "/api/v1/replenishment/purchase-suggestions": {"get": {
            "tags": tags, "operationId": "purchaseSuggestions",
            "summary": "What to buy: units open tasks need that no reserve bin holds",
            "parameters": [wh],
            "responses": _responses(_ok(200, "suggestions, largest first", {
                "type": "object", "required": ["suggestions"],
                "properties": {"suggestions": {"type": "array", "items": _suggestion()}}}),
                400, 401, 403)}},
        "/api/v1/replenishment/purchase-suggestions.csv": {"get": {
            "tags": tags, "operationId": "purchaseSuggestionsCsv",
            "summary": "The purchase suggestions as CSV (UTF-8 with BOM): "
                       + ",".join(CSV_COLUMNS),
            "parameters": [wh],
            "responses": _responses({"200": {"description": "CSV", "content": {
                "text/csv": {"schema": {"type": "string", "contentMediaType": "text/csv"}}}}},
                400, 401, 403)}},
    }
