"""The API described: `GET /openapi.json` (OpenAPI 3.1, built from Python dicts) and
`GET /docs` (a self-contained HTML page rendered server-side from the same document: no
CDN, no JavaScript, so it works on a warehouse network with no internet).

Request bodies are the JSON schemas the API validates with (api/schemas.py SCHEMAS), so the
document cannot drift from what is enforced; response schemas are written here and kept
honest by the schemathesis test (tests/integration/test_openapi.py).
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import metadata
from typing import Any

from flask import Blueprint, Response, jsonify, render_template_string

from ..domain.lifecycle import STATUSES
from .schemas import SCHEMAS

bp = Blueprint("openapi", __name__)

JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra: Any) -> Schema:
    bounds = _INT64 if kind == "integer" else {}
    return {"type": [kind, "null"], **bounds, **extra}


# --- response schemas -------------------------------------------------------------------

# every integer says its range (tests/integration/test_api_robustness.py walks the spec):
# what the server sends is at most a 64-bit column
_INT64 = {"minimum": -2**63, "maximum": 2**63 - 1}
_STR, _INT, _BOOL = {"type": "string"}, {"type": "integer", **_INT64}, {"type": "boolean"}
_TIME = {"type": "string", "format": "date-time"}
_MONEY = _nullable("string", description="decimal amount in the currency's minor-unit places",
                   examples=["24.00"])

ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "field"],
        "properties": {
            "code": {"type": "string", "description": "stable machine-readable reason",
                     "examples": ["schema", "unauthorized", "duplicate_order"]},
            "message": _STR,
            "field": _nullable("string", description="the field at fault, if one is"),
            "detail": {"description": "extra facts: schema errors, the existing order id, …"},
            "problems": {"type": "array", "items": ref("Problem"),
                         "description": "with code `invalid_order`: every reason at once"},
        },
    }},
}

# POST /orders: a refused order lists every problem (field path, stable code, words).
INVALID_ORDER = {
    "allOf": [ref("Error"), {
        "type": "object",
        "properties": {"error": {
            "type": "object",
            "if": {"properties": {"code": {"const": "invalid_order"}}, "required": ["code"]},
            "then": {"required": ["problems"],
                     "properties": {"problems": {"type": "array", "minItems": 1}}},
        }},
    }],
    "examples": [{"error": {
        "code": "invalid_order", "field": "ship_to.country",
        "message": "ship_to.country: 'ZZ' is not an ISO 3166-1 alpha-2 country code (like "
                   "GB, DE, CN) (and 1 more problem: see problems)",
        "problems": [
            {"field": "ship_to.country", "code": "bad_country",
             "message": "'ZZ' is not an ISO 3166-1 alpha-2 country code (like GB, DE, CN)"},
            {"field": "lines[2].quantity", "code": "bad_quantity",
             "message": "quantity must be at least 1, not 0"}]}}],
}

ORDER_LINE_OUT = {
    "type": "object",
    "required": ["sku", "quantity", "reserved", "backordered", "picked", "unit_price"],
    "properties": {"sku": _STR, "quantity": _INT, "reserved": _INT, "backordered": _INT,
                   "picked": _INT, "unit_price": _MONEY, "name": _nullable("string"),
                   "external_id": _nullable("string")},
}

ORDER_SUMMARY = {
    "type": "object",
    "required": ["id", "ref", "external_id", "channel", "status", "warehouse", "paid",
                 "placed_at", "priority", "lines"],
    "properties": {
        "id": _INT, "ref": _STR, "external_id": _STR, "channel": _STR,
        "status": {"type": "string", "enum": list(STATUSES)},
        "warehouse": _nullable("string", description="code of the warehouse that ships it"),
        "paid": _BOOL, "placed_at": _TIME, "priority": _INT,
        "lines": {"type": "array", "items": ref("OrderLineOut")},
    },
}

_SHIP_TO = {"type": "object", "properties": {
    f: _nullable("string") for f in ("name", "phone", "address1", "address2", "city",
                                     "postcode", "country", "region", "email")}}

ORDER = {
    "allOf": [ref("OrderSummary"), {
        "type": "object",
        "required": ["currency", "ship_to", "total", "hold_reason", "problems", "created_at",
                     "updated_at"],
        "properties": {
            "currency": _STR, "payment_method": _nullable("string"), "ship_to": _SHIP_TO,
            "note": _nullable("string"), "carrier": _nullable("string"),
            "source": _nullable("string"), "total": _MONEY,
            "hold_reason": _nullable("string"),
            "hold_code": _nullable("string", description="why an on_hold order is held: "
                                   "risk_hold, carrier_unmapped, customs_data_missing"),
            "shipping_method": {"type": "array", "items": _STR,
                                "description": "the storefront's shipping method as "
                                               "normalised keys, most specific first"},
            "carrier_service": {
                "type": ["object", "null"],
                "description": "the carrier service chosen (null until one is)",
                "properties": {"id": _STR, "carrier": _STR, "carrier_label": _STR,
                               "service": _STR, "label": _STR, "express": _BOOL,
                               "adapter": _STR,
                               "source": _nullable("string", description="mapped, rule or "
                                                   "supervisor")}},
            "hold_reasons": {"type": "array", "items": _STR,
                             "description": "only on create: why the order is on hold"},
            "problems": {"type": "array", "items": ref("Problem"),
                         "description": "why an `invalid` order cannot be fulfilled"},
            "ship_to_original": {
                "type": "object", "additionalProperties": {"type": "string"},
                "description": "the address fields as sent, where intake normalised them "
                               "(country upper-cased, postcode layout, phone in E.164)"},
            "source_updated_at": _nullable("string", format="date-time"),
            "ship_by": _nullable("string", format="date-time",
                                 description="when the order is promised to leave: sent by "
                                             "the storefront, or computed at intake from the "
                                             "channel's cut-off and working days (promise:)"),
            "ship_by_source": _nullable("string", enum=["storefront", "promise", None],
                                        description="where ship_by came from"),
            "at_risk_at": _nullable("string", format="date-time",
                                    description="when the order was found not picked "
                                                "notifications.at_risk_hours before ship_by"),
            "invoice": {"type": "boolean"},
            "created_at": _TIME, "updated_at": _TIME,
        },
    }],
}

FLOOR_ORDER = {
    "type": "object",
    "description": "an order as a picker or packer sees it: the goods and where they are "
                   "(locations on GET of one order), no customer contact, no prices; a packer "
                   "also gets ship_to (no phone, no email) of an order live on its own bench",
    "required": ["id", "ref", "status", "warehouse", "priority", "ship_by", "lines"],
    "properties": {
        "id": _INT, "ref": _STR, "status": {"type": "string", "enum": list(STATUSES)},
        "warehouse": _nullable("string"), "priority": _INT,
        "ship_by": _nullable("string", format="date-time"),
        "ship_to": {"type": "object", "properties": {
            f: _nullable("string") for f in ("name", "address1", "address2", "city",
                                             "postcode", "country", "region")}},
        "lines": {"type": "array", "items": {
            "type": "object",
            "required": ["sku", "name", "quantity", "reserved", "backordered", "picked"],
            "properties": {"sku": _STR, "name": _nullable("string"), "quantity": _INT,
                           "reserved": _INT, "backordered": _INT, "picked": _INT,
                           "locations": {"type": "array", "items": {
                               "type": "object", "required": ["location", "quantity"],
                               "properties": {"location": _STR, "quantity": _INT}}}}}},
    },
}

PROBLEM = {"type": "object", "required": ["field", "code", "message"],
           "properties": {
               "field": {"type": "string", "examples": ["lines[2].quantity"],
                         "description": "path into the order ('' for the body itself)"},
               "code": {"type": "string", "description": "stable reason", "examples": [
                   "missing", "wrong_type", "unknown_field", "bad_format", "too_long",
                   "bad_country", "bad_phone", "missing_phone", "bad_postcode",
                   "missing_postcode", "unknown_sku", "bad_quantity", "total_mismatch"]},
               "message": _STR}}

ORDER_LIST = {
    "type": "object", "required": ["orders", "next_cursor"],
    "properties": {"orders": {"type": "array", "items": {
        "anyOf": [ref("OrderSummary"), ref("FloorOrder")]}},
                   "next_cursor": _nullable("integer",
                                            description="pass as `cursor` for the next page")},
}

STOCK = {
    "type": "object", "required": ["sku", "locations"],
    "properties": {"sku": _STR, "locations": {"type": "array", "items": {
        "type": "object",
        "required": ["warehouse", "location", "on_hand", "reserved", "available", "min_qty",
                     "blocked"],
        "properties": {"warehouse": _STR, "location": _STR, "on_hand": _INT, "reserved": _INT,
                       "available": {**_INT, "description": "on_hand − reserved; 0 while the "
                                     "bin is blocked"},
                       "min_qty": _INT,
                       "blocked": _nullable("string", enum=["count_pending", None],
                                            description="why the bin takes no new "
                                            "reservation (count_pending: a count is due); "
                                            "null when free")},
    }}},
}

HEALTH = {
    "type": "object", "required": ["status", "database", "schema_version", "schema_current"],
    "properties": {"status": {"type": "string", "enum": ["ok"]},
                   "database": {"type": "string", "enum": ["sqlite", "postgresql"]},
                   "schema_version": _INT, "schema_current": _BOOL,
                   "rate_limits": {
                       "type": "object", "required": ["storage", "fallbacks"],
                       "description": "where login rate limits are kept now: the configured "
                                      "storage, or 'memory (fallback)' while a configured "
                                      "Redis is unreachable; fallbacks counts the switches",
                       "properties": {"storage": {"type": "string"}, "fallbacks": _INT}},
                   "message_queue": {
                       "type": "string", "enum": ["ok", "down", "none"],
                       "description": "the Socket.IO message queue (Redis) as this process "
                                      "sees it: down leaves consoles a partial live view "
                                      "(this process's events only) and nothing else; none: "
                                      "no message queue configured"}},
}

LOGIN = {
    "type": "object", "required": ["token", "role", "badge", "expires_at"],
    "properties": {"token": {"type": "string", "description": "send as `Authorization: Bearer`"},
                   "role": {"type": "string",
                            "enum": ["picker", "packer", "supervisor", "admin"]},
                   "badge": _STR, "expires_at": _TIME},
}

RECEIPT_RESULT = {
    "type": "object", "required": ["received", "orders_reserved", "reference"],
    "properties": {"received": {**_INT, "description": "distinct products received"},
                   "orders_reserved": {**_INT,
                                       "description": "backordered orders that got stock"},
                   "reference": _STR},
}

IMPORT_REPORT = {
    "type": "object", "required": ["created", "duplicate", "rejected", "invalid", "report"],
    "properties": {
        "created": _INT, "duplicate": _INT, "rejected": _INT,
        "invalid": {**_INT, "description": "created, but with problems"},
        "dry_run": _BOOL,
        "report": {"type": "array", "items": {
            "type": "object", "required": ["order_ref", "lines", "outcome"],
            "properties": {
                "order_ref": _STR,
                "lines": {"type": "array", "items": _INT, "description": "CSV line numbers"},
                "outcome": {"type": "string", "enum": ["created", "duplicate", "rejected"]},
                "id": _nullable("integer"), "status": _nullable("string"),
                "reasons": {"type": "array", "items": {"type": "object"}},
                "hold_reasons": {"type": "array", "items": _STR},
            },
        }},
    },
}

WEBHOOK_RESULT = {
    "type": "object", "required": ["ok"],
    "description": "sent after the delivery is committed; a business-rule refusal is still a "
                   "200 (it becomes an exception for a supervisor), so the storefront neither "
                   "retries nor disables the hook",
    "properties": {"ok": {"type": "boolean", "const": True},
                   "outcome": {"type": "string", "description": "what the delivery did"},
                   "order_id": _nullable("integer"),
                   "duplicate": {"type": "boolean", "description": "event already received"},
                   "ignored": {"type": "string", "description": "a topic we do not handle"},
                   "ping": {"type": "boolean", "description": "WooCommerce's unsigned ping"}},
}

_NUM = {"type": "number"}
WAVE_CART = {
    "type": "object",
    "required": ["id", "seq", "status", "picker", "length_m", "sshape_length_m", "route",
                 "totes", "tasks", "open_tasks", "units", "picked", "short"],
    "properties": {
        "id": _INT, "seq": _INT,
        "status": {"type": "string", "enum": ["open", "picking", "done", "cancelled"]},
        "picker": _nullable("string", description="badge of the picker who claimed it"),
        "length_m": _NUM, "sshape_length_m": _NUM,
        "route": {"type": "array", "items": _STR, "description": "locations in walking order"},
        "totes": {"type": "array", "items": {
            "type": "object", "required": ["slot", "order_id", "order", "barcode"],
            "properties": {"slot": _INT, "order_id": _INT, "order": _STR,
                           "barcode": _nullable("string")}}},
        "tasks": _INT, "open_tasks": _INT, "units": _INT, "picked": _INT, "short": _INT,
    },
}
WAVE = {
    "type": "object",
    "required": ["id", "warehouse", "status", "totes", "orders", "length_m", "fcfs_length_m",
                 "sshape_length_m", "carts", "skipped"],
    "properties": {
        "id": _INT, "warehouse": _STR,
        "status": {"type": "string",
                   "enum": ["draft", "released", "picking", "done", "cancelled"]},
        "totes": _INT, "max_orders": _nullable("integer"), "orders": _INT,
        "length_m": {**_NUM, "description": "total shortest walk of its carts"},
        "fcfs_length_m": {**_NUM, "description": "the same orders on first-come carts"},
        "sshape_length_m": {**_NUM, "description": "its carts walked by the S-shape rule"},
        "created_by": _STR, "created_at": _nullable("string"),
        "released_at": _nullable("string"), "done_at": _nullable("string"),
        "cancelled_at": _nullable("string"),
        "skipped": {"type": "array", "items": {"type": "object"},
                    "description": "ready orders left out of this plan, with the reason"},
        "carts": {"type": "array", "items": ref("WaveCart")},
    },
}
WAVE_LIST = {"type": "object", "required": ["waves", "next_cursor"],
             "properties": {"waves": {"type": "array", "items": ref("Wave")},
                            "next_cursor": _nullable("integer")}}

RESPONSE_SCHEMAS = {
    "Error": ERROR, "InvalidOrder": INVALID_ORDER, "Problem": PROBLEM,
    "OrderLineOut": ORDER_LINE_OUT, "OrderSummary": ORDER_SUMMARY, "Order": ORDER,
    "FloorOrder": FLOOR_ORDER, "OrderList": ORDER_LIST, "Stock": STOCK,
    "Health": HEALTH, "Login": LOGIN, "ReceiptResult": RECEIPT_RESULT,
    "ImportReport": IMPORT_REPORT, "WebhookResult": WEBHOOK_RESULT,
    "Wave": WAVE, "WaveCart": WAVE_CART, "WaveList": WAVE_LIST,
}

# --- responses and parameters -----------------------------------------------------------

ERRORS = {
    400: ("BadRequest", "malformed JSON, invalid Unicode (a lone surrogate escape), a query "
                        "parameter out of range, or a NUL character in the URL or a key "
                        "header"),
    401: ("Unauthorized", "no valid bearer token (or, for a webhook, a bad signature)"),
    403: ("Forbidden", "the token's role may not do this"),
    404: ("NotFound", "no such resource (or not visible to this channel)"),
    409: ("Conflict", "the resource is in a state that refuses this"),
    413: ("PayloadTooLarge", "the body is larger than the server accepts"),
    415: ("UnsupportedMediaType", "wrong Content-Type"),
    422: ("Unprocessable", "the body fails its schema or a business rule"),
    429: ("TooManyRequests", "rate limit or badge lockout"),
    503: ("ServiceUnavailable", "the database cannot be reached just now "
                                "(database_unavailable): nothing was changed, retry"),
}


def _ok(status: int, description: str, schema: Schema | None, **extra: Any) -> dict:
    body: dict[str, Any] = {"description": description, **extra}
    if schema is not None:
        body["content"] = {JSON: {"schema": schema}}
    return {str(status): body}


def _responses(ok: dict, *errors: int) -> dict:
    out = dict(ok)
    for status in sorted(errors):
        out[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    return out


def _json_body(schema: str, required: bool = True) -> dict:
    return {"required": required, "content": {JSON: {"schema": ref(schema)}}}


ORDER_ID = {"name": "order_id", "in": "path", "required": True,
            "schema": {"type": "integer", "format": "int64", "minimum": 1,
                       "maximum": 2**63 - 1}}
CHANNEL = {"name": "channel", "in": "path", "required": True,
           "description": "the channel's name, as configured (`wavepack channel add`)",
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}
PUBLIC: list = []   # `security: []` — no token


def _header(name: str, description: str, required: bool = False, **schema: Any) -> dict:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": {"type": "string", **schema}}


def _query(name: str, description: str, schema: Schema, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}


# --- paths ------------------------------------------------------------------------------

def _orders_paths() -> dict:
    order_ok = _ok(200, "the order", ref("Order"))
    return {
        "/api/v1/orders": {
            "post": {
                "tags": ["orders"], "operationId": "createOrder",
                "summary": "Create an order (channel token); idempotent with Idempotency-Key",
                "description": "An order that cannot be read or breaks a rule (country not "
                               "ISO 3166, a phone that is not a complete number of its "
                               "country, a postcode not in the country's format, unknown SKU, "
                               "…) is refused with 422 `invalid_order` listing every problem "
                               "at once, and nothing is stored. The country, postcode and "
                               "phone are normalised (`ship_to_original` keeps what was "
                               "sent). The same Idempotency-Key with the same body replays "
                               "the first answer; with a different body it is refused (422 "
                               "`idempotency_key_reused`), except after an `invalid_order`, "
                               "which leaves the key free for the corrected order; while the "
                               "first request is still running, 409.",
                "parameters": [_header("Idempotency-Key", "1–200 characters, unique per "
                                       "channel", minLength=1, maxLength=200)],
                "requestBody": _json_body("NativeOrder"),
                "responses": {**_responses(
                    _ok(201, "stored (as ready, backordered, awaiting_payment or on_hold)",
                        ref("Order")),
                    400, 401, 403, 409, 413, 415),
                    "422": {"description": "`invalid_order` (every problem in `problems`; "
                                           "nothing stored), or an Idempotency-Key refusal",
                            "content": {JSON: {"schema": ref("InvalidOrder")}}}},
            },
            "get": {
                "tags": ["orders"], "operationId": "listOrders",
                "summary": "A page of orders by id (a channel sees only its own)",
                "parameters": [
                    _query("status", "only orders in this state",
                           {"type": "string", "enum": list(STATUSES)}),
                    _query("limit", "page size",
                           {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
                    _query("cursor", "`next_cursor` of the previous page",
                           {"type": "integer", "minimum": 0, "maximum": 2**62, "default": 0}),
                ],
                "responses": _responses(_ok(200, "a page", ref("OrderList")), 400, 401, 403),
            },
        },
        "/api/v1/orders/{order_id}": {
            "parameters": [ORDER_ID],
            "get": {"tags": ["orders"], "operationId": "getOrder", "summary": "One order",
                    "description": "Supervisors, admins and the order's channel get all of "
                                   "it; pickers and packers a FloorOrder",
                    "responses": _responses(
                        _ok(200, "the order", {"anyOf": [ref("Order"), ref("FloorOrder")]}),
                        400, 401, 403, 404)},
        },
        "/api/v1/orders/{order_id}/cancel": {
            "parameters": [ORDER_ID],
            "post": {
                "tags": ["orders"], "operationId": "cancelOrder",
                "summary": "Cancel and release its stock (channel, supervisor or admin)",
                "description": "Refused (409) once the order is packed; cancelling a cancelled "
                               "order answers it unchanged. The body is optional.",
                "requestBody": _json_body("CancelRequest", required=False),
                "responses": _responses(order_ok, 400, 401, 403, 404, 409, 413, 415, 422),
            },
        },
        "/api/v1/orders/{order_id}/release": {
            "parameters": [ORDER_ID],
            "post": {
                "tags": ["orders"], "operationId": "releaseOrder",
                "summary": "Release a hold (supervisor or admin)",
                "description": "A risk hold is released; a carrier_unmapped or "
                               "customs_data_missing hold whose cause is still there is "
                               "refused (409 with that code, nothing changed).",
                "responses": _responses(order_ok, 400, 401, 403, 404, 409),
            },
        },
        "/api/v1/orders/{order_id}/carrier": {
            "parameters": [ORDER_ID],
            "post": {
                "tags": ["orders"], "operationId": "assignCarrier",
                "summary": "Assign the carrier service (supervisor or admin)",
                "description": "The service must belong to the order's warehouse and serve its "
                               "address (422 unknown_service, 409 service_not_serving). An "
                               "order held for carrier_unmapped is released in the same call "
                               "(and may then be held for customs_data_missing). Refused "
                               "(409) once the order is packed.",
                "requestBody": _json_body("CarrierAssignment"),
                "responses": _responses(order_ok, 400, 401, 403, 404, 409, 413, 415, 422),
            },
        },
        "/api/v1/orders:import": {
            "post": {
                "tags": ["orders"], "operationId": "importOrdersCsv",
                "summary": "Import orders from CSV: all-or-nothing per order, a report per line",
                "parameters": [
                    _query("dry_run", "check only, store nothing (answers 200, not 201)",
                           {"type": "boolean", "default": False}),
                    _query("channel", "staff only: the channel to import into (default: the "
                           "first native channel)", {"type": "string", "maxLength": 64}),
                ],
                "requestBody": {"required": True, "content": {"multipart/form-data": {
                    "schema": {"type": "object", "required": ["file"],
                               "properties": {"file": {"type": "string",
                                                       "contentMediaType": "text/csv"}}},
                }}},
                "responses": _responses(
                    {**_ok(201, "imported", ref("ImportReport")),
                     **_ok(200, "dry run: what would be imported", ref("ImportReport"))},
                    400, 401, 403, 404, 413, 415, 422),
            },
        },
    }


WAVE_ID = {"name": "wave_id", "in": "path", "required": True,
           "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}}


def _wave_paths() -> dict:
    wave_ok = _ok(200, "the wave", ref("Wave"))
    return {
        "/api/v1/waves": {
            "post": {
                "tags": ["waves"], "operationId": "planWave",
                "summary": "Plan a draft wave (supervisor or admin): the most urgent ready "
                           "orders batched onto carts, each cart's shortest route",
                "description": "422 `nothing_to_pick` when the warehouse has no ready orders "
                               "that can be picked; 422 `no_layout` without a layout.",
                "requestBody": _json_body("WaveRequest"),
                "responses": _responses(_ok(201, "the draft wave", ref("Wave")),
                                        400, 401, 403, 404, 413, 415, 422),
            },
            "get": {
                "tags": ["waves"], "operationId": "listWaves", "summary": "A page of waves",
                "parameters": [
                    _query("status", "only waves in this state", {
                        "type": "string",
                        "enum": ["draft", "released", "picking", "done", "cancelled"]}),
                    _query("limit", "page size",
                           {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
                    _query("cursor", "`next_cursor` of the previous page",
                           {"type": "integer", "minimum": 0, "maximum": 2**62, "default": 0}),
                ],
                "responses": _responses(_ok(200, "a page", ref("WaveList")),
                                        400, 401, 403, 422),
            },
        },
        "/api/v1/metrics/handheld": {"get": {
            "tags": ["waves"], "operationId": "handheldMetrics",
            "summary": "Server-side handling time of handheld events in this process "
                       "(supervisor or admin)",
            "parameters": [_query("reset", "1 = start a new window after reading",
                                  {"type": "string", "enum": ["0", "1"]})],
            "responses": _responses(_ok(200, "per event: n, median_ms, p99_ms, max_ms, errors",
                                        {"type": "object", "additionalProperties": {
                                            "type": "object",
                                            "required": ["n", "median_ms", "p99_ms", "max_ms",
                                                         "errors"]}}),
                                    400, 401, 403),
        }},
        "/api/v1/waves/{wave_id}": {
            "parameters": [WAVE_ID],
            "get": {"tags": ["waves"], "operationId": "getWave", "summary": "One wave",
                    "responses": _responses(wave_ok, 400, 401, 403, 404)},
        },
        "/api/v1/waves/{wave_id}/release": {
            "parameters": [WAVE_ID],
            "post": {"tags": ["waves"], "operationId": "releaseWave",
                     "summary": "draft → released: pickers can claim its carts",
                     "responses": _responses(wave_ok, 400, 401, 403, 404, 409)},
        },
        "/api/v1/waves/{wave_id}/cancel": {
            "parameters": [WAVE_ID],
            "post": {"tags": ["waves"], "operationId": "cancelWave",
                     "summary": "Cancel a wave before anything is picked; its orders go "
                                "back to ready (409 `picks_recorded` once units are picked)",
                     "responses": _responses(wave_ok, 400, 401, 403, 404, 409)},
        },
    }


def _other_paths() -> dict:
    return {
        "/healthz": {"get": {
            "tags": ["health"], "operationId": "health", "security": PUBLIC,
            "summary": "Liveness and readiness: the database answers, its schema is current",
            "responses": _responses(_ok(200, "healthy", ref("Health")), 400, 503),
        }},
        "/api/v1/auth/badge": {"post": {
            "tags": ["auth"], "operationId": "badgeLogin", "security": PUBLIC,
            "summary": "Badge + PIN → a session token; repeated failures lock the badge",
            "requestBody": _json_body("BadgeLogin"),
            "responses": _responses(_ok(200, "a session token", ref("Login")),
                                    400, 401, 413, 415, 422, 429),
        }},
        "/api/v1/stock": {"get": {
            "tags": ["stock"], "operationId": "getStock",
            "summary": "Stock of one SKU per location (supervisor or admin)",
            "parameters": [_query("sku", "the SKU", {"type": "string", "minLength": 1,
                                                      "maxLength": 64}, required=True)],
            "responses": _responses(_ok(200, "stock per location", ref("Stock")),
                                    400, 401, 403, 422),
        }},
        "/api/v1/stock/receipts": {"post": {
            "tags": ["stock"], "operationId": "receiveStock",
            "summary": "Goods in (supervisor or admin); backorders get first call on it",
            "requestBody": _json_body("StockReceipt"),
            "responses": _responses(_ok(201, "received", ref("ReceiptResult")),
                                    400, 401, 403, 404, 413, 415, 422),
        }},
    }


_WEBHOOK_RESPONSES = {
    **_ok(200, "accepted (also for a duplicate delivery, so the storefront stops retrying)",
          ref("WebhookResult")),
    **{str(s): {"$ref": f"#/components/responses/{ERRORS[s][0]}"}
       for s in (400, 401, 404, 413, 422)},
}


def _webhook_paths() -> dict:
    shopify_headers = [
        _header("X-Shopify-Hmac-Sha256", "base64 HMAC-SHA256 of the raw body, keyed with the "
                "channel's secret", required=True),
        _header("X-Shopify-Topic", "orders/create, orders/paid, orders/updated, "
                "orders/cancelled or orders/delete; another topic is acknowledged and ignored",
                required=True),
        _header("X-Shopify-Event-Id", "deliveries are de-duplicated on it"),
        _header("X-Shopify-Webhook-Id", "the de-duplication key when Event-Id is absent"),
    ]
    woo_headers = [
        _header("X-WC-Webhook-Signature", "base64 HMAC-SHA256 of the raw body; absent on "
                "the ping"),
        _header("X-WC-Webhook-Topic", "order.created, order.updated, order.restored or "
                "order.deleted; absent on the ping"),
    ]
    raw_json = {"schema": {"description": "the storefront's order resource, signed as sent"}}
    return {
        "/webhooks/shopify/{channel}": {"post": {
            "tags": ["webhooks"], "operationId": "shopifyWebhook", "security": PUBLIC,
            "summary": "Shopify order webhook (authenticated by its HMAC signature)",
            "description": "The signature is checked on the raw body bytes before any parsing.",
            "parameters": [CHANNEL, *shopify_headers],
            "requestBody": {"required": True, "content": {JSON: raw_json}},
            "responses": _WEBHOOK_RESPONSES,
        }},
        "/webhooks/woocommerce/{channel}": {"post": {
            "tags": ["webhooks"], "operationId": "woocommerceWebhook", "security": PUBLIC,
            "summary": "WooCommerce order webhook (HMAC signature), and its unsigned ping",
            "description": "The ping is the form body `webhook_id=<digits>` without signature; "
                           "it is answered 200 and touches nothing.",
            "parameters": [CHANNEL, *woo_headers],
            "requestBody": {"required": True, "content": {
                JSON: raw_json,
                "application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "properties": {"webhook_id": {"type": "string"}}}},
            }},
            "responses": _WEBHOOK_RESPONSES,
        }},
    }


def _version() -> str:
    try:
        return metadata.version("wavepack")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _blueprint_modules() -> list:
    """Blueprints that describe their own paths (openapi_paths, RESPONSE_SCHEMAS)."""
    from . import (admin, bins, counts, exceptions, floor, history, metrics, outbox, pack,
                   printing, replenishment, reports, returns, tracking)
    return [pack, printing, outbox, counts, tracking, returns, exceptions, reports, floor,
            replenishment, metrics, history, bins, admin]


@lru_cache(maxsize=1)
def build_spec() -> dict:
    """The OpenAPI 3.1 document (built once; callers must not mutate it)."""
    modules = _blueprint_modules()
    schemas = {**copy.deepcopy(SCHEMAS), **copy.deepcopy(RESPONSE_SCHEMAS)}
    for module in modules:
        schemas.update(copy.deepcopy(getattr(module, "RESPONSE_SCHEMAS", {})))
    responses = {name: {"description": text, "content": {JSON: {"schema": ref("Error")}}}
                 for name, text in ERRORS.values()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "wavepack", "version": _version(),
                 "description": "Warehouse fulfilment: order intake, stock, reservations. "
                                "Every error is `{\"error\": {\"code\", \"message\", "
                                "\"field\"}}`; a refused order adds `problems`, every "
                                "reason at once. Every response carries `X-Request-Id`: the "
                                "request's own (up to 128 of `A-Za-z0-9._:-`) or a new one, "
                                "as the server log has it."},
        "tags": [{"name": t} for t in ("health", "auth", "orders", "stock", "waves",
                                       "packing", "shipments", "printing", "outbox",
                                       "returns", "webhooks", "exceptions", "reports",
                                       "floor", "replenishment", "admin")],
        "security": [{"bearer": []}],
        "paths": {**_other_paths(), **_orders_paths(), **_wave_paths(), **_webhook_paths(),
                  **{path: item for module in modules
                     for path, item in module.openapi_paths().items()}},
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "an API token (channel or staff) or a badge-login session token"}},
            "schemas": schemas,
            "responses": responses,
        },
    }


# --- HTTP -------------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(build_spec())


_METHODS = ("get", "post", "put", "patch", "delete")


def _ref_name(schema: Any) -> str | None:
    if isinstance(schema, dict) and "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    return None


def _operations(spec: dict) -> list[dict]:
    """What the docs page shows for each operation, flattened for the template."""
    ops = []
    for path, item in spec["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [*item.get("parameters", ()), *op.get("parameters", ())]
            body = [(ctype, _ref_name(media.get("schema")),
                     json.dumps(media.get("schema", {}), indent=2))
                    for ctype, media in op.get("requestBody", {}).get("content", {}).items()]
            responses = []
            for status, resp in op["responses"].items():
                if "$ref" in resp:
                    resp = spec["components"]["responses"][_ref_name(resp)]
                schema = resp.get("content", {}).get(JSON, {}).get("schema")
                responses.append((status, resp["description"], _ref_name(schema)))
            ops.append({"method": method.upper(), "path": path, "op": op, "params": params,
                        "body": body, "responses": responses,
                        "public": op.get("security", spec["security"]) == []})
    return ops


DOCS_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ spec.info.title }} API {{ spec.info.version }}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:64rem;padding:1rem 2rem;color:#222}
code,pre{font:13px ui-monospace,monospace}pre{background:#f5f5f5;padding:.6rem;overflow:auto}
section.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.2rem 1rem}
.m{display:inline-block;min-width:4rem;font-weight:bold;color:#fff;border-radius:4px;
padding:0 .4rem;text-align:center}.GET{background:#2b7bb9}.POST{background:#3a9b47}
table{border-collapse:collapse}td,th{border-bottom:1px solid #eee;padding:.2rem .6rem;
text-align:left;vertical-align:top}nav a{margin-right:1rem}
</style></head><body>
<h1>{{ spec.info.title }} API <small>{{ spec.info.version }}</small></h1>
<p>{{ spec.info.description }}</p>
<p>Authentication: <code>Authorization: Bearer &lt;token&gt;</code> unless marked public.
Machine-readable: <a href="openapi.json">/openapi.json</a> (OpenAPI {{ spec.openapi }}).</p>
<nav>{% for o in ops %}<a href="#{{ o.op.operationId }}">{{ o.method }} {{ o.path }}</a>
{% endfor %}</nav>
{% for o in ops %}
<section class="op" id="{{ o.op.operationId }}">
<h2><span class="m {{ o.method }}">{{ o.method }}</span> <code>{{ o.path }}</code>
{% if o.public %}<small>(public)</small>{% endif %}</h2>
<p>{{ o.op.summary }}</p>{% if o.op.description %}<p>{{ o.op.description }}</p>{% endif %}
{% if o.params %}<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>required</th>
<th>schema</th><th></th></tr>{% for p in o.params %}<tr><td><code>{{ p.name }}</code></td>
<td>{{ p["in"] }}</td><td>{{ "yes" if p.required else "no" }}</td>
<td><code>{{ p.schema | tojson }}</code></td><td>{{ p.description or "" }}</td></tr>
{% endfor %}</table>{% endif %}
{% if o.body %}<h3>Request body</h3>{% for ctype, name, raw in o.body %}
<p><code>{{ ctype }}</code>{% if name %}: <a href="#schema-{{ name }}">{{ name }}</a>{% endif %}</p>
{% if not name %}<pre>{{ raw }}</pre>{% endif %}{% endfor %}{% endif %}
<h3>Responses</h3><table>{% for status, text, name in o.responses %}<tr><td>{{ status }}</td>
<td>{{ text }}</td><td>{% if name %}<a href="#schema-{{ name }}">{{ name }}</a>{% endif %}</td>
</tr>{% endfor %}</table>
</section>{% endfor %}
<h2>Schemas</h2>
{% for name, schema in spec.components.schemas.items() %}
<h3 id="schema-{{ name }}">{{ name }}</h3><pre>{{ schema | tojson(indent=2) }}</pre>
{% endfor %}
</body></html>
"""


@bp.get("/docs")
def docs() -> str:
    spec = build_spec()
    return render_template_string(DOCS_TEMPLATE, spec=spec, ops=_operations(spec))
