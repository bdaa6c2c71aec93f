"""Telling a storefront that a shipment left: the HTTP requests, built from a snapshot.

Pure: no I/O, no clock. The outbox service (server/services/outbox.py) stores a snapshot
when a shipment is shipped, builds the requests here and sends them, retrying until the
storefront acknowledges. Every flow is safe to run again after a try whose answer was lost:

- Shopify (Admin REST API 2025-07, header `X-Shopify-Access-Token`): the order's
  fulfilment orders are read (`GET orders/{id}/fulfillment_orders.json`) and one
  fulfilment is created from their open line items that are our lines
  (`POST fulfillments.json` with `line_items_by_fulfillment_order` and `tracking_info`).
  Before a second try, `GET orders/{id}/fulfillments.json` is asked whether a fulfilment
  with our tracking number exists already (`find_shopify_fulfilment`).
- WooCommerce (REST v3, HTTP Basic with the consumer key and secret): a customer note
  naming the tracking number (`POST orders/{id}/notes`, skipped when a note already names
  it: `woo_note_exists`), then the order `completed` (`PUT orders/{id}`, idempotent).
- Native channels: one signed POST of `native_body` to the channel's callback URL.
  Headers: `X-Wavepack-Signature` = base64(HMAC-SHA256(channel secret, raw body)), the
  same scheme Shopify signs its webhooks with; `X-Wavepack-Delivery` = a delivery id that
  stays the same on every retry of this message (the receiver deduplicates on it);
  `X-Wavepack-Event: shipment.shipped`. The body bytes are the same on every retry too.
"""
from __future__ import annotations

import base64
import json
import random
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from .errors import DomainError
from .storefronts import signature

KIND = "fulfilment"                    # outbox.kind of these messages
EVENT = "shipment.shipped"
SHOPIFY_API_VERSION = "2025-07"
WOO_API = "/wp-json/wc/v3"
SIGNATURE_HEADER = "X-Wavepack-Signature"
DELIVERY_HEADER = "X-Wavepack-Delivery"
EVENT_HEADER = "X-Wavepack-Event"
USER_AGENT = "wavepack-outbox/1"
# Shopify fulfilment orders we can fulfil from (and fulfilments that count as made)
_OPEN_FO = frozenset({"open", "in_progress"})
_DEAD_FULFILMENT = frozenset({"cancelled", "error", "failure"})
_STORE_ID = re.compile(r"[0-9]{1,20}")


class FulfilmentRefused(DomainError):
    """The storefront's own data leaves nothing we can send (no open line of this order
    is one of ours, a malformed id): trying again will not help, a person must look."""

    code, status = "fulfilment_refused", 409


@dataclass(frozen=True)
class LineSnapshot:
    external_id: str          # the storefront's line id, exact text ('' when it has none)
    sku: str
    quantity: int


@dataclass(frozen=True)
class ShipmentSnapshot:
    """What the storefront is told, as it was when the shipment was shipped."""

    shipment_id: int
    order_id: int
    order_external_id: str    # exact text: Shopify ids exceed 2^53
    order_ref: str
    carrier: str
    service: str
    tracking: str
    sscc: str
    parcel_no: int
    parcel_count: int
    shipped_at: str           # ISO 8601, UTC
    delivery_id: str          # the same on every retry (native receivers dedupe on it)
    lines: tuple[LineSnapshot, ...] = field(default=())
    tracking_url: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ShipmentSnapshot:
        data = json.loads(text)
        data["lines"] = tuple(LineSnapshot(**line) for line in data.get("lines", ()))
        return cls(**data)


@dataclass(frozen=True)
class Storefront:
    """Where and how to reach one channel. `token`: Shopify's Admin API access token;
    `key`/`secret`: WooCommerce's consumer key and secret; `signing_secret`: the HMAC key
    of native callbacks."""

    kind: str
    base_url: str = ""
    token: str = ""
    key: str = ""
    secret: str = ""
    callback_url: str = ""
    signing_secret: str = ""

    def reachable(self) -> bool:
        """Whether there is somewhere to send to at all."""
        return bool(self.callback_url if self.kind == "native" else self.base_url)


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None = None


