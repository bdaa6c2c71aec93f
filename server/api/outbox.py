"""Outbox API (supervisor or admin): what storefronts have (not) been told, and a retry."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..services import outbox
from .common import int_arg, require_staff

bp = Blueprint("outbox", __name__, url_prefix="/api/v1")


@bp.get("/outbox")
def list_outbox():
    require_staff("supervisor", "admin")
    return jsonify({"outbox": outbox.list_outbox(request.args.get("state"),
                                                 int_arg("limit", 100, 1, 500))})


@bp.post("/outbox/<id:outbox_id>/retry")
def retry_outbox(outbox_id: int):
    p = require_staff("supervisor", "admin")
    return jsonify(outbox.retry(outbox_id, p.actor))


# --- OpenAPI ------------------------------------------------------------------------------

def openapi_paths() -> dict:
    """The OpenAPI path items of this blueprint (for server/api/openapi.py build_spec)."""
    from .openapi import _nullable, _ok, _query, _responses  # late: openapi imports us
    time = _nullable("string", format="date-time")
    message = {
        "type": "object",
        "required": ["id", "channel", "channel_kind", "shipment_id", "order_id", "tracking",
                     "kind", "state", "attempts", "next_attempt_at", "last_status",
                     "last_error", "remote_id", "created_at", "updated_at", "sent_at"],
        "properties": {
            "id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
            "channel": {"type": "string"},
            "channel_kind": {"type": "string", "enum": ["shopify", "woocommerce", "native"]},
            "shipment_id": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**63 - 1,
                            "description": "null for a customer notification about an "
                                           "order or a return (docs/notifications.md)"},
            "order_id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
            "tracking": {"type": ["string", "null"]},
            "kind": {"type": "string", "examples": ["fulfilment", "notify.shipped"]},
            "state": {"type": "string", "enum": list(outbox.STATES)},
            "attempts": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1,
                         "description": "tries so far (since the last retry)"},
            "next_attempt_at": {**time, "description": "when it is tried next (pending), or "
                                "when a try in progress is taken as abandoned (sending)"},
            "last_status": _nullable("integer", description="the storefront's last HTTP "
                                     "status; null when it did not answer"),
            "last_error": {"type": "string"},
            "remote_id": _nullable("string", description="the storefront's id of what was "
                                   "made (Shopify fulfilment, WooCommerce note) or, for a "
                                   "native channel, the delivery id"),
            "created_at": time, "updated_at": time, "sent_at": time,
        },
    }
    outbox_id = {"name": "outbox_id", "in": "path", "required": True,
                 "schema": {"type": "integer", "format": "int64", "minimum": 1,
                            "maximum": 2**63 - 1}}
    return {
        "/api/v1/outbox": {"get": {
            "tags": ["outbox"], "operationId": "listOutbox",
            "summary": "Fulfilment messages to storefronts and customer notifications "
                       "(kind notify.*), newest first (supervisor or admin)",
            "description": "A message that keeps failing shows its tries, the storefront's "
                           "last status and error; after the last try it is `failed` and "
                           "an exception is open for it.",
            "parameters": [
                _query("state", "only messages in this state",
                       {"type": "string", "enum": list(outbox.STATES)}),
                _query("limit", "at most this many",
                       {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}),
            ],
            "responses": _responses(_ok(200, "messages", {
                "type": "object", "required": ["outbox"],
                "properties": {"outbox": {"type": "array", "items": message}}}),
                400, 401, 403),
        }},
        "/api/v1/outbox/{outbox_id}/retry": {
            "parameters": [outbox_id],
            "post": {
                "tags": ["outbox"], "operationId": "retryOutbox",
                "summary": "Send a failed (or waiting) message again now, with a fresh count "
                           "of tries (supervisor or admin; audited)",
                "description": "409 `outbox_sent` / `outbox_sending` when it was sent or is "
                               "being sent.",
                "responses": _responses(_ok(200, "the message, pending", message),
                                        400, 401, 403, 404, 409),
            },
        },
    }
