"""The exception queue API: list and work exceptions (supervisor or admin), notes (a picker
or packer on their own), and the weekly summary. The use cases are in
services/exceptions.py."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request

from ..config_exceptions import SEVERITIES
from ..domain.errors import BadRequest
from ..services import exceptions
from .common import flag_arg, int_arg, json_body, require_staff

_INT64 = {"minimum": -2**63, "maximum": 2**63 - 1}
SUPERVISORS = ("supervisor", "admin")
MAX_REPORT_DAYS = 366

bp = Blueprint("exceptions", __name__, url_prefix="/api/v1")


def _choice(name: str, allowed: tuple[str, ...] | None = None, max_len: int = 120) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if allowed is not None and raw not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}", field=name)
    if len(raw) > max_len:
        raise BadRequest(f"{name} is longer than {max_len} characters", field=name)
    return raw


@bp.get("/exceptions")
def list_exceptions():
    require_staff(*SUPERVISORS)
    page, cursor = exceptions.list_exceptions(
        state=_choice("state", exceptions.STATES), type_=_choice("type", max_len=64),
        severity=_choice("severity", SEVERITIES), owner=_choice("owner"),
        overdue=flag_arg("overdue"), cursor=exceptions.parse_cursor(request.args.get("cursor")),
        limit=int_arg("limit", 50, 1, exceptions.PAGE_MAX))
    return jsonify({"exceptions": page, "next_cursor": cursor})


@bp.get("/exceptions/<id:exception_id>")
def get_exception(exception_id: int):
    require_staff(*SUPERVISORS)
    return jsonify(exceptions.get(exception_id))


@bp.post("/exceptions/<id:exception_id>/ack")
def ack(exception_id: int):
    p = require_staff(*SUPERVISORS)
    return jsonify(exceptions.acknowledge(exception_id, p.actor))


@bp.post("/exceptions/<id:exception_id>/assign")
def assign(exception_id: int):
    p = require_staff(*SUPERVISORS)
    body = json_body("ExceptionAssign")
    return jsonify(exceptions.assign(exception_id, body["owner"], p.actor))


@bp.post("/exceptions/<id:exception_id>/resolve")
def resolve(exception_id: int):
    p = require_staff(*SUPERVISORS)
    body = json_body("ExceptionResolve")
    return jsonify(exceptions.close(exception_id, p.actor, state="resolved",
                                    resolution=body["resolution"], note=body.get("note", "")))


@bp.post("/exceptions/<id:exception_id>/dismiss")
def dismiss(exception_id: int):
    p = require_staff(*SUPERVISORS)
    body = json_body("ExceptionDismiss")
    return jsonify(exceptions.close(exception_id, p.actor, state="dismissed",
                                    resolution="dismissed", note=body["note"]))


@bp.post("/exceptions/<id:exception_id>/notes")
def add_note(exception_id: int):
    p = require_staff()
    body = json_body("ExceptionNote")
    return jsonify(exceptions.add_note(exception_id, body["note"], p.actor, role=p.role)), 201


def _time_arg(name: str, default: dt.datetime) -> dt.datetime:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        t = dt.datetime.fromisoformat(raw) if len(raw) <= 40 else None
    except ValueError:
        t = None
    if t is None:
        raise BadRequest(f"{name} must be an ISO 8601 date or time, like 2026-12-01",
                         field=name)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


@bp.get("/reports/exceptions")
def report():
    require_staff(*SUPERVISORS)
    from .. import clock
    now = clock.now()
    end = _time_arg("to", now)
    start = _time_arg("from", end - dt.timedelta(days=7))
    if start >= end:
        raise BadRequest("from must be before to", field="from")
    if end - start > dt.timedelta(days=MAX_REPORT_DAYS):
        raise BadRequest(f"the report covers at most {MAX_REPORT_DAYS} days", field="from")
    return jsonify(exceptions.report(start, end, now=now))


# --- OpenAPI ------------------------------------------------------------------------------

def _exception() -> dict:
    from .openapi import _nullable
    time = {"type": "string", "format": "date-time"}
    return {
        "type": "object",
        "required": ["id", "type", "severity", "state", "subject", "owner", "due_at", "overdue",
                     "created_at", "notes", "resolution"],
        "properties": {
            "id": {"type": "integer", **_INT64},
            "type": {"type": "string", "examples": ["short_pick", "invalid_order"]},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "state": {"type": "string", "enum": list(exceptions.STATES)},
            "subject": {"type": "object", "required": ["kind", "id", "ref"], "properties": {
                "kind": _nullable("string", enum=[*exceptions.SUBJECT_KINDS, None]),
                "id": _nullable("integer"), "ref": _nullable("string")}},
            "owner": {"type": "string", "description": "a role or user:<badge>"},
            "due_at": _nullable("string", format="date-time",
                                description="from the type's SLA (config exceptions:)"),
            "overdue": {"type": "boolean"},
            "created_at": time,
            "notes": {"type": "array", "items": {
                "type": "object", "required": ["author", "at", "note"],
                "properties": {"author": {"type": "string"}, "at": time,
                               "note": {"type": "string"}}}},
            "resolution": _nullable("string"),
            "message": {"type": "string"}, "detail": {},
            "order_id": _nullable("integer"), "created_by": {"type": "string"},
            "escalations": {"type": "integer", **_INT64},
            "acknowledged_at": _nullable("string", format="date-time"),
            "acknowledged_by": _nullable("string"),
            "resolved_at": _nullable("string", format="date-time"),
            "resolved_by": _nullable("string"),
            "updated_at": _nullable("string", format="date-time"),
        },
    }


def _count() -> dict:
    return {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}


def _seconds() -> dict:
    from .openapi import _nullable
    return _nullable("number", minimum=0, maximum=1e12)


RESPONSE_SCHEMAS = {
    "Exception": _exception(),
    "ExceptionReport": {
        "type": "object", "required": ["from", "to", "types", "total"],
        "properties": {
            "from": {"type": "string", "format": "date-time"},
            "to": {"type": "string", "format": "date-time"},
            "types": {"type": "array", "items": {
                "type": "object",
                "required": ["type", "opened", "open", "resolved", "dismissed", "overdue",
                             "median_resolve_seconds", "causes"],
                "properties": {
                    "type": {"type": "string"}, "opened": _count(), "open": _count(),
                    "resolved": _count(), "dismissed": _count(), "overdue": _count(),
                    "median_resolve_seconds": _seconds(),
                    "causes": {"type": "array", "items": {
                        "type": "object",
                        "required": ["resolution", "count", "overdue", "median_resolve_seconds"],
                        "properties": {"resolution": {"type": "string"}, "count": _count(),
                                       "overdue": _count(),
                                       "median_resolve_seconds": _seconds()}}}}}},
            "total": {"type": "object", "required": ["opened", "overdue", "open"],
                      "properties": {"opened": _count(), "overdue": _count(),
                                     "open": _count()}},
        },
    },
}


def openapi_paths() -> dict:
    """The OpenAPI path items of this blueprint (for server/api/openapi.py build_spec)."""
    from .openapi import _json_body, _ok, _query, _responses, ref
    exc_id = {"name": "exception_id", "in": "path", "required": True,
              "schema": {"type": "integer", "format": "int64", "minimum": 1,
                         "maximum": 2**63 - 1}}
    listed = {"type": "object", "required": ["exceptions", "next_cursor"],
              "properties": {"exceptions": {"type": "array", "items": ref("Exception")},
                             "next_cursor": {"type": ["string", "null"],
                                             "description": "pass as cursor for the next "
                                                            "page; null at the end"}}}

    def action(op: str, summary: str, body: str | None, status: int = 200) -> dict:
        item = {"tags": ["exceptions"], "operationId": op, "summary": summary,
                "parameters": [exc_id],
                "responses": _responses(_ok(status, "the exception after it",
                                            ref("Exception")),
                                        400, 401, 403, 404, 409, 413, 415, 422)}
        if body:
            item["requestBody"] = _json_body(body)
        return {"post": item}

    return {
        "/api/v1/exceptions": {"get": {
            "tags": ["exceptions"], "operationId": "listExceptions",
            "summary": "The exception queue, newest first (supervisor or admin)",
            "parameters": [
                _query("state", "open, acknowledged, resolved or dismissed",
                       {"type": "string", "enum": list(exceptions.STATES)}),
                _query("type", "an exception type", {"type": "string", "maxLength": 64}),
                _query("severity", "low, medium, high or critical",
                       {"type": "string", "enum": list(SEVERITIES)}),
                _query("owner", "a role or user:<badge>", {"type": "string", "maxLength": 120}),
                _query("overdue", "true: only active ones past their due time",
                       {"type": "string", "enum": ["true", "false"]}),
                _query("cursor", "next_cursor of the previous page",
                       {"type": "string", "pattern": "^[0-9]{1,18}$"}),
                _query("limit", "page size (default 50)",
                       {"type": "integer", "minimum": 1, "maximum": exceptions.PAGE_MAX}),
            ],
            "responses": _responses(_ok(200, "one page", listed), 400, 401, 403),
        }},
        "/api/v1/exceptions/{exception_id}": {"get": {
            "tags": ["exceptions"], "operationId": "getException",
            "summary": "One exception with its notes (supervisor or admin)",
            "parameters": [exc_id],
            "responses": _responses(_ok(200, "the exception", ref("Exception")),
                                    400, 401, 403, 404),
        }},
        "/api/v1/exceptions/{exception_id}/ack": action(
            "ackException", "Acknowledge an open exception (supervisor or admin)", None),
        "/api/v1/exceptions/{exception_id}/assign": action(
            "assignException", "Give an active exception to a role or a user", "ExceptionAssign"),
        "/api/v1/exceptions/{exception_id}/resolve": action(
            "resolveException", "Resolve an active exception with its cause", "ExceptionResolve"),
        "/api/v1/exceptions/{exception_id}/dismiss": action(
            "dismissException", "Dismiss an active exception (nothing to do), with why",
            "ExceptionDismiss"),
        "/api/v1/exceptions/{exception_id}/notes": action(
            "noteException", "Add a note (supervisor or admin on any; a picker or packer on "
            "one they own or raised)", "ExceptionNote", 201),
        "/api/v1/reports/exceptions": {"get": {
            "tags": ["exceptions"], "operationId": "exceptionReport",
            "summary": "Exceptions opened in [from, to) by type and cause (resolution): counts, "
                       "median time to resolve, overdue counts (default: the last 7 days)",
            "parameters": [
                _query("from", "ISO 8601 date or time (UTC unless it says)",
                       {"type": "string", "format": "date-time"}),
                _query("to", "ISO 8601 date or time (default now)",
                       {"type": "string", "format": "date-time"}),
            ],
            "responses": _responses(_ok(200, "the summary", ref("ExceptionReport")),
                                    400, 401, 403),
        }},
    }