# ---------------------------------------------------------------- shared

def backoff_seconds(attempts: int, base_s: float, cap_s: float,
                    rng: random.Random | None = None) -> float:
    """The wait after the `attempts`-th failed try: base·2^(attempts-1), capped, with
    "equal jitter" (a uniform draw from its upper half) so that many messages failing
    together do not all come back at the same second."""
    ceiling = min(cap_s, base_s * 2 ** max(attempts - 1, 0))
    return (rng or random).uniform(ceiling / 2, ceiling)


def basic_auth(key: str, secret: str) -> str:
    """The HTTP Basic `Authorization` value WooCommerce's REST API takes over HTTPS."""
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode("ascii")


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _store_id(text: str, what: str) -> str:
    if not _STORE_ID.fullmatch(text or ""):
        raise FulfilmentRefused(f"{what} {text!r} is not a storefront id")
    return text


def _as_id(value: Any) -> str:
    """A storefront id from a response as exact text (ints stay exact through json)."""
    return str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""


def _objects(value: Any, key: str | None = None) -> list[dict]:
    if key is not None:
        value = value.get(key) if isinstance(value, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ---------------------------------------------------------------- Shopify

def _shopify(shop: Storefront, method: str, path: str, body: Any = None) -> Request:
    headers = [("X-Shopify-Access-Token", shop.token), ("Accept", "application/json"),
               ("User-Agent", USER_AGENT)]
    if body is not None:
        headers.append(("Content-Type", "application/json"))
    url = f"{shop.base_url.rstrip('/')}/admin/api/{SHOPIFY_API_VERSION}/{path}"
    return Request(method, url, tuple(headers), None if body is None else _json(body))


def shopify_fulfilments_request(shop: Storefront, snap: ShipmentSnapshot) -> Request:
    """GET the order's fulfilments (to find one made by a try whose answer was lost)."""
    oid = _store_id(snap.order_external_id, "order id")
    return _shopify(shop, "GET", f"orders/{oid}/fulfillments.json?limit=250")


def find_shopify_fulfilment(snap: ShipmentSnapshot, answer: Any) -> str | None:
    """The id of a live fulfilment carrying our tracking number, if the order has one."""
    for ful in _objects(answer, "fulfillments"):
        numbers = [ful.get("tracking_number"), *(ful.get("tracking_numbers") or [])]
        if snap.tracking in numbers and str(ful.get("status", "")).lower() \
                not in _DEAD_FULFILMENT:
            return _as_id(ful.get("id")) or snap.tracking
    return None


def shopify_fulfillment_orders_request(shop: Storefront, snap: ShipmentSnapshot) -> Request:
    oid = _store_id(snap.order_external_id, "order id")
    return _shopify(shop, "GET", f"orders/{oid}/fulfillment_orders.json")


def shopify_create_request(shop: Storefront, snap: ShipmentSnapshot, answer: Any) -> Request:
    """POST fulfillments.json: our lines, matched to the open fulfilment order line items
    by `line_item_id`, each capped at what is still fulfillable, with the tracking."""
    wanted: dict[str, int] = {}
    for line in snap.lines:
        if line.external_id and line.quantity > 0:
            wanted[line.external_id] = wanted.get(line.external_id, 0) + line.quantity
    groups = []
    for fo in _objects(answer, "fulfillment_orders"):
        actions = fo.get("supported_actions")
        if str(fo.get("status", "")).lower() not in _OPEN_FO or (
                isinstance(actions, list) and "create_fulfillment" not in actions):
            continue
        items = []
        for item in _objects(fo, "line_items"):
            line_id = _as_id(item.get("line_item_id"))
            free = item.get("fulfillable_quantity")
            qty = min(wanted.get(line_id, 0), free if isinstance(free, int) else 0)
            if qty > 0:
                items.append({"id": item.get("id"), "quantity": qty})
                wanted[line_id] -= qty
        if items:
            groups.append({"fulfillment_order_id": fo.get("id"),
                           "fulfillment_order_line_items": items})
    if not groups:
        raise FulfilmentRefused(f"Shopify order {snap.order_external_id} has no open "
                                "fulfilment order line for the lines of this shipment")
    tracking = {"number": snap.tracking, "company": snap.carrier}
    if snap.tracking_url:
        tracking["url"] = snap.tracking_url
    return _shopify(shop, "POST", "fulfillments.json", {"fulfillment": {
        "line_items_by_fulfillment_order": groups, "tracking_info": tracking,
        "notify_customer": True}})


def shopify_created_id(answer: Any) -> str:
    ful = answer.get("fulfillment") if isinstance(answer, dict) else None
    return _as_id(ful.get("id")) if isinstance(ful, dict) else ""


# ---------------------------------------------------------------- WooCommerce

def _woo(shop: Storefront, method: str, path: str, body: Any = None) -> Request:
    headers = [("Authorization", basic_auth(shop.key, shop.secret)),
               ("Accept", "application/json"), ("User-Agent", USER_AGENT)]
    if body is not None:
        headers.append(("Content-Type", "application/json"))
    url = f"{shop.base_url.rstrip('/')}{WOO_API}/{path}"
    return Request(method, url, tuple(headers), None if body is None else _json(body))


def woo_note_text(snap: ShipmentSnapshot) -> str:
    """The customer note; it names the tracking number, which is how a retry finds it."""
    how = " ".join(p for p in (snap.carrier, snap.service) if p)
    text = f"Shipped with {how}, tracking number {snap.tracking}"
    if snap.parcel_count > 1:
        text += f" (parcel {snap.parcel_no} of {snap.parcel_count})"
    return text + (f": {snap.tracking_url}" if snap.tracking_url else ".")


def woo_notes_request(shop: Storefront, snap: ShipmentSnapshot) -> Request:
    oid = _store_id(snap.order_external_id, "order id")
    return _woo(shop, "GET", f"orders/{oid}/notes")


def woo_note_exists(snap: ShipmentSnapshot, answer: Any) -> str | None:
    """The id of a note already naming our tracking number, if there is one."""
    for note in _objects(answer):
        if snap.tracking in str(note.get("note", "")):
            return _as_id(note.get("id")) or snap.tracking
    return None


def woo_add_note_request(shop: Storefront, snap: ShipmentSnapshot) -> Request:
    oid = _store_id(snap.order_external_id, "order id")
    return _woo(shop, "POST", f"orders/{oid}/notes",
                {"note": woo_note_text(snap), "customer_note": True})


def woo_complete_request(shop: Storefront, snap: ShipmentSnapshot) -> Request:
    oid = _store_id(snap.order_external_id, "order id")
    return _woo(shop, "PUT", f"orders/{oid}", {"status": "completed"})


# ---------------------------------------------------------------- native

def native_body(snap: ShipmentSnapshot) -> bytes:
    """The callback body: the same bytes on every retry (keys sorted, no spaces)."""
    return _json({
        "event": EVENT, "delivery_id": snap.delivery_id,
        "order": {"id": snap.order_external_id, "ref": snap.order_ref},
        "shipment": {"id": snap.shipment_id, "carrier": snap.carrier,
                     "service": snap.service, "tracking": snap.tracking,
                     "tracking_url": snap.tracking_url or None, "sscc": snap.sscc,
                     "parcel_no": snap.parcel_no, "parcel_count": snap.parcel_count,
                     "shipped_at": snap.shipped_at},
        "lines": [{"external_id": line.external_id or None, "sku": line.sku,
                   "quantity": line.quantity} for line in snap.lines],
    })


def native_request(shop: Storefront, snap: ShipmentSnapshot) -> Request:
    """The signed callback POST."""
    body = native_body(snap)
    headers = (("Content-Type", "application/json"), ("User-Agent", USER_AGENT),
               (EVENT_HEADER, EVENT), (DELIVERY_HEADER, snap.delivery_id),
               (SIGNATURE_HEADER, signature.sign(body, shop.signing_secret)))
    return Request("POST", shop.callback_url, headers, body)


def safe_url(url: str) -> str:
    """A URL for showing (error messages): no query string, path percent-quoted."""
    return quote(url.split("?", 1)[0], safe=":/%")
