"""Returns and refunds a storefront tells us about (pure: no I/O, no clock).

Shopify (webhook topics, REST payload shapes):
- `returns/request` (and `returns/approve`): a Return — {"id", "name", "status",
  "order": {"id"}, "return_line_items": [{"id", "quantity", "return_reason",
  "customer_note", "fulfillment_line_item": {"line_item": {"id"}}}]} → a return
  `return:<id>` the warehouse will receive (refunded through the outbox when closed);
- `refunds/create`: a Refund — {"id", "order_id", "note", "refund_line_items":
  [{"line_item_id", "quantity", "line_item": {"id", "sku"}}], "transactions"} → the
  shop already refunded: a return `refund:<id>` (nothing is sent back when it closes).
  A refund whose note names one of our RMAs is our own refund coming back: ignored.
WooCommerce: `order.updated` carries `refunds: [{"id", "reason", "total"}]` (totals only,
no lines): a refund of the whole order total becomes a return of every line; a partial
one names no lines and is left to a person (outcome only). Our own (reason names an RMA)
are ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from ._fields import amount, element, exact_id, items, mapping, quantity, text

RETURN_TOPICS = frozenset({"returns/request", "returns/approve", "refunds/create"})
OUR_RMA = re.compile(r"\bRMA[0-9]{7,}\b")


@dataclass(frozen=True)
class ReturnedLine:
    line_external_id: str     # the storefront's order line id
    quantity: int
    reason: str = ""


@dataclass(frozen=True)
class StorefrontReturn:
    external_id: str          # return:<id> | refund:<id>
    order_external_id: str
    source: str               # shopify_return | shopify_refund | woo_refund
    lines: tuple[ReturnedLine, ...]
    reason: str = ""
    ours: bool = False        # a refund we sent ourselves, coming back


def shopify_return(payload: dict) -> StorefrontReturn:
    rid = exact_id(payload.get("id"), "id")
    order = mapping(payload.get("order"))
    order_id = exact_id(order.get("id", payload.get("order_id")), "order.id")
    lines = []
    for i, raw in enumerate(items(payload, "return_line_items", required=True)):
        item = element(raw, f"return_line_items[{i}]")
        line = mapping(mapping(item.get("fulfillment_line_item")).get("line_item")) \
            or mapping(item.get("line_item"))
        lines.append(ReturnedLine(
            exact_id(line.get("id"), f"return_line_items[{i}].line_item.id"),
            quantity(item.get("quantity"), f"return_line_items[{i}].quantity"),
            text(item.get("return_reason_note")) or text(item.get("return_reason"))
            or text(item.get("customer_note"))))
    return StorefrontReturn(f"return:{rid}", order_id, "shopify_return", tuple(lines),
                            reason=text(payload.get("name")))


def shopify_refund(payload: dict) -> StorefrontReturn:
    rid = exact_id(payload.get("id"), "id")
    order_id = exact_id(payload.get("order_id"), "order_id")
    note = text(payload.get("note"))
    lines = []
    for i, raw in enumerate(items(payload, "refund_line_items")):
        item = element(raw, f"refund_line_items[{i}]")
        line_id = item.get("line_item_id", mapping(item.get("line_item")).get("id"))
        lines.append(ReturnedLine(exact_id(line_id, f"refund_line_items[{i}].line_item_id"),
                                  quantity(item.get("quantity"),
                                           f"refund_line_items[{i}].quantity")))
    return StorefrontReturn(f"refund:{rid}", order_id, "shopify_refund", tuple(lines),
                            reason=note, ours=bool(OUR_RMA.search(note)))


def woo_refunds(payload: dict) -> list[StorefrontReturn]:
    """The refunds of a WooCommerce order view; only a refund of the whole order names
    its lines (every line, whole)."""
    order_id = exact_id(payload.get("id"), "id")
    total = amount(payload.get("total"), "total", Decimal(0))
    out = []
    for i, raw in enumerate(items(payload, "refunds")):
        refund = element(raw, f"refunds[{i}]")
        reason = text(refund.get("reason"))
        whole = total > 0 and abs(amount(refund.get("total"), f"refunds[{i}].total",
                                         Decimal(0))) >= total
        lines = tuple(ReturnedLine(exact_id(element(li, "line_items").get("id"), "line_items.id"),
                                   quantity(li.get("quantity"), "line_items.quantity"))
                      for li in items(payload, "line_items")) if whole else ()
        out.append(StorefrontReturn(f"refund:{exact_id(refund.get('id'), f'refunds[{i}].id')}",
                                    order_id, "woo_refund", lines, reason=reason,
                                    ours=bool(OUR_RMA.search(reason))))
    return out
