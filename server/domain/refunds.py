"""Telling a storefront that a return was refunded: the HTTP requests, built from a
snapshot (pure: no I/O, no clock). The outbox (server/services/outbox.py) sends them,
retrying until acknowledged, and never twice:

- Shopify (Admin REST 2025-07): `POST orders/{id}/refunds/calculate.json` with the
  returned line items, then `POST orders/{id}/refunds.json` with the calculated
  transactions as `refund` and a note naming the RMA. Before a second try
  `GET orders/{id}/refunds.json` is asked for a refund whose note names it.
- WooCommerce (REST v3): `POST orders/{id}/refunds` with the amount, the line items and
  a reason naming the RMA (`api_refund`: the payment gateway pays it back); before a
  second try `GET orders/{id}/refunds` is asked for a refund whose reason names it.
- Native channels: one signed POST (`X-Wavepack-Event: return.refunded`, the same
  delivery id and bytes on every retry) to the callback URL.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from . import fulfilment as ful
from .money import from_minor
from .storefronts import signature

KIND_PREFIX = "refund:"          # outbox.kind of refund messages: refund:<return id>
EVENT = "return.refunded"


def kind_for(return_id: int) -> str:
    return f"{KIND_PREFIX}{return_id}"


def is_refund(kind: str) -> bool:
    return kind.startswith(KIND_PREFIX)


@dataclass(frozen=True)
class RefundLine:
    external_id: str          # the storefront's line id ('' when unknown)
    sku: str
    quantity: int
    amount_minor: int


@dataclass(frozen=True)
class RefundSnapshot:
    return_id: int
    rma: str
    order_id: int
    order_external_id: str
    order_ref: str
    currency: str
    amount_minor: int
    reason: str
    delivery_id: str
    lines: tuple[RefundLine, ...]
    # the outbox's failure path names these (shipment messages carry them)
    shipment_id: int = 0
    tracking: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> RefundSnapshot:
        raw = json.loads(text)
        raw["lines"] = tuple(RefundLine(**line) for line in raw["lines"])
        return cls(**raw)

    @property
    def amount(self) -> str:
        return from_minor(self.amount_minor, self.currency) or "0"

    @property
    def note(self) -> str:
        return f"Refund for return {self.rma} (wavepack)"


def _order(snap: RefundSnapshot) -> str:
    return ful._store_id(snap.order_external_id, "order id")


# ---------------------------------------------------------------- Shopify

def _shopify_items(snap: RefundSnapshot) -> list[dict]:
    return [{"line_item_id": int(line.external_id), "quantity": line.quantity,
             "restock_type": "no_restock"}
            for line in snap.lines if line.external_id.isdigit()]


def shopify_refunds_request(shop: ful.Storefront, snap: RefundSnapshot) -> ful.Request:
    return ful._shopify(shop, "GET", f"orders/{_order(snap)}/refunds.json")


def find_shopify_refund(snap: RefundSnapshot, answer: Any) -> str | None:
    for refund in ful._objects(answer, "refunds"):
        if snap.rma in str(refund.get("note") or ""):
            return ful._as_id(refund.get("id")) or snap.rma
    return None


def shopify_calculate_request(shop: ful.Storefront, snap: RefundSnapshot) -> ful.Request:
    return ful._shopify(shop, "POST", f"orders/{_order(snap)}/refunds/calculate.json",
                        {"refund": {"refund_line_items": _shopify_items(snap)}})


def shopify_create_request(shop: ful.Storefront, snap: RefundSnapshot,
                           calculated: Any) -> ful.Request:
    refund = calculated.get("refund") if isinstance(calculated, dict) else None
    transactions = [{"parent_id": t.get("parent_id"), "amount": t.get("amount"),
                     "kind": "refund", "gateway": t.get("gateway")}
                    for t in ful._objects(refund, "transactions")] if isinstance(refund, dict) \
        else []
    return ful._shopify(shop, "POST", f"orders/{_order(snap)}/refunds.json", {"refund": {
        "currency": snap.currency, "notify": True, "note": snap.note,
        "refund_line_items": _shopify_items(snap), "transactions": transactions}})


def shopify_created_id(answer: Any) -> str:
    refund = answer.get("refund") if isinstance(answer, dict) else None
    return ful._as_id(refund.get("id")) if isinstance(refund, dict) else ""


# ---------------------------------------------------------------- WooCommerce

def woo_refunds_request(shop: ful.Storefront, snap: RefundSnapshot) -> ful.Request:
    return ful._woo(shop, "GET", f"orders/{_order(snap)}/refunds")


def find_woo_refund(snap: RefundSnapshot, answer: Any) -> str | None:
    for refund in ful._objects(answer):
        if snap.rma in str(refund.get("reason") or ""):
            return ful._as_id(refund.get("id")) or snap.rma
    return None


def woo_create_request(shop: ful.Storefront, snap: RefundSnapshot) -> ful.Request:
    items = [{"id": int(line.external_id), "quantity": line.quantity,
              "refund_total": from_minor(line.amount_minor, snap.currency)}
             for line in snap.lines if line.external_id.isdigit()]
    return ful._woo(shop, "POST", f"orders/{_order(snap)}/refunds",
                    {"amount": snap.amount, "reason": snap.note, "api_refund": True,
                     "line_items": items})


# ---------------------------------------------------------------- native

def native_body(snap: RefundSnapshot) -> bytes:
    return ful._json({
        "event": EVENT, "delivery_id": snap.delivery_id,
        "order": {"id": snap.order_external_id, "ref": snap.order_ref},
        "return": {"id": snap.return_id, "rma": snap.rma, "reason": snap.reason},
        "refund": {"currency": snap.currency, "amount": snap.amount},
        "lines": [{"external_id": line.external_id or None, "sku": line.sku,
                   "quantity": line.quantity,
                   "amount": from_minor(line.amount_minor, snap.currency)}
                  for line in snap.lines],
    })


def native_request(shop: ful.Storefront, snap: RefundSnapshot) -> ful.Request:
    body = native_body(snap)
    headers = (("Content-Type", "application/json"), ("User-Agent", ful.USER_AGENT),
               (ful.EVENT_HEADER, EVENT), (ful.DELIVERY_HEADER, snap.delivery_id),
               (ful.SIGNATURE_HEADER, signature.sign(body, shop.signing_secret)))
    return ful.Request("POST", shop.callback_url, headers, body)
