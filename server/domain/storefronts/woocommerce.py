"""WooCommerce REST API v3 order object (the body of an order.* webhook) → OrderDraft.

Money, so that validation's `sum(line_total) + shipping - discount == total` holds:

* a line's `line_total` is `total + total_tax`: gross (WooCommerce's order `total` always
  includes tax, whatever `prices_include_tax` says) and already *after* coupons;
  `unit_price` is that divided by the quantity, to 4 places. The float `price` field is
  never read;
* `shipping` is every shipping line and every fee line, each `total + total_tax`
  (fees may be negative);
* `discount` is 0, because line totals are already net of coupons; the coupon amount
  (`discount_total + discount_tax`) is kept as text in `extra["coupon_discount"]`.

WooCommerce `*_gmt` date-times carry no offset and mean UTC; they become aware UTC datetimes.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ..errors import Unprocessable
from ..carriers import method_keys
from ..orders import Address, LineDraft, OrderDraft
from ._fields import (amount, aware_datetime, element, exact_id, first_text, items, mapping,
                      quantity, require_object, text)

SOURCE = "woocommerce"
PAID_STATUSES = frozenset({"processing", "completed"})
CANCELLED_STATUSES = frozenset({"cancelled", "refunded", "failed", "trash"})
_ZERO = Decimal(0)
_UNIT = Decimal("0.0001")


def parse_order(payload: dict) -> OrderDraft:
    """A WooCommerce v3 order object as an OrderDraft.

    `paid` for status processing/completed; `cancelled` for cancelled/refunded/failed/trash;
    pending, on-hold and anything else are neither. Raises `Unprocessable` (with `field`)
    for a bad `id`, no `line_items` list, a bad line, amount or date.
    """
    payload = require_object(payload)
    external_id = exact_id(payload.get("id"), "id")
    lines = tuple(_line(element(value, f"line_items[{i}]"), i)
                  for i, value in enumerate(items(payload, "line_items", True)))
    shipping, fees, carrier = _charges(payload)
    method = _method(payload)
    status = text(payload.get("status")).lower()
    modified = payload.get("date_modified_gmt")
    coupons = amount(payload.get("discount_total"), "discount_total", _ZERO) \
        + amount(payload.get("discount_tax"), "discount_tax", _ZERO)
    return OrderDraft(
        external_id=external_id,
        ref=first_text(payload.get("number"), external_id),
        placed_at=_placed_at(payload),
        currency=text(payload.get("currency")).upper(),
        paid=status in PAID_STATUSES,
        cancelled=status in CANCELLED_STATUSES,
        ship_to=_ship_to(payload),
        lines=lines,
        payment_method=text(payload.get("payment_method")),
        note=text(payload.get("customer_note")),
        total=amount(payload.get("total"), "total"),
        shipping=shipping + fees,
        discount=_ZERO,
        carrier=carrier,
        shipping_method=method,
        source=SOURCE,
        source_updated_at=_utc(modified, "date_modified_gmt") if modified else None,
        extra={
            "status": status,
            "coupon_discount": str(coupons),
            "charges": {"shipping": str(shipping), "fees": str(fees)},
        },
    )


def event_key(payload: dict, topic: str) -> str:
    """A de-duplication key for one delivery: `<id>:<date_modified_gmt>:<topic>`.

    `X-WC-Webhook-Delivery-ID` cannot serve: it is recomputed from the webhook id and the
    current second for every delivery. The same order state sent twice gives the same key.
    """
    payload = require_object(payload)
    modified = text(payload.get("date_modified_gmt"))
    return f"{exact_id(payload.get('id'), 'id')}:{modified}:{topic}"


def _utc(value: object, field: str) -> dt.datetime:
    """A WooCommerce date-time as an aware datetime in UTC (no offset means UTC)."""
    return aware_datetime(value, field).astimezone(dt.timezone.utc)


def _placed_at(payload: dict) -> dt.datetime:
    """`date_created_gmt`; else `date_created` (site-local time, taken as UTC: approximate)."""
    if payload.get("date_created_gmt"):
        return _utc(payload["date_created_gmt"], "date_created_gmt")
    if payload.get("date_created"):
        return _utc(payload["date_created"], "date_created")
    raise Unprocessable("date_created_gmt is missing", field="date_created_gmt")


def _line(item: dict, i: int) -> LineDraft:
    where = f"line_items[{i}]"
    qty = quantity(item.get("quantity"), f"{where}.quantity")
    gross = amount(item.get("total"), f"{where}.total") \
        + amount(item.get("total_tax"), f"{where}.total_tax", _ZERO)
    unit = (gross / qty).quantize(_UNIT) if qty else gross    # qty 0 is left to validation
    return LineDraft(
        sku=text(item.get("sku")),
        quantity=qty,
        unit_price=unit,
        line_total=gross,
        name=text(item.get("name")),
        external_id=exact_id(item.get("id"), f"{where}.id"),
    )


def _charges(payload: dict) -> tuple[Decimal, Decimal, str]:
    """(shipping lines gross, fee lines gross, first shipping method title)."""
    sums = {"shipping_lines": _ZERO, "fee_lines": _ZERO}
    for key in sums:
        for i, value in enumerate(items(payload, key)):
            line = element(value, f"{key}[{i}]")
            sums[key] += amount(line.get("total"), f"{key}[{i}].total", _ZERO) \
                + amount(line.get("total_tax"), f"{key}[{i}].total_tax", _ZERO)
    carrier = next((text(mapping(s).get("method_title")) for s in items(payload, "shipping_lines")
                    if text(mapping(s).get("method_title"))), "")
    return sums["shipping_lines"], sums["fee_lines"], carrier


def _method(payload: dict) -> tuple[str, ...]:
    """The first shipping line's keys: 'method_id:instance_id' (one configured method of
    the shop, e.g. 'flat_rate:3'), then method_title, then method_id alone."""
    for value in items(payload, "shipping_lines"):
        line = mapping(value)
        mid, inst = text(line.get("method_id")), text(line.get("instance_id"))
        keys = method_keys(f"{mid}:{inst}" if mid and inst else "", line.get("method_title"),
                           mid)
        if keys:
            return keys
    return ()


def _has_place(addr: dict) -> bool:
    return any(text(addr.get(k)) for k in ("address_1", "city", "postcode", "country"))


def _person(addr: dict) -> str:
    joined = f"{text(addr.get('first_name'))} {text(addr.get('last_name'))}".strip()
    return joined or text(addr.get("company"))


def _ship_to(payload: dict) -> Address:
    """`shipping`, with `billing` standing in when there is no shipping address.

    The street/city/postcode/country block comes whole from one address, never mixed
    field by field; name and phone fall back one by one; email is the billing email.
    """
    ship = mapping(payload.get("shipping"))
    bill = mapping(payload.get("billing"))
    place = ship if _has_place(ship) else bill
    return Address(
        name=_person(ship) or _person(bill),
        phone=first_text(ship.get("phone"), bill.get("phone")),
        address1=text(place.get("address_1")),
        address2=text(place.get("address_2")),
        city=text(place.get("city")),
        postcode=text(place.get("postcode")),
        country=text(place.get("country")).upper(),
        region=text(place.get("state")),
        email=text(bill.get("email")),
    )
