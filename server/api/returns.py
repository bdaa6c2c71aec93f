"""Returns API: ask for a return (a channel for its own orders, or a supervisor), read
them, and the returns station's steps (packer, supervisor or admin). The use cases are in
services/returns.py."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import settings
from ..domain import returns as rd
from ..domain.errors import BadRequest, DomainError
from ..services import idempotency, returns
from ..store import db as store_db
from .common import caller, int_arg, json_body, require_staff

bp = Blueprint("returns", __name__, url_prefix="/api/v1")

_INT64 = {"minimum": -2**63, "maximum": 2**63 - 1}
STATION_ROLES = ("packer", "supervisor", "admin")


def _scope() -> int | None:
    """A channel token sees its own returns only; staff (supervisor, admin, and the
    station's packers) see all."""
    p = caller()
    if p.kind == "channel":
        return p.channel_id
    require_staff(*STATION_ROLES)
    return None


@bp.post("/returns")
def create_return():
    """Idempotent with Idempotency-Key like POST /orders: a refusal by the policy is
    answered again for the same key and body; nothing is written for a refused return."""
    p = caller()
    if p.kind != "channel":
        require_staff("supervisor", "admin")
    body = json_body("ReturnRequest")
    cfg = settings.current()
    scope = p.channel_id if p.kind == "channel" else None
    key = request.headers.get("Idempotency-Key")
    key_channel = scope
    if key is not None:
        if key_channel is None:        # staff: the key lives with the order's channel
            key_channel = returns.find_order(body["order"], None)[1]
        digest = idempotency.request_hash("POST", request.path, request.get_data(cache=True))
        replay = idempotency.claim(key_channel, key, digest)
        if replay is not None:
            return jsonify(replay.body), replay.status
    try:
        with store_db.write_tx():
            answer = returns.create_return(
                body["order"], body["kind"], body.get("reason", ""), body["lines"],
                exchange_lines=body.get("exchange_lines", ()), channel_id=scope,
                actor=p.actor, settings=cfg, label=bool(body.get("label")))
            if key is not None:
                idempotency.finish(key_channel, key, 201, answer)
    except DomainError as err:
        if key is not None:
            with store_db.write_tx():
                idempotency.finish(key_channel, key, err.status, err.to_dict())
        raise
    except Exception:
        if key is not None:
            idempotency.abandon(key_channel, key)
        raise
    return jsonify(answer), 201


@bp.get("/returns")
def list_returns():
    scope = _scope()
    status = request.args.get("status") or None
    if status is not None and status not in rd.STATUSES:
        raise BadRequest(f"status must be one of {', '.join(rd.STATUSES)}", field="status")
    order = int_arg("order_id", 0, 0, 2**62) or None
    page, nxt = returns.list_returns(channel_id=scope, status=status, order_id=order,
                                     after=int_arg("cursor", 0, 0, 2**62),
                                     limit=int_arg("limit", 50, 1, 200))
    return jsonify({"returns": page, "next_cursor": nxt})


@bp.get("/returns/<id:return_id>")
def get_return(return_id: int):
    return jsonify(returns.view(return_id, channel_id=_scope()))


@bp.post("/returns/<id:return_id>/cancel")
def cancel_return(return_id: int):
    p = caller()
    if p.kind != "channel":
        require_staff("supervisor", "admin")
    return jsonify(returns.cancel(return_id, p.actor,
                                  channel_id=p.channel_id if p.kind == "channel" else None))


@bp.post("/returns/<id:return_id>/label")
def return_label(return_id: int):
    p = require_staff(*STATION_ROLES)
    with store_db.write_tx():
        return jsonify(returns.print_label(return_id, p.actor, settings=settings.current()))


# --- the returns station ---------------------------------------------------------------------

@bp.get("/returns/find")
def find_return():
    require_staff(*STATION_ROLES)
    return jsonify(returns.find(request.args.get("code", "")))


@bp.post("/returns/unannounced")
def unannounced():
    p = require_staff(*STATION_ROLES)
    body = json_body("ReturnUnannounced")
    return jsonify(returns.receive_unannounced(code=body.get("code"),
                                               kind=body.get("kind", "refund"),
                                               reason=body.get("reason", ""),
                                               actor=p.actor)), 201


@bp.post("/returns/<id:return_id>/receive")
def receive(return_id: int):
    p = require_staff(*STATION_ROLES)
    return jsonify(returns.receive(return_id, p.actor))


@bp.post("/returns/<id:return_id>/scan")
def scan(return_id: int):
    p = require_staff(*STATION_ROLES)
    body = json_body("ReturnScan")
    return jsonify(returns.scan_item(return_id, body["barcode"], p.actor))


@bp.post("/returns/<id:return_id>/lines/<id:line_id>/disposition")
def disposition(return_id: int, line_id: int):
    p = require_staff(*STATION_ROLES)
    body = json_body("ReturnDisposition")
    return jsonify(returns.dispose(return_id, line_id, body["grade"], body["disposition"],
                                   actor=p.actor, settings=settings.current(),
                                   location=body.get("location"),
                                   warehouse=body.get("warehouse")))


@bp.post("/returns/<id:return_id>/close")
def close(return_id: int):
    p = require_staff(*STATION_ROLES)
    return jsonify(returns.close(return_id, p.actor, settings=settings.current()))


@bp.post("/returns/<id:return_id>/repair")
def repair(return_id: int):
    p = require_staff(*STATION_ROLES)
    body = json_body("ReturnRepair")
    return jsonify(returns.advance_repair(return_id, body["status"], p.actor))


# --- OpenAPI ------------------------------------------------------------------------------

def _return_schema() -> dict:
    from .openapi import _nullable
    line = {"type": "object", "required": ["id", "sku", "quantity", "received", "grade",
                                           "disposition", "disposed"],
            "properties": {"id": {"type": "integer", **_INT64},
                           "line_no": {"type": "integer", **_INT64},
                           "order_line_id": _nullable("integer", **_INT64),
                           "sku": {"type": "string"},
                           "quantity": {"type": "integer", **_INT64,
                                        "description": "authorised (0: an extra item)"},
                           "reason": {"type": "string"},
                           "received": {"type": "integer", **_INT64},
                           "missing": {"type": "integer", **_INT64},
                           "extra": {"type": "integer", **_INT64},
                           "announced": {"type": "boolean"},
                           "grade": {"type": "string"}, "disposition": {"type": "string"},
                           "location": _nullable("string"),
                           "location_id": _nullable("integer", **_INT64),
                           "disposed": {"type": "integer", **_INT64}}}
    return {"type": "object", "required": ["id", "rma", "status", "kind", "lines"],
            "properties": {
                "id": {"type": "integer", **_INT64}, "rma": {"type": "string"},
                "order_id": _nullable("integer", **_INT64), "order_ref": _nullable("string"),
                "channel_id": _nullable("integer", **_INT64),
                "kind": {"type": "string", "enum": list(rd.KINDS)},
                "status": {"type": "string", "enum": list(rd.STATUSES)},
                "reason": {"type": "string"}, "source": {"type": "string"},
                "external_id": {"type": "string"},
                "return_tracking": _nullable("string"),
                "label_job_id": _nullable("integer", **_INT64),
                "exchange_lines": {"type": "array", "items": {"type": "object"}},
                "exchange_order_id": _nullable("integer", **_INT64),
                "refund_minor": _nullable("integer", **_INT64),
                "refund_outbox_id": _nullable("integer", **_INT64),
                "exception_id": _nullable("integer", **_INT64),
                "unannounced": {"type": "boolean"},
                "created_by": {"type": "string"}, "created_at": {"type": "string"},
                "updated_at": {"type": "string"}, "received_by": {"type": "string"},
                "received_at": _nullable("string"), "closed_at": _nullable("string"),
                "label": {"type": "object", "description": "with label: true: {job_id, "
                                                           "printer, barcode} or {zpl, barcode}"},
                "lines": {"type": "array", "items": line}}}


def openapi_paths() -> dict:
    from .openapi import _json_body, _ok, _query, _responses
    one = _return_schema()
    rid = {"name": "return_id", "in": "path", "required": True,
           "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**62}}
    lid = {**rid, "name": "line_id"}

    def step(op: str, summary: str, body: str | None = None, status: int = 200,
             description: str = "") -> dict:
        out = {"tags": ["returns"], "operationId": op, "summary": summary,
               "responses": _responses(_ok(status, "the return", one),
                                       400, 401, 403, 404, 409, 422)}
        if description:
            out["description"] = description
        if body:
            out["requestBody"] = _json_body(body)
        return out

    return {
        "/api/v1/returns": {
            "post": {**step("createReturn", "Authorise a return (a channel token for its own "
                            "orders, or supervisor / admin)", "ReturnRequest", 201,
                            "Checked against the channel's return policy (returns: in "
                            "config): refused whole with 422 `return_refused` and every "
                            "reason in `problems` (outside_window, not_shipped, "
                            "not_returnable, over_quantity, not_in_order). Idempotency-Key "
                            "replays the first answer."),
                     "parameters": [{"name": "Idempotency-Key", "in": "header",
                                     "required": False,
                                     "schema": {"type": "string", "maxLength": 200}}]},
            "get": {"tags": ["returns"], "operationId": "listReturns",
                    "summary": "Returns, oldest first (a channel sees its own)",
                    "parameters": [
                        _query("status", "one status", {"type": "string",
                                                        "enum": list(rd.STATUSES)}),
                        _query("order_id", "one order", {"type": "integer", "minimum": 1,
                                                         "maximum": 2**62}),
                        _query("cursor", "next_cursor of the previous page",
                               {"type": "integer", "minimum": 0, "maximum": 2**62}),
                        _query("limit", "page size (default 50)",
                               {"type": "integer", "minimum": 1, "maximum": 200})],
                    "responses": _responses(_ok(200, "a page of returns", {
                        "type": "object", "required": ["returns", "next_cursor"],
                        "properties": {"returns": {"type": "array", "items": one},
                                       "next_cursor": {"type": ["integer", "null"],
                                                       **_INT64}}}), 400, 401, 403)}},
        "/api/v1/returns/find": {"get": {
            "tags": ["returns"], "operationId": "findReturn",
            "summary": "What a code scanned at the returns station names: an RMA, our returns "
                       "label, the original parcel's tracking number or returns slip",
            "parameters": [_query("code", "the scanned code", {"type": "string",
                                                               "minLength": 1,
                                                               "maxLength": 64}, True)],
            "responses": _responses(_ok(200, "match, return (or null), order", {
                "type": "object", "required": ["match", "return", "order"],
                "properties": {"match": {"type": "string"}, "return": {"oneOf": [
                    one, {"type": "null"}]}, "order": {"type": ["object", "null"]}}}),
                400, 401, 403, 404)}},
        "/api/v1/returns/unannounced": {"post": step(
            "receiveUnannounced", "A parcel nobody announced: opens a received return and an "
            "exception return_unannounced", "ReturnUnannounced", 201)},
        "/api/v1/returns/{return_id}": {"parameters": [rid], "get": {
            "tags": ["returns"], "operationId": "getReturn", "summary": "One return",
            "responses": _responses(_ok(200, "the return", one), 401, 403, 404)}},
        "/api/v1/returns/{return_id}/cancel": {"parameters": [rid], "post": step(
            "cancelReturn", "Cancel an authorised return")},
        "/api/v1/returns/{return_id}/label": {"parameters": [rid], "post": {
            "tags": ["returns"], "operationId": "returnLabel",
            "summary": "Print the returns label (returns.label_printer) or answer its ZPL",
            "responses": _responses(_ok(200, "the print job or the ZPL", {"type": "object"}),
                                    401, 403, 404, 409)}},
        "/api/v1/returns/{return_id}/receive": {"parameters": [rid], "post": step(
            "receiveReturn", "The return's parcel is at the station")},
        "/api/v1/returns/{return_id}/scan": {"parameters": [rid], "post": {
            **step("scanReturnItem", "One item out of the parcel: verdict ok, not_in_return, "
                   "over_return or unknown_barcode", "ReturnScan"),
            "responses": _responses(_ok(200, "the verdict", {
                "type": "object", "required": ["verdict", "sku", "line", "return"],
                "properties": {"verdict": {"type": "string", "enum": list(rd.VERDICTS)},
                               "sku": {"type": ["string", "null"]},
                               "line": {"type": ["object", "null"]}, "return": one}}),
                400, 401, 403, 404, 409, 422)}},
        "/api/v1/returns/{return_id}/lines/{line_id}/disposition": {
            "parameters": [rid, lid], "post": step(
                "disposeReturnLine", "Grade a line and dispose of its received units: restock "
                "(to a bin; backorders re-reserved), quarantine, repair or scrap",
                "ReturnDisposition")},
        "/api/v1/returns/{return_id}/close": {"parameters": [rid], "post": step(
            "closeReturn", "Close: a refund queues the refund signal to the storefront "
            "(once), an exchange makes the replacement order")},
        "/api/v1/returns/{return_id}/repair": {"parameters": [rid], "post": step(
            "advanceRepair", "A repair's steps: in_repair, repaired, shipped_back",
            "ReturnRepair")},
    }
