"""Customer notifications: what each one says and the signed request that carries it.

Pure: no I/O, no clock. The service (server/services/notify.py) stores one outbox message
per notification (kind `notify.<kind>`, UNIQUE dedupe key) holding the body and where to
send it; the outbox worker builds the request here at each try. The body bytes and the
delivery id are the same on every retry, and the headers are those of the native
storefront callback (server/domain/fulfilment.py):

- `X-Wavepack-Signature`: base64(HMAC-SHA256(secret, raw body));
- `X-Wavepack-Delivery`: the delivery id (receivers deduplicate on it);
- `X-Wavepack-Event`: the event name, e.g. `order.received`.
"""
from __future__ import annotations

import json
from typing import Any

from .fulfilment import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, USER_AGENT, Request
from .storefronts import signature

PREFIX = "notify."                 # outbox.kind = PREFIX + kind
EVENTS = {                         # kind → the event name the receiver sees
    "received": "order.received",
    "delayed": "order.delayed",
    "shipped": "order.shipped",
    "delivery_delayed": "order.delivery_delayed",
    "delivered": "order.delivered",
    "return_received": "return.received",
    "refund_issued": "refund.issued",
}
DELAY_REASONS = ("at_risk", "backordered")
# tracking statuses (w4-tracking's "shipment.tracking" events) told as a delivery delay
DELIVERY_DELAY_STATUSES = frozenset({"delayed", "failed_attempt", "exception", "lost",
                                     "returned_to_sender"})


def outbox_kind(kind: str) -> str:
    if kind not in EVENTS:
        raise ValueError(f"unknown notification kind {kind!r}")
    return PREFIX + kind


def dedupe_key(kind: str, subject: str, subject_id: int) -> str:
    """The outbox UNIQUE key: one notification of a kind per order, shipment or return."""
    return f"{outbox_kind(kind)}:{subject}:{subject_id}"


def body(kind: str, *, delivery_id: str, occurred_at: str, channel: str, order: dict,
         **details: Any) -> dict:
    """The notification body: event, delivery id, when, the channel and the order
    ({"id": the storefront's order id, "ref", "wavepack_id", "ship_by"}), then the
    kind's own details (shipment, return, reason, status)."""
    return {"event": EVENTS[kind], "delivery_id": delivery_id, "occurred_at": occurred_at,
            "channel": channel, "order": order, **details}


def encode(value: dict) -> bytes:
    """The bytes sent: keys sorted, no spaces, UTF-8 (the same on every retry)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def request(url: str, secret: str, message: dict) -> Request:
    """The signed POST of one stored notification ({"body": …} as enqueued)."""
    data = encode(message["body"])
    headers = (("Content-Type", "application/json"), ("User-Agent", USER_AGENT),
               (EVENT_HEADER, message["body"]["event"]),
               (DELIVERY_HEADER, message["body"]["delivery_id"]),
               (SIGNATURE_HEADER, signature.sign(data, secret)))
    return Request("POST", url, headers, data)
