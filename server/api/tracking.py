"""Following the parcel: carriers post tracking events (carrier token), tracking feeds
(AfterShip, 17TRACK) push to /webhooks/tracking/<feed>, and staff or the order's channel
read a shipment's timeline. The use cases are in services/tracking.py."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import settings
from ..domain.errors import Forbidden
from ..services import tracking
from .common import caller, json_body, require_staff

bp = Blueprint("tracking", __name__)

STAFF = ("picker", "packer", "supervisor", "admin")


@bp.post("/api/v1/tracking-events")
def post_tracking_events():
    """A carrier's batch of tracking events (carrier token only)."""
    p = caller()
    if p.kind != "carrier":
        raise Forbidden("tracking events are posted with a carrier token")
    body = json_body("TrackingEvents")
    batch = tracking.events_from_body(body)
    result = tracking.record_events(p.carrier, batch, actor=p.actor, only_carrier=p.carrier)
    result.pop("moved")
    return jsonify(result)


@bp.get("/api/v1/shipments/<tracking_number>")
def get_shipment_tracking(tracking_number: str):
    return jsonify(timeline_for_caller(tracking_number))


def timeline_for_caller(tracking_number: str) -> dict:
    """Staff see every shipment; a channel token its own orders' only."""
    p = caller()
    if p.kind == "channel":
        return tracking.shipment_timeline(tracking_number, channel_id=p.channel_id)
    require_staff(*STAFF)
    return tracking.shipment_timeline(tracking_number)


@bp.post("/webhooks/tracking/<feed>")
def tracking_feed(feed: str):
    """An AfterShip webhook or a 17TRACK push, by the feed's name in config."""
    return jsonify(tracking.receive_feed(feed, request.headers, request.get_data(),
                                         settings=settings.current()))


# --- OpenAPI ------------------------------------------------------------------------------

_INT64 = {"minimum": -2**63, "maximum": 2**63 - 1}


def openapi_paths() -> dict:
    from .openapi import PUBLIC, _header, _json_body, _ok, _responses, ref
    feed = {"name": "feed", "in": "path", "required": True,
            "description": "the feed's name under tracking.feeds in config",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,48}$"}}
    number = {"name": "tracking_number", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$"}}
    return {
        "/api/v1/tracking-events": {"post": {
            "tags": ["shipments"], "operationId": "postTrackingEvents",
            "summary": "A carrier's tracking events (carrier token: `wavepack token create "
                       "--carrier NAME`)",
            "description": "Idempotent by (carrier, event_id); a shipment follows its latest "
                           "event by occurred_at, so late events never move it back; "
                           "`delivered` on every parcel moves the order to delivered. "
                           "Tracking numbers of no shipment of this carrier are listed in "
                           "`unknown` and not stored.",
            "requestBody": _json_body("TrackingEvents"),
            "responses": _responses(_ok(200, "what was recorded", ref("TrackingResult")),
                                    400, 401, 403, 415, 422)}},
        "/api/v1/shipments/{tracking_number}": {
            "parameters": [number],
            "get": {"tags": ["shipments"], "operationId": "getShipmentTracking",
                    "summary": "A shipment by tracking number, with its whole event timeline "
                               "(staff; a channel token for its own orders). An all-digit "
                               "number that is no shipment's id is read here too.",
                    "responses": _responses(_ok(200, "the shipment and its events",
                                                ref("ShipmentTracking")), 401, 403, 404)}},
        "/webhooks/tracking/{feed}": {"post": {
            "tags": ["webhooks"], "operationId": "trackingFeed", "security": PUBLIC,
            "summary": "AfterShip webhook (header aftership-hmac-sha256: base64 HMAC-SHA256 "
                       "of the raw body with the webhook secret) or 17TRACK push (header "
                       "sign: hex SHA-256 of the raw body + '/' + the API key)",
            "parameters": [feed, _header("aftership-hmac-sha256", "AfterShip feeds"),
                           _header("sign", "17TRACK feeds")],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"description": "the feed's own body, signed as sent"}}}},
            "responses": _responses(_ok(200, "what was recorded", ref("TrackingResult")),
                                    401, 404, 422)}},
    }


_TIME = {"type": ["string", "null"], "format": "date-time"}

RESPONSE_SCHEMAS = {
    "TrackingResult": {
        "type": "object", "required": ["accepted", "duplicates", "unknown"],
        "properties": {"accepted": {"type": "integer", **_INT64},
                       "duplicates": {"type": "integer", **_INT64},
                       "unknown": {"type": "array", "items": {"type": "string"}},
                       "ignored": {"type": "string"}}},
    "ShipmentTracking": {
        "type": "object",
        "required": ["id", "order_id", "tracking_number", "carrier", "state", "tracking_status",
                     "events"],
        "properties": {
            "id": {"type": "integer", **_INT64}, "order_id": {"type": "integer", **_INT64},
            "order_ref": {"type": "string"}, "order_status": {"type": "string"},
            "tracking_number": {"type": "string"}, "carrier": {"type": "string"},
            "carrier_service": {"type": "string"}, "service": {"type": "string"},
            "state": {"type": "string"},
            "tracking_status": {"type": ["string", "null"],
                                "enum": [None, *tracking.te.STATUSES]},
            "flag": {"type": ["string", "null"], "enum": [None, "delayed", "lost"]},
            "shipped_at": _TIME, "last_event_at": _TIME, "delivered_at": _TIME,
            "parcel": {"type": "integer", **_INT64}, "parcels": {"type": "integer", **_INT64},
            "events": {"type": "array", "items": {
                "type": "object",
                "required": ["event_id", "source", "status", "occurred_at"],
                "properties": {"event_id": {"type": "string"}, "source": {"type": "string"},
                               "status": {"type": "string", "enum": list(tracking.te.STATUSES)},
                               "occurred_at": _TIME, "location": {"type": "string"},
                               "detail": {"type": "string"}, "received_at": _TIME}}}}},
}
